//! What the dispatcher keeps under the store, `.events/.dispatch/`:
//!
//! ```text
//! .events/.dispatch/lock                  held (flock) by the running dispatcher
//! .events/.dispatch/<subscriber>/state.json  its cursor and counts (replaced whole)
//! .events/.dispatch/<subscriber>/dead/<event id>.json  its dead letters
//! .events/.dispatch/<subscriber>/disabled     why it is disabled (a 410 Gone)
//! ```
//!
//! The cursor is a follower position (`store::follow::Position`); it moves
//! past an event only once the event is delivered or dead, and the state
//! file is replaced with one `rename(2)`, so a killed dispatcher starts
//! again at the first event it had not finished. No path here is followed
//! through a symlink: a cloned repository's `.events/` may hold anything.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::enrich::Record;
use crate::enrich::enricher::format_time;
use crate::store::follow::{Follower, Position};
use crate::store::layout::DISPATCH;

/// One subscriber's durable state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    /// Just after the last event finished (delivered or dead).
    pub cursor: String,
    /// When the subscriber was first seen (its "now").
    pub created: String,
    /// Events stored before this time are passed over (`--from <time>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    pub delivered: u64,
    /// Attempts that failed and were tried again.
    pub retried: u64,
    pub dead: u64,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

impl State {
    pub fn position(&self) -> Position {
        Position::parse(&self.cursor).unwrap_or(Position::START)
    }

    pub fn error(&mut self, why: &str) {
        self.last_error = Some(super::one_line(why, 300));
        self.last_error_at = Some(format_time(chrono::Utc::now()));
    }
}

/// An event a subscriber could not take, with why.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeadLetter {
    pub subscriber: String,
    pub error: String,
    pub attempts: u32,
    pub failed_at: String,
    pub record: Record,
}

/// `.events/.dispatch/`.
#[derive(Clone, Debug)]
pub struct StateDir {
    events: PathBuf,
    root: PathBuf,
}

impl StateDir {
    pub fn new(events: &Path) -> StateDir {
        StateDir {
            events: events.to_path_buf(),
            root: events.join(DISPATCH),
        }
    }

