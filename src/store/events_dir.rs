//! The events directory as a reader sees it: day folders of valid records,
//! `invalid/` day folders of dead letters, and the files in each. Dot
//! entries (`.ids`, `.tmp`, anything else `.`-prefixed) are not records and
//! are never listed; anything else that does not belong is reported.

use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType};
use rustix::io::Errno;

use super::file_name::FileName;
use super::layout::{self, ID_INDEX, INVALID, TEMP, is_day};
use super::problems::Problems;
use super::reader;
use crate::enrich::Record;
use crate::error::{Context, Error, Result};

/// Valid records or dead letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Valid,
    Invalid,
}

/// Which kinds a command reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Valid,
    Invalid,
    Both,
}

impl Scope {
    pub fn kinds(self) -> &'static [Kind] {
        match self {
            Scope::Valid => &[Kind::Valid],
            Scope::Invalid => &[Kind::Invalid],
            Scope::Both => &[Kind::Valid, Kind::Invalid],
        }
    }
}

/// One day folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Day {
    pub kind: Kind,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub path: PathBuf,
}

impl Day {
    /// The folder relative to the events directory: `YYYY-MM-DD` or
    /// `invalid/YYYY-MM-DD`.
    pub fn rel(&self) -> String {
        layout::kind_day_dir(self.kind, &self.date)
    }
}

/// Where a record file is: a folder relative to the events directory and
/// a name in it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Located {
    pub dir: String,
    pub name: String,
}

/// The events directory, held open: everything below it is reached from
/// this descriptor (see `reader`).
pub struct EventsDir {
    path: PathBuf,
    root: OwnedFd,
}

impl EventsDir {
    /// Opens `path`; `Ok(None)` when it does not exist (nothing stored yet).
    /// A symlink planted as the events directory is refused.
    pub fn open(path: &Path) -> Result<Option<EventsDir>> {
        Ok(reader::open_root(path)?.map(|root| EventsDir {
            path: path.to_path_buf(),
            root,
        }))
    }

    /// Where the day folders of `kind` are (for messages).
    pub fn kind_root(&self, kind: Kind) -> PathBuf {
        match kind {
            Kind::Valid => self.path.clone(),
            Kind::Invalid => self.path.join(INVALID),
        }
    }

    /// Opens the folder `rel` below the events directory, never through a
    /// symlink.
    pub fn open_dir(&self, rel: &str) -> rustix::io::Result<OwnedFd> {
        reader::open_dir(&self.root, rel)
    }

    /// The day folders of `kind`, oldest first.
    pub fn days(&self, kind: Kind, problems: &mut Problems) -> Vec<Day> {
        let root = self.kind_root(kind);
        let listed = match kind {
            Kind::Valid => reader::entries(&self.root),
            Kind::Invalid => match self.open_dir(INVALID) {
                Ok(fd) => reader::entries(&fd),
                Err(Errno::NOENT) => return Vec::new(),
                Err(e) => {
                    problems.skip(&root, &reader::dir_problem(e));
                    return Vec::new();
                }
            },
        };
        let entries = match listed {
            Ok(e) => e,
            Err(e) => {
                problems.skip(&root, &std::io::Error::from(e).to_string());
                return Vec::new();
            }
        };
        let mut days = Vec::new();
        for entry in entries {
            let shown = || root.join(std::ffi::OsStr::from_bytes(&entry.name));
            let Some(name) = entry.name_str() else {
                problems.skip(&shown(), "not a day folder");
                continue;
            };
            if name.starts_with('.') || (kind == Kind::Valid && name == INVALID) {
                continue;
            }
            if !is_day(name) || !entry.is_dir() {
                problems.skip(&shown(), "not a day folder (YYYY-MM-DD)");
                continue;
            }
            days.push(Day {
                kind,
                date: name.to_string(),
                path: root.join(name),
            });
        }
        days.sort_by(|a, b| a.date.cmp(&b.date));
        days
    }

