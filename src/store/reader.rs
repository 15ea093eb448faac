//! The one way readers enter `.events/`: every directory is opened one
//! component at a time relative to its parent's descriptor with
//! `O_NOFOLLOW`, and every record file is read by `read_record`: opened
//! `O_NOFOLLOW | O_NONBLOCK`, regular files only, capped in size. A cloned
//! repository may plant symlinks, FIFOs, devices or huge files anywhere
//! under `.events/`; none of them is followed, waited on or read whole.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::enrich::Record;
use crate::error::{Error, Result};

/// The biggest file read as a record; anything larger is not one.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// Opens the events directory itself: its parent may be reached through
/// symlinks (the user's choice), the directory itself may not, as when the
/// sink writes. `Ok(None)` when it does not exist.
pub fn open_root(path: &Path) -> Result<Option<OwnedFd>> {
    let shown = path.display();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = match path.file_name() {
        Some(n) => n,
        // `/`, `..` and the like: nothing to refuse, open it as given.
        None => path.as_os_str(),
    };
    let parent_fd = match rustix::fs::open(
        parent,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(Error::from(e).context(format!("events directory {shown}"))),
    };
    match open_dir(&parent_fd, name) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT) => Ok(None),
        Err(Errno::LOOP | Errno::NOTDIR) => Err(Error::new(format!(
            "events directory {shown} is a symlink or not a directory; refusing to read through it"
        ))),
        Err(e) => Err(Error::from(e).context(format!("events directory {shown}"))),
    }
}

/// Opens the directory `rel` (one or more `/`-separated components) below
/// `parent`, each component relative to the one before, never through a
/// symlink (see `dir_problem` for the errors).
pub fn open_dir(parent: impl AsFd, rel: impl AsRef<OsStr>) -> rustix::io::Result<OwnedFd> {
    let open = |at: &dyn AsFd, name: &[u8]| {
        rustix::fs::openat(
            at.as_fd(),
            name,
            OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    let mut parts = rel
        .as_ref()
        .as_bytes()
        .split(|b| *b == b'/')
        .filter(|p| !p.is_empty());
    let first = parts.next().unwrap_or(b".");
    let mut fd = open(&parent, first)?;
    for part in parts {
        fd = open(&fd, part)?;
    }
    Ok(fd)
}

/// Why a directory could not be opened, for a message. (`O_DIRECTORY`
/// with `O_NOFOLLOW` gives `ENOTDIR` for a symlink on Linux, `ELOOP`
/// elsewhere.)
pub fn dir_problem(e: Errno) -> String {
    match e {
        Errno::LOOP | Errno::NOTDIR => "a symlink or not a folder; not followed".to_string(),
        e => std::io::Error::from(e).to_string(),
    }
}

/// One entry of a directory: its name and type (never followed).
pub struct Entry {
    pub name: Vec<u8>,
    pub file_type: FileType,
}

impl Entry {
    pub fn name_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.name).ok()
    }

    pub fn is_dir(&self) -> bool {
        self.file_type == FileType::Directory
    }
}

/// The entries of the open directory `dir`, without `.` and `..`; a type
/// the file system does not report is asked for (without following).
pub fn entries(dir: &OwnedFd) -> rustix::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for e in rustix::fs::Dir::read_from(dir)? {
        let e = e?;
        let name = e.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let mut file_type = e.file_type();
        if file_type == FileType::Unknown {
            if let Ok(st) = rustix::fs::statat(dir, e.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
                file_type = FileType::from_raw_mode(st.st_mode);
            }
        }
        out.push(Entry {
            name: name.to_vec(),
            file_type,
        });
    }
    Ok(out)
}

/// Reads the record file `name` in the open folder `dir` into `buf`
/// (cleared first): opened without following a symlink and without
/// waiting (a FIFO or device is refused, never read), read to the end up
/// to `MAX_RECORD_BYTES`, closed. The error is a short reason.
pub fn read_record(
    dir: impl AsFd,
    name: impl AsRef<OsStr>,
    buf: &mut Vec<u8>,
) -> std::result::Result<(), String> {
    buf.clear();
    let fd = rustix::fs::openat(
        dir,
        name.as_ref(),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::LOOP => "a symlink, not a record".to_string(),
        e => std::io::Error::from(e).to_string(),
    })?;
    let st = rustix::fs::fstat(&fd).map_err(|e| std::io::Error::from(e).to_string())?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {}
        FileType::Directory => return Err("a directory, not a record".to_string()),
        FileType::Fifo => return Err("a FIFO, not a record".to_string()),
        _ => return Err("not a regular file, not a record".to_string()),
    }
    if st.st_size as u64 > MAX_RECORD_BYTES as u64 {
        return Err(format!("larger than {MAX_RECORD_BYTES} bytes"));
    }
    buf.reserve(st.st_size as usize + 1);
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
            Err(e) => return Err(std::io::Error::from(e).to_string()),
        }
    }
}

/// Parses a record read by `read_record`; the error is a short reason.
pub fn parse_record(bytes: &[u8]) -> std::result::Result<Record, String> {
    serde_json::from_slice::<Record>(bytes).map_err(|e| {
        if e.is_eof() {
            format!("truncated ({e})")
        } else {
            format!("not a record ({e})")
        }
    })
}

/// `read_record` then `parse_record`.
pub fn load_record(dir: impl AsFd, name: impl AsRef<OsStr>) -> std::result::Result<Record, String> {
    let mut buf = Vec::new();
    read_record(dir, name, &mut buf)?;
    parse_record(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_symlinks_fifos_and_directories() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("real"), b"{}").unwrap();
        std::os::unix::fs::symlink(d.path().join("real"), d.path().join("link")).unwrap();
        std::fs::create_dir(d.path().join("dir")).unwrap();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            d.path().join("fifo"),
            Mode::RUSR | Mode::WUSR,
        )
        .unwrap();
        let dir =
            rustix::fs::open(d.path(), OFlags::DIRECTORY | OFlags::RDONLY, Mode::empty()).unwrap();
        let mut buf = Vec::new();
        read_record(&dir, "real", &mut buf).unwrap();
        assert_eq!(buf, b"{}");
        for (name, why) in [
            ("link", "a symlink"),
            ("dir", "a directory"),
            ("fifo", "a FIFO"),
        ] {
            let e = read_record(&dir, name, &mut buf).unwrap_err();
            assert!(e.starts_with(why), "{name}: {e}");
        }
        std::os::unix::fs::symlink(d.path().join("dir"), d.path().join("dirlink")).unwrap();
        for rel in ["dirlink", "dirlink/x", "link"] {
            let e = open_dir(&dir, rel).unwrap_err();
            assert!(matches!(e, Errno::LOOP | Errno::NOTDIR), "{rel}: {e}");
        }
        assert!(open_dir(&dir, "dir").is_ok());
    }
}