    fn sub_dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Creates `dir` (below the events directory) and refuses any part of
    /// it that is a symlink or not a directory.
    fn ensure(&self, dir: &Path) -> std::io::Result<()> {
        let mut at = self.events.clone();
        let parts = dir.strip_prefix(&self.events).unwrap_or(dir).components();
        for part in std::iter::once(None).chain(parts.map(Some)) {
            if let Some(part) = part {
                at.push(part);
            }
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(std::io::Error::other(format!(
                        "{} is a symlink or not a directory; refusing to write through it",
                        at.display()
                    )));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    match std::fs::create_dir(&at) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub fn load(&self, name: &str) -> Option<State> {
        let path = self.sub_dir(name).join("state.json");
        let bytes = read_capped(&path, 1 << 20).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Replaces the state whole (a temp file renamed over it).
    pub fn save(&self, name: &str, state: &State) -> std::io::Result<()> {
        let dir = self.sub_dir(name);
        self.ensure(&dir)?;
        let tmp = dir.join(format!(".state-{}.tmp", std::process::id()));
        write_new(&tmp, &serde_json::to_vec_pretty(state)?)?;
        std::fs::rename(&tmp, dir.join("state.json"))
    }

    /// Creates the state of a subscriber seen for the first time, its
    /// cursor at `from`; leaves an existing state alone. True when created.
    pub fn create(&self, name: &str, state: &State) -> std::io::Result<bool> {
        let dir = self.sub_dir(name);
        if dir.join("state.json").exists() {
            return Ok(false);
        }
        self.ensure(&dir)?;
        let tmp = dir.join(format!(".new-{}.tmp", std::process::id()));
        write_new(&tmp, &serde_json::to_vec_pretty(state)?)?;
        let r = std::fs::hard_link(&tmp, dir.join("state.json"));
        let _ = std::fs::remove_file(&tmp);
        match r {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The state of each subscriber not seen before, its cursor at the end
    /// of the store now ("now" is when a config first names it).
    pub fn register(&self, names: &[&str]) -> Vec<String> {
        let mut warnings = Vec::new();
        let mut now: Option<Position> = None;
        for name in names {
            if self.sub_dir(name).join("state.json").exists() {
                continue;
            }
            let cursor = *now.get_or_insert_with(|| Follower::from_now(&self.events).position());
            let state = State {
                cursor: cursor.to_string(),
                created: format_time(chrono::Utc::now()),
                ..State::default()
            };
            if let Err(e) = self.create(name, &state) {
                warnings.push(format!("subscriber {name}: cannot keep its cursor: {e}"));
            }
        }
        warnings
    }

    /// Why the subscriber is disabled, if it is.
    pub fn disabled(&self, name: &str) -> Option<String> {
        let bytes = read_capped(&self.sub_dir(name).join("disabled"), 4096).ok()?;
        Some(String::from_utf8_lossy(&bytes).trim().to_string())
    }

    pub fn disable(&self, name: &str, why: &str) -> std::io::Result<()> {
        let dir = self.sub_dir(name);
        self.ensure(&dir)?;
        let tmp = dir.join(format!(".disabled-{}.tmp", std::process::id()));
        write_new(&tmp, format!("{}\n", super::one_line(why, 300)).as_bytes())?;
        std::fs::rename(&tmp, dir.join("disabled"))
    }

    /// True when it was disabled.
    pub fn enable(&self, name: &str) -> std::io::Result<bool> {
        match std::fs::remove_file(self.sub_dir(name).join("disabled")) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub fn add_dead(&self, letter: &DeadLetter) -> std::io::Result<()> {
        let dir = self.sub_dir(&letter.subscriber).join("dead");
        self.ensure(&dir)?;
        let tmp = dir.join(format!(".{}.tmp", letter.record.id));
        write_new(&tmp, &serde_json::to_vec_pretty(letter)?)?;
        std::fs::rename(&tmp, dir.join(format!("{}.json", letter.record.id)))
    }

    /// A subscriber's dead letters, oldest first.
    pub fn dead_letters(&self, name: &str) -> Vec<(PathBuf, DeadLetter)> {
        let dir = self.sub_dir(name).join("dead");
        if std::fs::symlink_metadata(&dir).map_or(true, |m| !m.is_dir()) {
            return Vec::new();
        }
        let mut out: Vec<(PathBuf, DeadLetter)> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter_map(|e| {
                let bytes = read_capped(&e.path(), 64 << 20).ok()?;
                Some((e.path(), serde_json::from_slice(&bytes).ok()?))
            })
            .collect();
        out.sort_by(|a, b| a.1.failed_at.cmp(&b.1.failed_at));
        out
    }

    /// Takes the dispatcher lock, or `None` when another dispatcher holds it.
    pub fn lock(&self) -> std::io::Result<Option<File>> {
        self.ensure(&self.root)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(self.root.join("lock"))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {
                let _ = file.set_len(0);
                let _ = (&file).write_all(format!("{}\n", std::process::id()).as_bytes());
                Ok(Some(file))
            }
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The process id the lock's holder wrote, when it can be read.
    pub fn lock_holder(&self) -> Option<u32> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(self.root.join("lock"))
            .ok()?;
        let mut text = String::new();
        (&file).take(32).read_to_string(&mut text).ok()?;
        text.trim().parse().ok()
    }

    /// Whether a dispatcher holds the lock now (without creating anything
    /// when there is no state folder yet).
    pub fn is_locked(&self) -> bool {
        let Ok(file) = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(self.root.join("lock"))
        else {
            return false;
        };
        matches!(
            rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockShared),
            Err(rustix::io::Errno::WOULDBLOCK)
        )
    }
}

/// Creates `path` (never through a symlink, never an existing file) with
/// `bytes`.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    f.write_all(bytes)
}

fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut buf = Vec::new();
    f.take(cap).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_keeps_an_existing_state_and_save_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateDir::new(&dir.path().join(".events"));
        let mut st = State {
            cursor: "0".into(),
            ..State::default()
        };
        assert!(s.create("a", &st).unwrap());
        st.delivered = 3;
        assert!(!s.create("a", &st).unwrap());
        assert_eq!(s.load("a").unwrap().delivered, 0);
        s.save("a", &st).unwrap();
        assert_eq!(s.load("a").unwrap(), st);
        let held = s.lock().unwrap().expect("free");
        assert!(s.is_locked());
        assert!(s.lock().unwrap().is_none(), "one holder");
        drop(held);
        assert!(!s.is_locked());
    }

    #[test]
    fn a_symlinked_state_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join(".events");
        std::fs::create_dir(&events).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, events.join(DISPATCH)).unwrap();
        let s = StateDir::new(&events);
        assert!(s.save("a", &State::default()).is_err());
        assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none());
    }
}
