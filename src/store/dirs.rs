//! Opening and creating the directories below the events directory for
//! writers (the fs sink, transcript cursors, the OTLP spool): each one
//! relative to its parent's descriptor and never through a symlink. Readers use
//! `store::reader`, which never creates anything.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Context, Error, Result};

/// Opens (creating) the events directory `path`, and gives the mode its
/// folders get: the parent's permission bits. Its parent may be reached
/// through symlinks (the user's choice); `path` itself may not.
pub fn open_root(path: &Path) -> Result<(OwnedFd, Mode)> {
    let shown = path.display();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::new(format!("events directory {shown} has no name")))?;
    let parent_fd = rustix::fs::open(
        parent,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("events directory {shown}: opening {}", parent.display()))?;
    let parent_mode = rustix::fs::fstat(&parent_fd)
        .map(|s| s.st_mode & 0o777)
        .unwrap_or(0o755);
    let dir_mode = Mode::from_raw_mode(parent_mode);
    let root =
        open_dir(&parent_fd, name, dir_mode).map_err(|e| dir_error(e, &shown.to_string()))?;
    Ok((root, dir_mode))
}

/// Opens directory `name` under `parent`, creating it when missing; never
/// through a symlink. Opened first, since it is there on all but the first
/// call: one system call instead of two.
pub fn open_dir<P: rustix::path::Arg + Copy>(
    parent: impl AsFd,
    name: P,
    mode: Mode,
) -> rustix::io::Result<OwnedFd> {
    let open = || {
        rustix::fs::openat(
            &parent,
            name,
            OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    match open() {
        Err(Errno::NOENT) => {}
        opened => return opened,
    }
    // Another hook may create it first.
    match rustix::fs::mkdirat(&parent, name, mode) {
        Ok(()) | Err(Errno::EXIST) => open(),
        Err(e) => Err(e),
    }
}

pub fn dir_error(e: Errno, shown: &str) -> Error {
    match e {
        Errno::LOOP | Errno::NOTDIR => Error::new(format!(
            "{shown} is a symlink or not a directory; refusing to write through it"
        )),
        e => Error::from(e).context(shown),
    }
}
