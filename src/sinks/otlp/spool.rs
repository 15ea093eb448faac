//! The spool: OTLP export requests not yet confirmed by the collector, kept
//! on disk so a collector outage loses nothing.
//!
//! Layout, under the events directory:
//! ```text
//! .events/.spool/<unix ms>-<pid>-<seq>.<items>.<logs|traces>.pb   one encoded request each
//! .events/.spool/.lock          flock held by the one process that sends
//! .events/.spool/state.json     counters and circuit breaker (see SpoolState)
//! .events/.spool/spans/<id>     claims: each span is exported once
//! .events/.spool/rejected/      requests the collector refused as malformed, kept for inspection
//! .events/.spool/dropped.jsonl  one line per request not spooled because the spool was full
//! ```
//! A request file holds the exact bytes of an `ExportLogsServiceRequest` or
//! `ExportTraceServiceRequest`, as sent on the wire. It is written before
//! the request is sent (temp file, rename) and removed once the collector
//! accepted it: at least once, and never again after an acceptance. What is
//! still in the spool when a hook returns has been fsynced (file, then
//! directory); a request the collector took at once is never fsynced, so the
//! common case pays no disk flush. A killed process loses nothing either way
//! (the file is written before sending); only a power cut during the send
//! could lose a request, and its events are then still in `.events/`. Requests of one signal concatenate into one valid
//! request (protobuf merges repeated fields), which is how draining batches
//! them. Dot-files are temporary and ignored by readers.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use super::protocol::Signal;
use super::spool_state::SpoolState;
use crate::error::{Context, Error, Result};
use crate::store::dirs::{dir_error, open_dir};

pub const SPOOL_DIR: &str = crate::store::layout::SPOOL;
pub const REJECTED: &str = "rejected";
pub const DROPPED: &str = "dropped.jsonl";
const SPANS: &str = "spans";
/// The spool and its folders are the user's alone: they hold requests
/// with the events' contents.
const SPOOL_MODE: Mode = Mode::from_raw_mode(0o700);
const STATE: &str = "state.json";
const LOCK: &str = ".lock";
const TEMP_PREFIX: &str = ".tmp-";

/// A spooled request larger than this is set aside unread. This tool's
/// requests are a few kilobytes; the cap bounds what a planted file costs.
pub const MAX_FILE_BYTES: u64 = 8 << 20;

static SEQ: AtomicU64 = AtomicU64::new(0);

/// One spooled request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub signal: Signal,
    /// Events or spans it holds.
    pub items: u64,
    pub bytes: u64,
}

impl Entry {
    /// Parses `<stamp>.<items>.<signal>.pb`; None for anything else.
    pub fn parse(name: &str, bytes: u64) -> Option<Entry> {
        if name.starts_with('.') {
            return None;
        }
        let mut parts = name.rsplitn(4, '.');
        let (ext, signal, items, _stamp) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if ext != "pb" {
            return None;
        }
        let signal = match signal {
            "logs" => Signal::Logs,
            "traces" => Signal::Traces,
            _ => return None,
        };
        Some(Entry {
            name: name.to_string(),
            signal,
            items: items.parse().ok()?,
            bytes,
        })
    }
}

pub struct Spool {
    path: PathBuf,
    dir: OwnedFd,
}

/// Held while sending; dropping it lets the next process send.
pub struct DrainLock {
    _fd: OwnedFd,
}

impl Spool {
    /// Opens (creating) `<events_dir>/.spool`. Like the file sink, it never
    /// follows a symlink at the events directory or below.
    pub fn open(events_dir: &Path) -> Result<Spool> {
        let parent = match events_dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = events_dir.file_name().ok_or_else(|| {
            Error::new(format!(
                "events directory {} has no name",
                events_dir.display()
            ))
        })?;
        let path = events_dir.join(SPOOL_DIR);
        let shown = path.display().to_string();
        let parent_fd = rustix::fs::open(
            parent,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("opening {}", parent.display()))?;
        let events = open_dir(&parent_fd, name, SPOOL_MODE).map_err(|e| dir_error(e, &shown))?;
        let dir = open_dir(&events, SPOOL_DIR, SPOOL_MODE).map_err(|e| dir_error(e, &shown))?;
        Ok(Spool { path, dir })
    }