    /// The record files of a day folder, in file name (time) order. Files
    /// whose name is not a record's are reported.
    pub fn files(&self, day: &Day, problems: &mut Problems) -> Vec<FileName> {
        let listed = self
            .open_dir(&day.rel())
            .and_then(|fd| reader::entries(&fd));
        let entries = match listed {
            Ok(e) => e,
            Err(e) => {
                problems.skip(&day.path, &reader::dir_problem(e));
                return Vec::new();
            }
        };
        let mut files = Vec::new();
        for entry in entries {
            match entry.name_str() {
                Some(n) if n.starts_with('.') => {}
                Some(n) => match FileName::parse(n) {
                    Some(f) => files.push(f),
                    None => problems.skip(&day.path.join(n), "not a record file name"),
                },
                None => problems.skip(
                    &day.path.join(std::ffi::OsStr::from_bytes(&entry.name)),
                    "not a record file name",
                ),
            }
        }
        files.sort();
        files
    }

    /// Opens a day folder for reading its files by name.
    pub fn open_day(&self, day: &Day) -> Result<OwnedFd> {
        self.open_dir(&day.rel())
            .map_err(|e| Error::new(reader::dir_problem(e)))
            .with_context(|| day.path.display().to_string())
    }

    /// The id index entry of a record id (for messages).
    pub fn id_path(&self, id: &str) -> PathBuf {
        self.path
            .join(layout::id_bucket(id))
            .join(layout::id_entry(id))
    }

    /// The records whose id starts with `prefix` (lower-case hex and `-`),
    /// as (id, where): from the id index, else (an index entry gone) from
    /// the day folders' file names.
    pub fn find(&self, prefix: &str) -> Vec<(String, Located)> {
        let mut found = self.in_index(prefix);
        if found.is_empty() {
            found = self.in_day_folders(prefix);
        }
        found.sort();
        found.dedup_by(|a, b| a.0 == b.0);
        found
    }

