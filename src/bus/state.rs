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

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use serde::{Deserialize, Serialize};

use crate::enrich::Record;
use crate::enrich::enricher::format_time;
use crate::store::follow::{Follower, Position};
use crate::store::layout::DISPATCH;
use crate::store::{dirs, reader};

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

/// `.events/.dispatch/`. Every file in it is opened relative to its
/// folder's descriptor, each folder opened from the events directory down
/// through `store::dirs` (writers) or `store::reader` (readers): never
/// through a symlink, whatever a cloned repository planted.
#[derive(Clone, Debug)]
pub struct StateDir {
    events: PathBuf,
}

/// The name of a subscriber's state file, and of its dead letters' folder.
const STATE: &str = "state.json";
const DEAD: &str = "dead";
const DISABLED: &str = "disabled";
const LOCK: &str = "lock";

impl StateDir {
    pub fn new(events: &Path) -> StateDir {
        StateDir {
            events: events.to_path_buf(),
        }
    }

    /// Opens, creating them, `.dispatch/` and the folders `parts` below it.
    fn create_dir(&self, parts: &[&str]) -> std::io::Result<OwnedFd> {
        let (root, mode) = dirs::open_root(&self.events).map_err(std::io::Error::other)?;
        let mut fd =
            dirs::open_dir(&root, DISPATCH, mode).map_err(|e| self.refused(e, DISPATCH))?;
        let mut shown = DISPATCH.to_string();
        for part in parts {
            shown = format!("{shown}/{part}");
            fd = dirs::open_dir(&fd, *part, mode).map_err(|e| self.refused(e, &shown))?;
        }
        Ok(fd)
    }

    /// Opens `.dispatch/` and the folders `parts` below it when they are
    /// there; creates nothing.
    fn existing_dir(&self, parts: &[&str]) -> Option<OwnedFd> {
        let root = reader::open_root(&self.events).ok()??;
        let rel = std::iter::once(DISPATCH)
            .chain(parts.iter().copied())
            .collect::<Vec<_>>()
            .join("/");
        reader::open_dir(&root, rel).ok()
    }

    fn refused(&self, e: rustix::io::Errno, rel: &str) -> std::io::Error {
        let shown = self.events.join(rel).display().to_string();
        std::io::Error::other(dirs::dir_error(e, &shown).to_string())
    }

    fn read(&self, parts: &[&str], name: &str) -> Option<Vec<u8>> {
        let dir = self.existing_dir(parts)?;
        let mut buf = Vec::new();
        reader::read_record(&dir, name, &mut buf).ok()?;
        Some(buf)
    }

    pub fn load(&self, name: &str) -> Option<State> {
        serde_json::from_slice(&self.read(&[name], STATE)?).ok()
    }

    /// Replaces the state whole (a temp file renamed over it).
    pub fn save(&self, name: &str, state: &State) -> std::io::Result<()> {
        let dir = self.create_dir(&[name])?;
        let tmp = format!(".state-{}.tmp", std::process::id());
        write_new(&dir, &tmp, &serde_json::to_vec_pretty(state)?)?;
        Ok(rustix::fs::renameat(&dir, tmp.as_str(), &dir, STATE)?)
    }

