//! The filesystem sink: one JSON file per record under `.events/`, where
//! `store::layout` says it goes (day folders, `invalid/`, the `.ids/` index).
//!
//! Exactly once: a record is written to an anonymous file (`O_TMPFILE`, so a
//! killed process leaves nothing behind), then hard-linked into the id index.
//! `link(2)` fails with EEXIST when the id is already there, which makes the
//! link the atomic claim of the id across any number of concurrent hooks;
//! only the winner links the record into its day folder. An event seen
//! again (another hook, a replay) finds its id taken and is reported as
//! already present, even when its observed time, and so its file name, would
//! differ. A crash between the two links is repaired by the next sighting.
//!
//! Between the two links the winner appends the record to the arrival
//! journal (`store::journal`), which followers read. The winner holds an
//! `flock` on the record from before its claim until its dated link, so a
//! sighting that finds the dated link missing repairs (and journals) only
//! a record whose writer is gone, never one still being stored.
//!
//! Safety: every directory under the events directory is opened with
//! `O_NOFOLLOW` relative to its parent's descriptor, so a symlink planted as
//! `.events`, a day folder or `invalid/` is refused, never followed; `link`
//! never replaces or follows what is at the target name. Files are created
//! with the project directory's permission bits (never wider), minus umask.
//! Records are not fsynced: a killed process loses nothing already linked;
//! a power cut may lose the last records (the OTLP spool is the durable path).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, CWD, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::enrich::Record;
use crate::error::{Context, Error, Result};
use crate::store::dirs::{dir_error, open_dir, open_root};
use crate::store::journal;
use crate::store::layout::{self, ID_INDEX, JOURNAL, TEMP};

/// What storing a record did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// Written, at this path relative to the events directory.
    New(PathBuf),
    /// Its id was already stored.
    Present,
}