    /// Opens an existing spool; None when there is none.
    pub fn existing(events_dir: &Path) -> Result<Option<Spool>> {
        let path = events_dir.join(SPOOL_DIR);
        match rustix::fs::open(
            &path,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        ) {
            Ok(dir) => Ok(Some(Spool { path, dir })),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(dir_error(e, &path.display().to_string())),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one request (atomically: temp file and rename) and counts it
    /// in the state. With `durable` the file and the directory are fsynced
    /// before this returns; otherwise call `sync` for what must stay.
    pub fn write(&self, signal: Signal, items: u64, bytes: &[u8], durable: bool) -> Result<Entry> {
        let name = format!(
            "{:013}-{}-{}.{items}.{}.pb",
            now_ms(),
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            signal.name()
        );
        let tmp = format!("{TEMP_PREFIX}{name}");
        let shown = || format!("writing {}/{name}", self.path.display());
        let fd = rustix::fs::openat(
            &self.dir,
            tmp.as_str(),
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .with_context(shown)?;
        let mut file = File::from(fd);
        let written = file
            .write_all(bytes)
            .map_err(Error::from)
            .and_then(|()| match durable {
                true => rustix::fs::fdatasync(&file).map_err(Error::from),
                false => Ok(()),
            })
            .and_then(|()| {
                rustix::fs::renameat(&self.dir, tmp.as_str(), &self.dir, name.as_str())
                    .map_err(Error::from)
            });
        if let Err(e) = written {
            let _ = rustix::fs::unlinkat(&self.dir, tmp.as_str(), AtFlags::empty());
            return Err(e.context(shown()));
        }
        if durable {
            rustix::fs::fsync(&self.dir).with_context(shown)?;
        }
        let len = bytes.len() as u64;
        self.update_state(|s| {
            s.files += 1;
            s.bytes += len;
        })?;
        Ok(Entry {
            name,
            signal,
            items,
            bytes: len,
        })
    }

    /// Makes written entries durable: each file, then the directory once.
    pub fn sync(&self, entries: &[&Entry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        for e in entries {
            let fd = rustix::fs::openat(
                &self.dir,
                e.name.as_str(),
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .with_context(|| format!("syncing {}/{}", self.path.display(), e.name))?;
            rustix::fs::fdatasync(&fd)
                .with_context(|| format!("syncing {}/{}", self.path.display(), e.name))?;
        }
        rustix::fs::fsync(&self.dir).with_context(|| format!("syncing {}", self.path.display()))
    }

    pub fn read(&self, e: &Entry) -> Result<Vec<u8>> {
        let fd = rustix::fs::openat(
            &self.dir,
            e.name.as_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )
        .with_context(|| format!("reading {}/{}", self.path.display(), e.name))?;
        let mut bytes = Vec::with_capacity(e.bytes as usize);
        File::from(fd)
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {}/{}", self.path.display(), e.name))?;
        Ok(bytes)
    }

    /// Forgets requests the collector accepted.
    pub fn remove(&self, entries: &[Entry]) -> Result<()> {
        let (mut files, mut bytes) = (0, 0);
        let mut first_error = None;
        for e in entries {
            match rustix::fs::unlinkat(&self.dir, e.name.as_str(), AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {
                    files += 1;
                    bytes += e.bytes;
                }
                Err(err) => {
                    first_error.get_or_insert(Error::from(err).context(format!(
                        "removing {}/{} (it may be sent again)",
                        self.path.display(),
                        e.name
                    )));
                }
            }
        }
        self.update_state(|s| {
            s.files = s.files.saturating_sub(files);
            s.bytes = s.bytes.saturating_sub(bytes);
        })?;
        first_error.map_or(Ok(()), Err)
    }

    /// Sets a refused request aside in `rejected/`.
    pub fn reject(&self, e: &Entry) -> Result<()> {
        let rejected = open_dir(&self.dir, REJECTED, SPOOL_MODE)
            .map_err(|err| dir_error(err, &format!("{}/{REJECTED}", self.path.display())))?;
        rustix::fs::renameat(&self.dir, e.name.as_str(), &rejected, e.name.as_str())
            .with_context(|| format!("moving {} to {REJECTED}/", e.name))?;
        self.update_state(|s| {
            s.files = s.files.saturating_sub(1);
            s.bytes = s.bytes.saturating_sub(e.bytes);
        })?;
        Ok(())
    }

    /// Files in `rejected/`.
    pub fn rejected_count(&self) -> usize {
        match rustix::fs::openat(
            &self.dir,
            REJECTED,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => rustix::fs::Dir::read_from(&fd)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .filter(|e| !e.file_name().to_bytes().starts_with(b"."))
                        .count()
                })
                .unwrap_or(0),
            Err(_) => 0,
        }
    }

    /// Spooled requests, at most `limit` of them (in directory order, so
    /// the work is bounded), and whether that was all of them.
    pub fn entries(&self, limit: usize) -> Result<(Vec<Entry>, bool)> {
        let dir = rustix::fs::Dir::read_from(&self.dir)
            .with_context(|| format!("listing {}", self.path.display()))?;
        let mut out = Vec::new();
        for item in dir {
            let item = item.with_context(|| format!("listing {}", self.path.display()))?;
            let Ok(name) = item.file_name().to_str() else {
                continue;
            };
            if !name.ends_with(".pb") || name.starts_with('.') {
                continue;
            }
            if out.len() >= limit {
                return Ok((out, false));
            }
            let size = match rustix::fs::statat(&self.dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if st.st_mode & 0o170000 == 0o100000 => st.st_size as u64,
                _ => continue,
            };
            if let Some(e) = Entry::parse(name, size) {
                out.push(e);
            }
        }
        Ok((out, true))
    }

    /// Every spooled request, oldest first; the state counters are set from
    /// what is found.
    pub fn all_entries(&self) -> Result<Vec<Entry>> {
        let (mut all, _) = self.entries(usize::MAX)?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        self.recount(&all)?;
        Ok(all)
    }

    pub fn recount(&self, all: &[Entry]) -> Result<SpoolState> {
        let files = all.len() as u64;
        let bytes = all.iter().map(|e| e.bytes).sum();
        self.update_state(|s| {
            s.files = files;
            s.bytes = bytes;
        })
    }

    /// Takes the send lock if no other process holds it.
    pub fn try_lock(&self) -> Result<Option<DrainLock>> {
        let fd = self.lock_file()?;
        match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(DrainLock { _fd: fd })),
            Err(Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(Error::from(e).context("locking the spool")),
        }
    }

    /// Waits up to `patience` for the send lock.
    pub fn lock(&self, patience: std::time::Duration) -> Result<Option<DrainLock>> {
        let until = std::time::Instant::now() + patience;
        loop {
            if let Some(l) = self.try_lock()? {
                return Ok(Some(l));
            }
            if std::time::Instant::now() >= until {
                return Ok(None);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    fn lock_file(&self) -> Result<OwnedFd> {
        rustix::fs::openat(
            &self.dir,
            LOCK,
            OFlags::CREATE | OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .with_context(|| format!("opening {}/{LOCK}", self.path.display()))
    }

    pub fn state(&self) -> SpoolState {
        self.update_state(|_| {}).unwrap_or_default()
    }

    /// Reads, changes and writes the state under an exclusive lock of the
    /// state file (held for microseconds). A state that does not parse
    /// starts again from zero (the next listing recounts).
    pub fn update_state(&self, change: impl FnOnce(&mut SpoolState)) -> Result<SpoolState> {
        let fd = rustix::fs::openat(
            &self.dir,
            STATE,
            OFlags::CREATE | OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .with_context(|| format!("opening {}/{STATE}", self.path.display()))?;
        rustix::fs::flock(&fd, FlockOperation::LockExclusive).context("locking the spool state")?;
        let mut file = File::from(fd);
        let mut text = Vec::new();
        file.read_to_end(&mut text)
            .context("reading the spool state")?;
        let mut state: SpoolState = serde_json::from_slice(&text).unwrap_or_default();
        let before = state.clone();
        change(&mut state);
        if state != before || text.is_empty() {
            let bytes = serde_json::to_vec(&state)?;
            file.seek(SeekFrom::Start(0))
                .and_then(|_| file.write_all(&bytes))
                .and_then(|()| file.set_len(bytes.len() as u64))
                .context("writing the spool state")?;
        }
        Ok(state)
    }

    /// Claims span `id` for export; false when an earlier run claimed it.
    pub fn claim_span(&self, id: &str) -> Result<bool> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(false);
        }
        let spans = open_dir(&self.dir, SPANS, SPOOL_MODE)
            .map_err(|e| dir_error(e, &format!("{}/{SPANS}", self.path.display())))?;
        match rustix::fs::openat(
            &spans,
            id,
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(_) => Ok(true),
            Err(Errno::EXIST) => Ok(false),
            Err(e) => Err(Error::from(e).context(format!("claiming span {id}"))),
        }
    }

    /// Notes requests that were not spooled (the spool was full) and not
    /// delivered: counted in the state and listed with their ids.
    pub fn record_drop(&self, signal: Signal, ids: &[String], why: &str) -> Result<()> {
        let line = serde_json::json!({
            "time_unix_ms": now_ms(), "signal": signal.name(), "why": why, "ids": ids,
        });
        let fd = rustix::fs::openat(
            &self.dir,
            DROPPED,
            OFlags::CREATE | OFlags::WRONLY | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .with_context(|| format!("opening {}/{DROPPED}", self.path.display()))?;
        let mut text = line.to_string();
        text.push('\n');
        File::from(fd)
            .write_all(text.as_bytes())
            .with_context(|| format!("writing {}/{DROPPED}", self.path.display()))?;
        let n = ids.len() as u64;
        self.update_state(|s| {
            s.dropped_requests += 1;
            s.dropped_items += n;
        })?;
        Ok(())
    }

    /// Removes temp files older than `age` (left by a killed process).
    pub fn clean_temp(&self, age: std::time::Duration) -> usize {
        let Ok(dir) = rustix::fs::Dir::read_from(&self.dir) else {
            return 0;
        };
        let limit = (now_ms() / 1000).saturating_sub(age.as_secs()) as i64;
        let mut removed = 0;
        for item in dir.flatten() {
            let Ok(name) = item.file_name().to_str() else {
                continue;
            };
            if !name.starts_with(TEMP_PREFIX) {
                continue;
            }
            if let Ok(st) = rustix::fs::statat(&self.dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                if st.st_mtime < limit
                    && rustix::fs::unlinkat(&self.dir, name, AtFlags::empty()).is_ok()
                {
                    removed += 1;
                }
            }
        }
        removed
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spool() -> (tempfile::TempDir, Spool) {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(&dir.path().join(".events")).unwrap();
        (dir, s)
    }

    #[test]
    fn write_list_remove_keeps_counts() {
        let (_d, s) = spool();
        let a = s.write(Signal::Logs, 3, b"abc", true).unwrap();
        let b = s.write(Signal::Traces, 1, b"de", false).unwrap();
        assert_eq!(s.state().files, 2);
        assert_eq!(s.state().bytes, 5);
        s.sync(&[&b]).unwrap();
        let all = s.all_entries().unwrap();
        assert_eq!(all, vec![a.clone(), b.clone()]);
        assert_eq!(s.read(&a).unwrap(), b"abc");
        s.remove(&[a]).unwrap();
        assert_eq!((s.state().files, s.state().bytes), (1, 2));
        let (some, complete) = s.entries(0).unwrap();
        assert!(some.is_empty() && !complete);
        s.reject(&b).unwrap();
        assert_eq!(s.state().files, 0);
        assert_eq!(s.rejected_count(), 1);
    }

    #[test]
    fn one_sender_at_a_time() {
        let (_d, s) = spool();
        let held = s.try_lock().unwrap();
        assert!(held.is_some());
        assert!(s.try_lock().unwrap().is_none());
        drop(held);
        assert!(s.try_lock().unwrap().is_some());
    }

    #[test]
    fn spans_are_claimed_once() {
        let (_d, s) = spool();
        assert!(s.claim_span("00aa").unwrap());
        assert!(!s.claim_span("00aa").unwrap());
        assert!(!s.claim_span("../x").unwrap());
    }

    #[test]
    fn drops_are_counted_and_listed() {
        let (d, s) = spool();
        s.record_drop(Signal::Logs, &["id1".into(), "id2".into()], "full")
            .unwrap();
        assert_eq!(s.state().dropped_items, 2);
        let text = std::fs::read_to_string(d.path().join(".events/.spool").join(DROPPED)).unwrap();
        assert!(text.contains("id2"));
    }

    #[test]
    fn entry_names_round_trip() {
        let e = Entry::parse("0001755016200000-12-0.3.logs.pb", 9).unwrap();
        assert_eq!((e.signal, e.items), (Signal::Logs, 3));
        assert!(Entry::parse(".tmp-0-1-0.3.logs.pb", 9).is_none());
        assert!(Entry::parse("x.pb", 9).is_none());
    }
}