    fn in_index(&self, prefix: &str) -> Vec<(String, Located)> {
        let buckets: Vec<String> = if prefix.len() >= 2 {
            vec![layout::id_bucket(prefix)]
        } else {
            let Ok(index) = self.open_dir(ID_INDEX) else {
                return Vec::new();
            };
            reader::entries(&index)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|e| e.name_str().map(str::to_string))
                .filter(|n| n.starts_with(prefix) && !n.starts_with('.'))
                .map(|n| format!("{ID_INDEX}/{n}"))
                .collect()
        };
        let mut out = Vec::new();
        for bucket in buckets {
            let Ok(fd) = self.open_dir(&bucket) else {
                continue;
            };
            for e in reader::entries(&fd).unwrap_or_default() {
                let Some(name) = e.name_str() else { continue };
                if let Some(id) = name.strip_suffix(".json") {
                    if id.starts_with(prefix) {
                        out.push((
                            id.to_string(),
                            Located {
                                dir: bucket.clone(),
                                name: name.to_string(),
                            },
                        ));
                    }
                }
            }
        }
        out
    }

    fn in_day_folders(&self, prefix: &str) -> Vec<(String, Located)> {
        let mut problems = Problems::quiet();
        let mut out = Vec::new();
        for kind in [Kind::Valid, Kind::Invalid] {
            for day in self.days(kind, &mut problems) {
                for f in self.files(&day, &mut problems) {
                    if f.id().starts_with(prefix) {
                        out.push((
                            f.id().to_string(),
                            Located {
                                dir: day.rel(),
                                name: f.as_str().to_string(),
                            },
                        ));
                    }
                }
            }
        }
        out
    }

    /// Where a located record is (for messages).
    pub fn shown(&self, at: &Located) -> PathBuf {
        self.path.join(&at.dir).join(&at.name)
    }

    /// Reads and parses the record at `at` through the one hardened reader.
    pub fn load(&self, at: &Located) -> std::result::Result<Record, String> {
        let dir = self.open_dir(&at.dir).map_err(reader::dir_problem)?;
        reader::load_record(&dir, &at.name)
    }

    /// Where the record's dated link is, when it is there (a regular file).
    pub fn dated_path(&self, r: &Record) -> Option<PathBuf> {
        let dir = layout::day_dir(r);
        let name = layout::file_name(r);
        let fd = self.open_dir(&dir).ok()?;
        let st = rustix::fs::statat(&fd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW).ok()?;
        (FileType::from_raw_mode(st.st_mode) == FileType::RegularFile)
            .then(|| self.path.join(dir).join(name))
    }

    /// Deletes a record: its dated file in `day` (opened as above), then
    /// its id index entry when that is the same file. A crash in between
    /// leaves the id entry, which the sink re-links on the next sighting:
    /// nothing is half-deleted for good. Gone already is not an error.
    pub fn delete(&self, day: &OwnedFd, day_shown: &Path, file: &FileName) -> Result<()> {
        let shown = || format!("cannot delete {}", day_shown.join(file.as_str()).display());
        let st = match rustix::fs::statat(day, file.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(Error::from(e).context(shown())),
        };
        rustix::fs::unlinkat(day, file.as_str(), AtFlags::empty())
            .map_err(|e| Error::from(e).context(shown()))?;
        let id = file.id();
        let Ok(bucket) = self.open_dir(&layout::id_bucket(id)) else {
            return Ok(());
        };
        let entry = layout::id_entry(id);
        if let Ok(ours) = rustix::fs::statat(&bucket, entry.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            if (ours.st_dev, ours.st_ino) == (st.st_dev, st.st_ino) {
                rustix::fs::unlinkat(&bucket, entry.as_str(), AtFlags::empty()).map_err(|e| {
                    Error::from(e).context(format!("cannot delete {}", self.id_path(id).display()))
                })?;
            }
        }
        Ok(())
    }

    /// How many entries a day folder holds (0 when it cannot be read).
    pub fn entries_in(&self, day: &Day) -> usize {
        self.open_day(day)
            .ok()
            .and_then(|fd| reader::entries(&fd).ok())
            .map_or(0, |e| e.len())
    }

    /// Removes a day folder if it is empty; whether it did.
    pub fn remove_day_if_empty(&self, day: &Day) -> bool {
        let parent = match day.kind {
            Kind::Valid => self.open_dir("."),
            Kind::Invalid => self.open_dir(INVALID),
        };
        parent
            .is_ok_and(|p| rustix::fs::unlinkat(&p, day.date.as_str(), AtFlags::REMOVEDIR).is_ok())
    }

    /// Deletes (or, with `dry_run`, counts) the regular files in the temp
    /// folder last changed more than `age` ago. A temp folder that is a
    /// symlink is reported and left alone: nothing outside is touched.
    pub fn stale_temps(&self, age: Duration, dry_run: bool, problems: &mut Problems) -> usize {
        let dir = match self.open_dir(TEMP) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return 0,
            Err(e) => {
                problems.skip(&self.path.join(TEMP), &reader::dir_problem(e));
                return 0;
            }
        };
        let now = SystemTime::now();
        let mut n = 0;
        for e in reader::entries(&dir).unwrap_or_default() {
            if e.file_type != FileType::RegularFile {
                continue;
            }
            let Ok(st) = rustix::fs::statat(&dir, e.name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
            else {
                continue;
            };
            let modified = UNIX_EPOCH + Duration::from_secs(st.st_mtime.max(0) as u64);
            let stale = now.duration_since(modified).is_ok_and(|a| a > age);
            if stale
                && (dry_run
                    || rustix::fs::unlinkat(&dir, e.name.as_slice(), AtFlags::empty()).is_ok())
            {
                n += 1;
            }
        }
        n
    }
}