pub struct FsSink {
    path: PathBuf,
    root: OwnedFd,
    dirs: HashMap<String, OwnedFd>,
    dir_mode: Mode,
    file_mode: Mode,
    anonymous_temp: bool,
    /// The arrival journal, opened for appending on the first new record.
    journal: Option<OwnedFd>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl FsSink {
    /// Opens (creating if needed) the events directory `path`. Its parent may
    /// be reached through symlinks (the user's choice); `path` itself may not.
    pub fn open(path: &Path) -> Result<FsSink> {
        let (root, dir_mode) = open_root(path)?;
        let file_mode = Mode::from_raw_mode(dir_mode.as_raw_mode() & 0o666);
        Ok(FsSink {
            path: path.to_path_buf(),
            root,
            dirs: HashMap::new(),
            dir_mode,
            file_mode,
            anonymous_temp: cfg!(target_os = "linux"),
            journal: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores one record, exactly once per id.
    pub fn store(&mut self, record: &Record) -> Result<Stored> {
        let mut bytes = serde_json::to_vec_pretty(record)?;
        bytes.push(b'\n');
        let id = record.id.to_string();
        let id_dir = layout::id_bucket(&id);
        let id_name = layout::id_entry(&id);
        let day_dir = layout::day_dir(record);
        let file_name = layout::file_name(record);

        self.dir(&id_dir)?;
        // Most sightings of a known event (the report seen by two hooks, a
        // replay) end here, without writing anything. The link below stays
        // the claim: this is only a shortcut for ids already taken.
        if let Ok(st) = rustix::fs::statat(
            &self.dirs[&id_dir],
            id_name.as_str(),
            AtFlags::SYMLINK_NOFOLLOW,
        ) {
            if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
            {
                if st.st_nlink < 2 {
                    self.repair(&id_dir, &id_name)?;
                }
                return Ok(Stored::Present);
            }
        }
        // The claim, locked until the dated link is made (see above).
        let Some(claimed) = self.write_linked(&bytes, &id_dir, &id_name)? else {
            self.repair(&id_dir, &id_name)?;
            return Ok(Stored::Present);
        };
        self.journal(false, &day_dir, &file_name)?;
        self.dir(&day_dir)?;
        self.link_dated(&id_dir, &id_name, &day_dir, &file_name)?;
        drop(claimed);
        Ok(Stored::New(Path::new(&day_dir).join(file_name)))
    }

    /// Appends a record to the arrival journal. A failure leaves the
    /// record claimed without its dated link, which the next sighting
    /// repairs, journal entry included.
    fn journal(&mut self, repair: bool, day_dir: &str, file_name: &str) -> Result<()> {
        let shown = format!(
            "appending to {}/{JOURNAL}/{}",
            self.path.display(),
            journal::ARRIVALS
        );
        if self.journal.is_none() {
            self.dir(JOURNAL)?;
            let fd = journal::open_for_append(&self.dirs[JOURNAL], self.file_mode).map_err(
                |e| match e {
                    Errno::INVAL | Errno::LOOP | Errno::NXIO => Error::new(format!(
                        "{shown}: not a regular file; refusing to write through it"
                    )),
                    e => Error::from(e).context(shown.clone()),
                },
            )?;
            self.journal = Some(fd);
        }
        let line = journal::Entry::line(repair, day_dir, file_name);
        let fd = self.journal.as_ref().expect("opened above");
        journal::append(fd, &line).map_err(|e| Error::from(e).context(shown))
    }

    /// Writes `bytes` to a fresh file, locks it and links it as
    /// `dir/name`; the still locked file, or `None` when that name already
    /// exists (the id is taken).
    fn write_linked(&mut self, bytes: &[u8], dir: &str, name: &str) -> Result<Option<File>> {
        let shown = format!("writing {}/{dir}/{name}", self.path.display());
        let where_ = || shown.clone();
        if self.anonymous_temp {
            let dir_fd = &self.dirs[dir];
            match rustix::fs::openat(
                dir_fd,
                ".",
                OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
                self.file_mode,
            ) {
                Ok(fd) => {
                    let mut file = File::from(fd);
                    file.write_all(bytes).with_context(where_)?;
                    rustix::fs::flock(&file, FlockOperation::LockExclusive).with_context(where_)?;
                    let proc_path =
                        format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
                    let dir_fd = &self.dirs[dir];
                    let r = rustix::fs::linkat(
                        CWD,
                        proc_path.as_str(),
                        dir_fd,
                        name,
                        AtFlags::SYMLINK_FOLLOW,
                    )
                    .or_else(|e| match e {
                        Errno::NOENT | Errno::PERM | Errno::ACCESS => {
                            rustix::fs::linkat(&file, "", dir_fd, name, AtFlags::EMPTY_PATH)
                        }
                        e => Err(e),
                    });
                    return match r {
                        Ok(()) => Ok(Some(file)),
                        Err(Errno::EXIST) => Ok(None),
                        Err(e) => Err(Error::from(e).context(where_())),
                    };
                }
                // Filesystems without O_TMPFILE: fall back to a named temp file.
                Err(Errno::OPNOTSUPP | Errno::INVAL | Errno::ISDIR | Errno::NOSYS) => {
                    self.anonymous_temp = false
                }
                Err(e) => return Err(Error::from(e).context(where_())),
            }
        }
        self.dir(TEMP)?;
        let tmp = format!(
            ".{}-{}-{}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos()
        );
        let tmp_fd = &self.dirs[TEMP];
        let fd = rustix::fs::openat(
            tmp_fd,
            tmp.as_str(),
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            self.file_mode,
        )
        .with_context(where_)?;
        let mut file = File::from(fd);
        let written = file
            .write_all(bytes)
            .and_then(|()| Ok(rustix::fs::flock(&file, FlockOperation::LockExclusive)?));
        let r = written.map_err(Error::from).and_then(|()| {
            match rustix::fs::linkat(
                tmp_fd,
                tmp.as_str(),
                &self.dirs[dir],
                name,
                AtFlags::empty(),
            ) {
                Ok(()) => Ok(Some(file)),
                Err(Errno::EXIST) => Ok(None),
                Err(e) => Err(Error::from(e)),
            }
        });
        let _ = rustix::fs::unlinkat(tmp_fd, tmp.as_str(), AtFlags::empty());
        r.with_context(where_)
    }

    fn link_dated(
        &mut self,
        id_dir: &str,
        id_name: &str,
        day_dir: &str,
        file_name: &str,
    ) -> Result<()> {
        match rustix::fs::linkat(
            &self.dirs[id_dir],
            id_name,
            &self.dirs[day_dir],
            file_name,
            AtFlags::empty(),
        ) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                let ours =
                    rustix::fs::statat(&self.dirs[id_dir], id_name, AtFlags::SYMLINK_NOFOLLOW)?;
                let theirs =
                    rustix::fs::statat(&self.dirs[day_dir], file_name, AtFlags::SYMLINK_NOFOLLOW)?;
                if (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino) {
                    Ok(())
                } else {
                    Err(Error::new(format!(
                        "{}/{day_dir}/{file_name} exists and is not this record; left as it is (the record is in {ID_INDEX}/)",
                        self.path.display()
                    )))
                }
            }
            Err(e) => Err(Error::from(e).context(format!(
                "linking {}/{day_dir}/{file_name}",
                self.path.display()
            ))),
        }
    }

    /// The id is stored: make sure its dated link exists too (a process
    /// killed between the two links leaves only the id entry).
    fn repair(&mut self, id_dir: &str, id_name: &str) -> Result<()> {
        let fd = rustix::fs::openat(
            &self.dirs[id_dir],
            id_name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )?;
        let stat = rustix::fs::fstat(&fd)?;
        if stat.st_nlink >= 2 {
            return Ok(());
        }
        // Its writer still holds the lock: it is being stored right now.
        match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Err(Errno::WOULDBLOCK) => return Ok(()),
            r => r?,
        }
        let mut text = Vec::new();
        // Kept open (and locked) until the dated link is made.
        let locked = File::from(fd);
        (&locked).take(64 << 20).read_to_end(&mut text)?;
        let stored: Record = serde_json::from_slice(&text)
            .with_context(|| format!("reading {}/{id_dir}/{id_name}", self.path.display()))?;
        let day_dir = layout::day_dir(&stored);
        let file_name = layout::file_name(&stored);
        self.journal(true, &day_dir, &file_name)?;
        self.dir(&day_dir)?;
        self.link_dated(id_dir, id_name, &day_dir, &file_name)?;
        drop(locked);
        Ok(())
    }

    /// Opens (creating) a directory below the root, one component at a time,
    /// never following a symlink.
    fn dir(&mut self, rel: &str) -> Result<()> {
        if self.dirs.contains_key(rel) {
            return Ok(());
        }
        let (parent, name) = match rel.rsplit_once('/') {
            Some((p, n)) => {
                self.dir(p)?;
                (Some(p), n)
            }
            None => (None, rel),
        };
        let parent_fd = match parent {
            Some(p) => self.dirs[p].as_fd(),
            None => self.root.as_fd(),
        };
        let fd = open_dir(parent_fd, name, self.dir_mode)
            .map_err(|e| dir_error(e, &format!("{}/{rel}", self.path.display())))?;
        self.dirs.insert(rel.to_string(), fd);
        Ok(())
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::input::Source;

    /// A record of id `id` at `ts`, a dead letter unless `valid`.
    pub(crate) fn record(id: u128, ts: &str, valid: bool) -> Record {
        Record {
            id: uuid::Uuid::from_u128(id),
            name: Some("a.b".into()),
            timestamp: ts.into(),
            observed_timestamp: ts.into(),
            attributes: Default::default(),
            trace_id: "0".repeat(32),
            span_id: "0".repeat(16),
            parent_span_id: None,
            source: Source::default(),
            given_id: None,
            raw: None,
            errors: if valid {
                vec![]
            } else {
                vec![crate::validate::Problem::new("schema", "", "no")]
            },
            caused_by: None,
        }
    }

    #[test]
    fn stores_once_per_id_even_with_another_time() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join(".events");
        let mut sink = FsSink::open(&events).unwrap();
        let first = sink
            .store(&record(1, "2025-08-12T16:30:00.000Z", true))
            .unwrap();
        assert_eq!(
            first,
            Stored::New(
                "2025-08-12/20250812T163000.000Z-a.b-00000000-0000-0000-0000-000000000001.json"
                    .into()
            )
        );
        assert_eq!(
            sink.store(&record(1, "2025-08-13T00:00:00.000Z", true))
                .unwrap(),
            Stored::Present
        );
        assert!(!events.join("2025-08-13").exists());
        let text = std::fs::read_to_string(events.join(match first {
            Stored::New(p) => p,
            _ => unreachable!(),
        }))
        .unwrap();
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn dead_letters_go_under_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FsSink::open(&dir.path().join(".events")).unwrap();
        let Stored::New(p) = sink
            .store(&record(2, "2025-08-12T16:30:00.000Z", false))
            .unwrap()
        else {
            panic!()
        };
        assert!(p.starts_with("invalid/2025-08-12"));
    }

    #[test]
    fn refuses_a_symlinked_events_dir() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.path().join(".events")).unwrap();
        let err = FsSink::open(&dir.path().join(".events")).err().unwrap();
        assert!(
            err.to_string().contains("refusing to write through it"),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_symlinked_day_folder() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join(".events");
        std::fs::create_dir(&events).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, events.join("2025-08-12")).unwrap();
        let mut sink = FsSink::open(&events).unwrap();
        let err = sink
            .store(&record(3, "2025-08-12T16:30:00.000Z", true))
            .unwrap_err();
        assert!(err.to_string().contains("refusing"), "{err}");
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    }

    #[test]
    fn repairs_a_missing_dated_link() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join(".events");
        let mut sink = FsSink::open(&events).unwrap();
        let r = record(4, "2025-08-12T16:30:00.000Z", true);
        let Stored::New(p) = sink.store(&r).unwrap() else {
            panic!()
        };
        std::fs::remove_file(events.join(&p)).unwrap();
        assert_eq!(sink.store(&r).unwrap(), Stored::Present);
        assert!(events.join(&p).exists());
    }

    #[test]
    fn named_temp_fallback_works_too() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join(".events");
        let mut sink = FsSink::open(&events).unwrap();
        sink.anonymous_temp = false;
        assert!(matches!(
            sink.store(&record(5, "2025-08-12T16:30:00.000Z", true))
                .unwrap(),
            Stored::New(_)
        ));
        assert_eq!(
            sink.store(&record(5, "2025-08-12T16:30:00.000Z", true))
                .unwrap(),
            Stored::Present
        );
        assert_eq!(std::fs::read_dir(events.join(TEMP)).unwrap().count(), 0);
    }
}
