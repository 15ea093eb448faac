//! The events directory as a reader sees it: day folders of valid records,
//! `invalid/` day folders of dead letters, and the files in each. Dot
//! entries (`.ids`, `.tmp`, anything else `.`-prefixed) are not records and
//! are never listed; anything else that does not belong is reported.

use std::io::ErrorKind;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::file_name::FileName;
use super::layout::{self, INVALID, is_day};
use super::problems::Problems;
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

/// The biggest file read as a record; anything larger is not one.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

pub struct EventsDir {
    path: PathBuf,
}

impl EventsDir {
    /// Opens `path`; `Ok(None)` when it does not exist (nothing stored yet).
    pub fn open(path: &Path) -> Result<Option<EventsDir>> {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => Ok(Some(EventsDir {
                path: path.to_path_buf(),
            })),
            Ok(_) => Err(Error::new(format!(
                "events directory {} is not a directory",
                path.display()
            ))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::from(e).context(format!("events directory {}", path.display()))),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the day folders of `kind` are.
    pub fn kind_root(&self, kind: Kind) -> PathBuf {
        match kind {
            Kind::Valid => self.path.clone(),
            Kind::Invalid => self.path.join(INVALID),
        }
    }

    /// The day folders of `kind`, oldest first.
    pub fn days(&self, kind: Kind, problems: &mut Problems) -> Vec<Day> {
        let root = self.kind_root(kind);
        let entries = match std::fs::read_dir(&root) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound && kind == Kind::Invalid => {
                return Vec::new();
            }
            Err(e) => {
                problems.skip(&root, &e.to_string());
                return Vec::new();
            }
        };
        let mut days = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    problems.skip(&root, &e.to_string());
                    continue;
                }
            };
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                problems.skip(&entry.path(), "not a day folder");
                continue;
            };
            if name.starts_with('.') || (kind == Kind::Valid && name == INVALID) {
                continue;
            }
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if !is_day(name) || !is_dir {
                problems.skip(&entry.path(), "not a day folder (YYYY-MM-DD)");
                continue;
            }
            days.push(Day {
                kind,
                date: name.to_string(),
                path: entry.path(),
            });
        }
        days.sort_by(|a, b| a.date.cmp(&b.date));
        days
    }

    /// The record files of a day folder, in file name (time) order. Files
    /// whose name is not a record's are reported.
    pub fn files(&self, day: &Day, problems: &mut Problems) -> Vec<FileName> {
        let entries = match std::fs::read_dir(&day.path) {
            Ok(e) => e,
            Err(e) => {
                problems.skip(&day.path, &e.to_string());
                return Vec::new();
            }
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    problems.skip(&day.path, &e.to_string());
                    continue;
                }
            };
            let name = entry.file_name();
            match name.to_str() {
                Some(n) if n.starts_with('.') => {}
                Some(n) => match FileName::parse(n) {
                    Some(f) => files.push(f),
                    None => problems.skip(&entry.path(), "not a record file name"),
                },
                None => problems.skip(&entry.path(), "not a record file name"),
            }
        }
        files.sort();
        files
    }

    /// Opens a day folder for reading its files by name.
    pub fn open_day(&self, day: &Day) -> Result<OwnedFd> {
        rustix::fs::open(
            &day.path,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )
        .with_context(|| day.path.display().to_string())
    }

    /// The id index entry of a record id.
    pub fn id_path(&self, id: &str) -> PathBuf {
        self.path
            .join(layout::id_bucket(id))
            .join(layout::id_entry(id))
    }
}

/// Reads the file `name` in the open folder `dir` into `buf` (cleared
/// first): open, read to the end, close, and nothing else, as `cat` does.
pub fn read_at(dir: &OwnedFd, name: &str, buf: &mut Vec<u8>) -> std::result::Result<(), String> {
    buf.clear();
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::LOOP => "a symlink, not a record".to_string(),
        e => std::io::Error::from(e).to_string(),
    })?;
    loop {
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        match rustix::io::read(&fd, rustix::buffer::spare_capacity(buf)) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                if buf.len() > MAX_RECORD_BYTES {
                    return Err(format!("larger than {MAX_RECORD_BYTES} bytes"));
                }
            }
            Err(Errno::INTR) => continue,
            Err(Errno::ISDIR) => return Err("a directory, not a record".to_string()),
            Err(e) => return Err(std::io::Error::from(e).to_string()),
        }
    }
}