    /// Creates the state of a subscriber seen for the first time, its
    /// cursor at `from`; leaves an existing state alone. True when created.
    pub fn create(&self, name: &str, state: &State) -> std::io::Result<bool> {
        let dir = self.create_dir(&[name])?;
        let tmp = format!(".new-{}.tmp", std::process::id());
        write_new(&dir, &tmp, &serde_json::to_vec_pretty(state)?)?;
        let linked = rustix::fs::linkat(&dir, tmp.as_str(), &dir, STATE, AtFlags::empty());
        let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty());
        match linked {
            Ok(()) => Ok(true),
            Err(Errno::EXIST) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn has_state(&self, name: &str) -> bool {
        self.existing_dir(&[name])
            .is_some_and(|dir| rustix::fs::statat(&dir, STATE, AtFlags::SYMLINK_NOFOLLOW).is_ok())
    }

    /// The state of each subscriber not seen before, its cursor at the end
    /// of the store now ("now" is when a config first names it).
    pub fn register(&self, names: &[&str]) -> Vec<String> {
        let mut warnings = Vec::new();
        let mut now: Option<Position> = None;
        for name in names {
            if self.has_state(name) {
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
        let bytes = self.read(&[name], DISABLED)?;
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
        Some(text.trim().to_string())
    }

    pub fn disable(&self, name: &str, why: &str) -> std::io::Result<()> {
        let dir = self.create_dir(&[name])?;
        let tmp = format!(".disabled-{}.tmp", std::process::id());
        write_new(
            &dir,
            &tmp,
            format!("{}\n", super::one_line(why, 300)).as_bytes(),
        )?;
        Ok(rustix::fs::renameat(&dir, tmp.as_str(), &dir, DISABLED)?)
    }

    /// True when it was disabled.
    pub fn enable(&self, name: &str) -> std::io::Result<bool> {
        let Some(dir) = self.existing_dir(&[name]) else {
            return Ok(false);
        };
        match rustix::fs::unlinkat(&dir, DISABLED, AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub fn add_dead(&self, letter: &DeadLetter) -> std::io::Result<()> {
        let dir = self.create_dir(&[&letter.subscriber, DEAD])?;
        let tmp = format!(".{}.tmp", letter.record.id);
        write_new(&dir, &tmp, &serde_json::to_vec_pretty(letter)?)?;
        let name = format!("{}.json", letter.record.id);
        Ok(rustix::fs::renameat(
            &dir,
            tmp.as_str(),
            &dir,
            name.as_str(),
        )?)
    }

    /// Removes a dead letter (delivered at last).
    pub fn remove_dead(&self, name: &str, letter: &DeadLetter) {
        if let Some(dir) = self.existing_dir(&[name, DEAD]) {
            let file = format!("{}.json", letter.record.id);
            let _ = rustix::fs::unlinkat(&dir, file.as_str(), AtFlags::empty());
        }
    }

    /// A subscriber's dead letters, oldest first.
    pub fn dead_letters(&self, name: &str) -> Vec<DeadLetter> {
        let Some(dir) = self.existing_dir(&[name, DEAD]) else {
            return Vec::new();
        };
        let mut buf = Vec::new();
        let mut out: Vec<DeadLetter> = reader::entries(&dir)
            .into_iter()
            .flatten()
            .filter(|e| e.name.ends_with(b".json"))
            .filter_map(|e| {
                reader::read_record(&dir, OsStr::from_bytes(&e.name), &mut buf).ok()?;
                serde_json::from_slice(&buf).ok()
            })
            .collect();
        out.sort_by(|a, b| a.failed_at.cmp(&b.failed_at));
        out
    }

    /// Takes the dispatcher lock, or `None` when another dispatcher holds it.
    pub fn lock(&self) -> std::io::Result<Option<File>> {
        let dir = self.create_dir(&[])?;
        let file = File::from(rustix::fs::openat(
            &dir,
            LOCK,
            OFlags::CREATE | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )?);
        match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {
                let _ = file.set_len(0);
                let _ = (&file).write_all(format!("{}\n", std::process::id()).as_bytes());
                Ok(Some(file))
            }
            Err(Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The lock file, opened for reading when it is there.
    fn lock_file(&self) -> Option<File> {
        let dir = self.existing_dir(&[])?;
        rustix::fs::openat(
            &dir,
            LOCK,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
        .map(File::from)
    }

    /// The process id the lock's holder wrote, when it can be read.
    pub fn lock_holder(&self) -> Option<u32> {
        let file = self.lock_file()?;
        let mut text = String::new();
        (&file).take(32).read_to_string(&mut text).ok()?;
        text.trim().parse().ok()
    }

    /// Whether a dispatcher holds the lock now (without creating anything
    /// when there is no state folder yet).
    pub fn is_locked(&self) -> bool {
        self.lock_file().is_some_and(|file| {
            matches!(
                rustix::fs::flock(&file, FlockOperation::NonBlockingLockShared),
                Err(Errno::WOULDBLOCK)
            )
        })
    }
}

/// Creates `name` in `dir` (never through a symlink, never an existing
/// file) with `bytes`.
fn write_new(dir: &OwnedFd, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let _ = rustix::fs::unlinkat(dir, name, AtFlags::empty());
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )?;
    File::from(fd).write_all(bytes)
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

    #[test]
    fn a_symlinked_subscriber_folder_is_neither_read_nor_written() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join(".events");
        let s = StateDir::new(&events);
        s.save("real", &State::default()).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir_all(elsewhere.join(DEAD)).unwrap();
        let planted = r#"{"cursor": "planted"}"#;
        std::fs::write(elsewhere.join(STATE), planted).unwrap();
        std::fs::write(elsewhere.join(DISABLED), "planted").unwrap();
        std::os::unix::fs::symlink(&elsewhere, events.join(DISPATCH).join("a")).unwrap();
        assert_eq!(s.load("a"), None);
        assert_eq!(s.disabled("a"), None);
        assert!(s.dead_letters("a").is_empty());
        let e = s.save("a", &State::default()).unwrap_err();
        assert!(
            e.to_string().contains("refusing to write through it"),
            "{e}"
        );
        assert!(!s.enable("a").unwrap());
        assert_eq!(
            std::fs::read_to_string(elsewhere.join(STATE)).unwrap(),
            planted
        );
        assert!(elsewhere.join(DISABLED).exists());
        assert!(s.load("real").is_some());
    }
}
