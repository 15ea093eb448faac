//! Transcript cursors: how far the hooks have read each transcript, so that
//! a line Claude Code writes after one hook is read by the next, and each
//! hook reads only the new bytes (see `input::transcript::read_incremental`).
//!
//! One small JSON file per transcript, `.events/.cursors/<key>.json`, where
//! `<key>` is the first 32 hex digits of SHA-256 of the transcript's path:
//! `{"path": ..., "offset": ..., "line": ..., "prompt_id": ..., "seen": ...}`. A cursor
//! is replaced whole (written to a temp file in the same folder, then
//! renamed over the old one), so a reader sees the old or the new one, never
//! half of one. Two hooks that race may both read the same lines and the
//! later rename wins, even if it is the smaller offset: the lines are read
//! again, and their ids (those of `replay`) make that add nothing. A
//! missing, unreadable or foreign cursor is offset 0: read everything again.
//!
//! All access to the cursor files is in this module. Every directory is
//! opened with `O_NOFOLLOW` relative to the events directory's descriptor,
//! as the file sink does, so a symlink planted as `.events` or `.cursors` is
//! refused, never followed, and nothing is written outside the events
//! directory.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};
use serde::{Deserialize, Serialize};

use super::dirs::{dir_error, open_dir, open_root};
use crate::error::{Context, Error, Result};
use crate::ids;
use crate::input::transcript::Resume;

/// The folder under the events directory that holds the cursors.
pub use super::layout::CURSORS;
/// A cursor file is a few hundred bytes; anything larger is not one.
const MAX_CURSOR_BYTES: u64 = 16 * 1024;

/// A transcript's cursor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Where the next read starts.
    #[serde(flatten)]
    pub resume: Resume,
    /// How far the file was read (past `resume` when its latest message
    /// is kept back): a file of this size has nothing new.
    pub seen: u64,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    path: String,
    #[serde(flatten)]
    cursor: Cursor,
}

/// The cursors of one events directory.
pub struct Cursors {
    dir: OwnedFd,
    shown: PathBuf,
    mode: Mode,
}

impl Cursors {
    /// Opens (creating) `<events_dir>/.cursors`. The events directory's
    /// parent may be reached through symlinks (the user's choice); the
    /// events directory and `.cursors` may not.
    pub fn open(events_dir: &Path) -> Result<Cursors> {
        let (root, mode) = open_root(events_dir)?;
        let shown = events_dir.join(CURSORS);
        let dir = open_dir(&root, CURSORS, mode)
            .map_err(|e| dir_error(e, &shown.display().to_string()))?;
        Ok(Cursors {
            dir,
            shown,
            mode: Mode::from_raw_mode(mode.as_raw_mode() & 0o666),
        })
    }

    /// Where to resume reading `transcript`: the start when no cursor (or
    /// no usable one) is kept.
    pub fn get(&self, transcript: &Path) -> Cursor {
        self.read(transcript).unwrap_or_default()
    }

    fn read(&self, transcript: &Path) -> Option<Cursor> {
        let fd = rustix::fs::openat(
            &self.dir,
            file_name(transcript).as_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let mut text = Vec::new();
        File::from(fd)
            .take(MAX_CURSOR_BYTES)
            .read_to_end(&mut text)
            .ok()?;
        let stored: Stored = serde_json::from_slice(&text).ok()?;
        // A hash collision, or a file put there by hand: not this one's.
        (stored.path == path_text(transcript)).then_some(stored.cursor)
    }

    /// Keeps `cursor` as the cursor of `transcript`.
    pub fn set(&self, transcript: &Path, cursor: &Cursor) -> Result<()> {
        let name = file_name(transcript);
        let bytes = serde_json::to_vec(&Stored {
            path: path_text(transcript),
            cursor: cursor.clone(),
        })?;
        let tmp = format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let shown = || format!("writing cursor {}/{name}", self.shown.display());
        let fd = rustix::fs::openat(
            &self.dir,
            tmp.as_str(),
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            self.mode,
        )
        .with_context(shown)?;
        let written = File::from(fd).write_all(&bytes);
        let r = written.map_err(Error::from).and_then(|()| {
            rustix::fs::renameat(&self.dir, tmp.as_str(), &self.dir, name.as_str())
                .map_err(Error::from)
        });
        if r.is_err() {
            let _ = rustix::fs::unlinkat(&self.dir, tmp.as_str(), AtFlags::empty());
        }
        r.with_context(shown)
    }
}

fn path_text(transcript: &Path) -> String {
    transcript.to_string_lossy().into_owned()
}

/// The cursor file of a transcript: nothing of the path but its digest.
fn file_name(transcript: &Path) -> String {
    let digest = ids::text_digest(&path_text(transcript));
    format!("{}.json", &digest[..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_kept_per_transcript() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join(".events");
        let c = Cursors::open(&events).unwrap();
        let a = Path::new("/t/a.jsonl");
        assert_eq!(c.get(a), Cursor::default());
        let r = Cursor {
            resume: Resume {
                offset: 120,
                line: 3,
                prompt_id: Some("p".into()),
            },
            seen: 200,
        };
        c.set(a, &r).unwrap();
        assert_eq!(Cursors::open(&events).unwrap().get(a), r);
        assert_eq!(c.get(Path::new("/t/b.jsonl")), Cursor::default());
        // Only the cursor file is left: no temp file.
        assert_eq!(std::fs::read_dir(events.join(CURSORS)).unwrap().count(), 1);
    }

    #[test]
    fn a_foreign_or_broken_cursor_reads_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join(".events");
        let c = Cursors::open(&events).unwrap();
        let a = Path::new("/t/a.jsonl");
        let file = events.join(CURSORS).join(file_name(a));
        std::fs::write(
            &file,
            r#"{"path": "/t/other.jsonl", "offset": 5, "line": 1, "seen": 5}"#,
        )
        .unwrap();
        assert_eq!(c.get(a), Cursor::default());
        std::fs::write(&file, "garbage").unwrap();
        assert_eq!(c.get(a), Cursor::default());
    }

    #[test]
    fn refuses_a_symlinked_cursors_folder() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join(".events");
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir_all(&events).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, events.join(CURSORS)).unwrap();
        let e = Cursors::open(&events).err().unwrap().to_string();
        assert!(e.contains("refusing to write through it"), "{e}");
    }
}
