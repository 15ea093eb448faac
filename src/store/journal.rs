//! The arrival journal, `.events/.journal/arrivals`: one line per record in
//! the order records were stored, which the follower (`store::follow`)
//! reads. File names sort by the event's own time, not by arrival, so a
//! late record with an old timestamp would be missed by a reader that
//! watched names; the journal is what "after" means.
//!
//! Format (text, one entry a line):
//! ```text
//! event-publisher arrivals <journal id, 16 hex>     the header, once
//! 2025-08-12/20250812T163000.000Z-a.b-<id>.json     a record stored
//! invalid/2025-08-12/20250812T163000.000Z-…json     a dead letter stored
//! r 2025-08-12/20250812T163000.000Z-a.b-<id>.json   a repair (see below)
//! ```
//!
//! Appending: the fs sink appends an entry after it wins the id claim and
//! before it links the dated file, with one `write(2)` on an `O_APPEND`
//! descriptor. An entry is at most `MAX_ENTRY` bytes, so concurrent hooks'
//! entries never interleave. A process killed after the claim but before
//! its entry leaves the id claimed with no dated link; the next sighting of
//! the event repairs both and appends an `r` entry. A repair entry of a
//! record already journaled (killed after its entry, before the dated link)
//! is a repeat the reader drops.
//!
//! The journal is created whole (header written, then linked into place),
//! so its first line is always there. Its id changes when it is deleted
//! and created again, which a follower's position notices.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::file_name::FileName;
use super::layout::{INVALID, is_day};

/// The journal's file name in `.journal/`.
pub const ARRIVALS: &str = "arrivals";
const HEADER: &str = "event-publisher arrivals ";
/// The longest entry: `r `, `invalid/`, a day, `/`, a file name of up to
/// 255 bytes and the newline; well under `PIPE_BUF`.
pub const MAX_ENTRY: usize = 2 + 8 + 10 + 1 + 255 + 1;

/// One journal entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub repair: bool,
    /// `YYYY-MM-DD` or `invalid/YYYY-MM-DD`.
    pub dir: String,
    pub file: FileName,
}

impl Entry {
    pub fn invalid(&self) -> bool {
        self.dir.starts_with(INVALID)
    }

    /// The line, newline included.
    pub fn line(repair: bool, dir: &str, file: &str) -> String {
        format!("{}{dir}/{file}\n", if repair { "r " } else { "" })
    }

    /// Parses a line (without its newline). A line that is not an entry
    /// (the tail of an entry torn by a full disk, then a whole entry
    /// appended after it) yields the last whole entry it ends with.
    pub fn parse(line: &[u8]) -> Option<Entry> {
        if let Some(e) = Entry::parse_exact(line) {
            return Some(e);
        }
        (1..line.len()).find_map(|i| Entry::parse_exact(&line[i..]))
    }

    fn parse_exact(line: &[u8]) -> Option<Entry> {
        let text = std::str::from_utf8(line).ok()?;
        let (repair, rest) = match text.strip_prefix("r ") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (dir, file) = rest.rsplit_once('/')?;
        let day = dir.strip_prefix("invalid/").unwrap_or(dir);
        if !is_day(day) {
            return None;
        }
        Some(Entry {
            repair,
            dir: dir.to_string(),
            file: FileName::parse(file)?,
        })
    }
}

/// The journal id in a header line (without its newline).
pub fn parse_header(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    u64::from_str_radix(text.strip_prefix(HEADER)?, 16).ok()
}

/// Opens the journal in the open `.journal/` folder for appending,
/// creating it (whole, with its header) when missing. Never through a
/// symlink, never waiting on a FIFO; regular files only.
pub fn open_for_append(dir: &OwnedFd, file_mode: Mode) -> rustix::io::Result<OwnedFd> {
    let open = || {
        rustix::fs::openat(
            dir,
            ARRIVALS,
            OFlags::WRONLY | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    let fd = match open() {
        Err(Errno::NOENT) => {
            create(dir, file_mode)?;
            open()?
        }
        r => r?,
    };
    regular(&fd)?;
    Ok(fd)
}

/// Appends one entry with one `write(2)`.
pub fn append(journal: &OwnedFd, line: &str) -> std::io::Result<()> {
    debug_assert!(line.len() <= MAX_ENTRY);
    let n = rustix::io::write(journal, line.as_bytes())?;
    if n != line.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            "short write to the arrival journal",
        ));
    }
    Ok(())
}

fn regular(fd: &OwnedFd) -> rustix::io::Result<()> {
    let st = rustix::fs::fstat(fd)?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => Ok(()),
        _ => Err(Errno::INVAL),
    }
}

/// Creates the journal whole: a temp file with the header, linked into
/// place (another hook may win; then its journal is the one).
fn create(dir: &OwnedFd, file_mode: Mode) -> rustix::io::Result<()> {
    let id = journal_id();
    let header = format!("{HEADER}{id:016x}\n");
    let tmp = format!(".{ARRIVALS}-{}-{id:x}.tmp", std::process::id());
    let fd = rustix::fs::openat(
        dir,
        tmp.as_str(),
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        file_mode,
    )?;
    let written = std::fs::File::from(fd).write_all(header.as_bytes());
    let linked = written
        .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))
        .and_then(|()| rustix::fs::linkat(dir, tmp.as_str(), dir, ARRIVALS, AtFlags::empty()));
    let _ = rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty());
    match linked {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A journal id: the creation time in nanoseconds mixed with the process
/// id; never 0 (0 means "any journal" in a position).
fn journal_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    (nanos ^ ((std::process::id() as u64) << 48)) | 1
}

/// Opens the journal in `.journal/` for reading: regular files only, never
/// through a symlink, never waiting.
pub fn open_for_read(dir: impl AsFd) -> rustix::io::Result<OwnedFd> {
    let fd = rustix::fs::openat(
        dir,
        ARRIVALS,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    regular(&fd)?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: &str = "20250812T163000.000Z-a.b-5f1c3a52-6d3e-5b8a-9c1d-2e3f4a5b6c7d.json";

    #[test]
    fn entries_round_trip_and_torn_ones_resync() {
        for (repair, dir) in [(false, "2025-08-12"), (true, "invalid/2025-08-12")] {
            let line = Entry::line(repair, dir, F);
            assert!(line.len() <= MAX_ENTRY);
            let e = Entry::parse(line.trim_end().as_bytes()).unwrap();
            assert_eq!(
                (e.repair, e.dir.as_str(), e.file.as_str()),
                (repair, dir, F)
            );
            assert_eq!(e.invalid(), dir.starts_with("invalid"));
        }
        let torn = format!(
            "2025-08-12/20250812T1630{}",
            Entry::line(false, "2025-08-13", F)
        );
        let e = Entry::parse(torn.trim_end().as_bytes()).unwrap();
        assert_eq!(e.dir, "2025-08-13");
        for bad in ["", "x", "../x/y.json", "2025-08-12/notes.txt", "2025-08-12"] {
            assert!(Entry::parse(bad.as_bytes()).is_none(), "{bad}");
        }
        assert_eq!(
            parse_header(b"event-publisher arrivals 00000000000000ff"),
            Some(255)
        );
    }
}
