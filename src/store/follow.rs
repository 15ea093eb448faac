//! Following the store: every record stored after a position, in the
//! order they were stored, with no gap and no repeat, across restarts of
//! the reader, bursts, day rollover and records whose own timestamp is old.
//! `tail -f` is its first user; a subscriber's dispatcher and a live view
//! are the next.
//!
//! It reads the arrival journal (`store::journal`) and each record through
//! the id index with the one hardened reader, so where a record's dated
//! file is (or whether gc already deleted its day folder) does not matter.
//! A record deleted before the follower reaches it is skipped.
//!
//! The position is a value a caller can keep (an SSE `Last-Event-ID`, a
//! subscriber's cursor file): `<journal id in hex>-<byte offset>`, e.g.
//! `18a3f2c4d5e6f701-48213`, parsed by `Position::parse` and written by
//! `Display`. `0` (or `0-0`) is the start of whatever journal there is.
//! When the journal was deleted and created again, a position in the old
//! one resumes at the start of the new one: everything in it is new.

use std::fmt;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use rustix::fs::AtFlags;
use rustix::io::Errno;

use super::events_dir::Kind;
use super::file_name::FileName;
use super::journal::{self, ARRIVALS, Entry, MAX_ENTRY};
use super::layout::{self, JOURNAL};
use super::problems::Problems;
use super::reader;
use crate::enrich::Record;

/// Where a follower is: just after the last record it gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// The journal's id; 0 for "whatever journal there is".
    journal: u64,
    /// Bytes into the journal; 0 for "just after its header".
    offset: u64,
}

impl Position {
    /// Before everything.
    pub const START: Position = Position {
        journal: 0,
        offset: 0,
    };

    /// Parses what `Display` writes (and `0`); `None` for anything else.
    pub fn parse(text: &str) -> Option<Position> {
        let text = text.trim();
        if text == "0" {
            return Some(Position::START);
        }
        let (journal, offset) = text.split_once('-')?;
        if journal.is_empty() || journal.len() > 16 || offset.is_empty() {
            return None;
        }
        Some(Position {
            journal: u64::from_str_radix(journal, 16).ok()?,
            offset: offset.parse().ok()?,
        })
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}-{}", self.journal, self.offset)
    }
}

/// A record stored after the follower's position.
#[derive(Clone, Debug)]
pub struct Arrival {
    /// The position just after this record: resuming there gives the next.
    pub position: Position,
    pub kind: Kind,
    pub file: FileName,
    pub record: Record,
}

/// The journal, open.
struct Open {
    root: OwnedFd,
    journal: OwnedFd,
    id: u64,
    header_len: u64,
    inode: (u64, u64),
}

/// How much of the journal is read at a time (about 2,000 entries).
const CHUNK: usize = 256 * 1024;

pub struct Follower {
    events: PathBuf,
    position: Position,
    open: Option<Open>,
    caught_up: bool,
    /// The last problem said about the journal itself, not to repeat it.
    said: Option<String>,
    buf: Vec<u8>,
}

impl Follower {
    /// A follower of the events directory `events`, from `from`.
    pub fn new(events: &Path, from: Position) -> Follower {
        Follower {
            events: events.to_path_buf(),
            position: from,
            open: None,
            caught_up: false,
            said: None,
            buf: Vec::new(),
        }
    }

    /// A follower that gives only what is stored from now on.
    pub fn from_now(events: &Path) -> Follower {
        let mut f = Follower::new(events, Position::START);
        let mut quiet = Problems::quiet();
        if f.reopen(&mut quiet) {
            if let Some(open) = &f.open {
                let end = journal_end(&open.journal).max(open.header_len);
                f.position = Position {
                    journal: open.id,
                    offset: end,
                };
            }
        }
        f
    }

    /// Just after the last record given.
    pub fn position(&self) -> Position {
        self.position
    }

    /// Whether the last `poll` reached the end of the journal.
    pub fn caught_up(&self) -> bool {
        self.caught_up
    }

    /// The records stored after the position, up to a chunk of the
    /// journal, in the order they were stored; advances the position past
    /// them. Call again until `caught_up`. `want` is asked first, from the
    /// entry alone, whether a record is worth reading; records not wanted
    /// are passed over. Records that cannot be read are reported.
    pub fn poll(
        &mut self,
        want: &mut dyn FnMut(Kind, &FileName) -> bool,
        problems: &mut Problems,
    ) -> Vec<Arrival> {
        let mut out = Vec::new();
        self.caught_up = true;
        if self.open.is_none() && !self.reopen(problems) {
            return out;
        }
        let Some((id, header_len)) = self.open.as_ref().map(|o| (o.id, o.header_len)) else {
            return out;
        };
        if self.position.journal != id {
            if self.position.journal != 0 {
                self.say(
                    problems,
                    "the arrival journal was created again; following from its start",
                );
                self.position.offset = 0;
            }
            self.position = Position {
                journal: id,
                offset: self.position.offset.max(header_len),
            };
        }
        let Some(open) = &self.open else {
            return out;
        };
        self.buf.resize(CHUNK, 0);
        let got = loop {
            match rustix::io::pread(&open.journal, &mut self.buf[..], self.position.offset) {
                Err(Errno::INTR) => continue,
                r => break r,
            }
        };
        let n = match got {
            Ok(n) => n,
            Err(e) => {
                self.say(problems, &std::io::Error::from(e).to_string());
                self.open = None;
                return out;
            }
        };
        if n == 0 {
            // Caught up; if the journal was replaced, the next poll opens
            // the new one.
            if !self.still_current() {
                self.open = None;
                self.caught_up = false;
            }
            return out;
        }
        let chunk = &self.buf[..n];
        let mut consumed = 0;
        let mut lines = Vec::new();
        while let Some(nl) = chunk[consumed..].iter().position(|b| *b == b'\n') {
            lines.push((consumed, consumed + nl));
            consumed += nl + 1;
        }
        if consumed == 0 && n == CHUNK {
            // A whole chunk without a newline is no entry: pass over it.
            consumed = n;
        }
        let base = self.position.offset;
        for (start, end) in lines {
            let line = &self.buf[start..end];
            let at = Position {
                journal: open.id,
                offset: base + end as u64 + 1,
            };
            let Some(entry) = Entry::parse(line) else {
                problems.skip(&self.journal_path(), "a line that is not a journal entry");
                continue;
            };
            let kind = if entry.invalid() {
                Kind::Invalid
            } else {
                Kind::Valid
            };
            if !want(kind, &entry.file) {
                continue;
            }
            if entry.repair && journaled_before(open, entry.file.id(), base + start as u64) {
                continue;
            }
            if let Some(record) = load(open, &self.events, &entry, problems) {
                out.push(Arrival {
                    position: at,
                    kind,
                    file: entry.file,
                    record,
                });
            }
        }
        self.position.offset = base + consumed as u64;
        self.caught_up = n < CHUNK;
        out
    }

    fn journal_path(&self) -> PathBuf {
        self.events.join(JOURNAL).join(ARRIVALS)
    }

    /// Says a problem with the journal itself, once until it changes.
    fn say(&mut self, problems: &mut Problems, why: &str) {
        if self.said.as_deref() != Some(why) {
            problems.skip(&self.journal_path(), why);
            self.said = Some(why.to_string());
        }
    }

    /// Opens the journal; false when there is none (yet) or it cannot be
    /// read (said once).
    fn reopen(&mut self, problems: &mut Problems) -> bool {
        match open_journal(&self.events) {
            Ok(Some(open)) => {
                self.open = Some(open);
                self.said = None;
                true
            }
            Ok(None) => false,
            Err(why) => {
                self.say(problems, &why);
                false
            }
        }
    }

    /// Whether the open journal is still the one at its path.
    fn still_current(&self) -> bool {
        let Some(open) = &self.open else {
            return false;
        };
        std::fs::symlink_metadata(self.journal_path())
            .is_ok_and(|m| (m.dev(), m.ino()) == open.inode)
    }
}

fn open_journal(events: &Path) -> Result<Option<Open>, String> {
    let root = match reader::open_root(events) {
        Ok(Some(fd)) => fd,
        Ok(None) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let dir = match reader::open_dir(&root, JOURNAL) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(reader::dir_problem(e)),
    };
    let journal = match journal::open_for_read(&dir) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::INVAL | Errno::LOOP) => {
            return Err("not a regular file; not read".to_string());
        }
        Err(e) => return Err(std::io::Error::from(e).to_string()),
    };
    let mut head = [0u8; 64];
    let n = rustix::io::pread(&journal, &mut head, 0).map_err(|e| e.to_string())?;
    let header = head[..n]
        .iter()
        .position(|b| *b == b'\n')
        .and_then(|nl| Some((journal::parse_header(&head[..nl])?, nl as u64 + 1)));
    let Some((id, header_len)) = header else {
        return Err("no journal header; not read".to_string());
    };
    let st = rustix::fs::fstat(&journal).map_err(|e| e.to_string())?;
    Ok(Some(Open {
        root,
        journal,
        id,
        header_len,
        inode: (st.st_dev, st.st_ino),
    }))
}

/// The offset just after the journal's last whole entry.
fn journal_end(journal: &OwnedFd) -> u64 {
    let Ok(st) = rustix::fs::fstat(journal) else {
        return 0;
    };
    let size = st.st_size.max(0) as u64;
    let from = size.saturating_sub(2 * MAX_ENTRY as u64);
    let mut tail = vec![0u8; (size - from) as usize];
    let n = rustix::io::pread(journal, &mut tail, from).unwrap_or(0);
    match tail[..n].iter().rposition(|b| *b == b'\n') {
        Some(nl) => from + nl as u64 + 1,
        None => from,
    }
}

/// Whether the journal holds an entry of record `id` before `before`: a
/// repair entry of a record already journaled is a repeat. Rare (only
/// after a writer was killed), so a plain scan.
fn journaled_before(open: &Open, id: &str, before: u64) -> bool {
    let id = id.as_bytes();
    let mut buf = vec![0u8; CHUNK];
    let mut at = open.header_len;
    while at < before {
        let want = ((before - at) as usize).min(CHUNK);
        let Ok(n) = rustix::io::pread(&open.journal, &mut buf[..want], at) else {
            return false;
        };
        if n == 0 {
            return false;
        }
        if buf[..n].windows(id.len()).any(|w| w == id) {
            return true;
        }
        if n < id.len() {
            return false;
        }
        // Overlap, so an id across the boundary is seen.
        at += (n - id.len() + 1) as u64;
    }
    false
}

/// The record of a journal entry, read from the id index; `None` when it
/// is gone (gc) or cannot be read (reported).
fn load(open: &Open, events: &Path, entry: &Entry, problems: &mut Problems) -> Option<Record> {
    let id = entry.file.id();
    let bucket_rel = layout::id_bucket(id);
    let name = layout::id_entry(id);
    let shown = || events.join(&bucket_rel).join(&name);
    let bucket = match reader::open_dir(&open.root, &bucket_rel) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return None,
        Err(e) => {
            problems.skip(&events.join(&bucket_rel), &reader::dir_problem(e));
            return None;
        }
    };
    if let Err(Errno::NOENT) = rustix::fs::statat(&bucket, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
    {
        return None;
    }
    match reader::load_record(&bucket, &name) {
        Ok(r) if r.id.to_string() == id => Some(r),
        Ok(_) => {
            problems.skip(&shown(), "not the record its name says");
            None
        }
        Err(why) => {
            problems.skip(&shown(), &why);
            None
        }
    }
}

/// Wakes a follower when the journal may have grown: a watch (inotify,
/// kqueue) on the journal's folder, or, until that exists, on the deepest
/// of the events directory and its parent that does; and a timeout, so a
/// lost watch only slows it down.
pub struct Waiter {
    events: PathBuf,
    watcher: notify::RecommendedWatcher,
    tx: mpsc::Sender<()>,
    rx: mpsc::Receiver<()>,
    watched: Option<PathBuf>,
}

impl Waiter {
    pub fn new(events: &Path) -> Result<Waiter, String> {
        let (tx, rx) = mpsc::channel();
        let notify_tx = tx.clone();
        let watcher = notify::recommended_watcher(move |_: notify::Result<notify::Event>| {
            let _ = notify_tx.send(());
        })
        .map_err(|e| format!("cannot watch {}: {e}", events.display()))?;
        let mut w = Waiter {
            events: events.to_path_buf(),
            watcher,
            tx,
            rx,
            watched: None,
        };
        w.arm();
        Ok(w)
    }

    /// Something that wakes `wait` (for a signal handler's thread).
    pub fn waker(&self) -> mpsc::Sender<()> {
        self.tx.clone()
    }

    /// Waits until the journal may have grown, or `timeout`; then watches
    /// again what to watch now (call `Follower::poll` after, so nothing
    /// appended in between is missed).
    pub fn wait(&mut self, timeout: Duration) {
        let _ = self.rx.recv_timeout(timeout);
        while self.rx.try_recv().is_ok() {}
        self.arm();
    }

    fn arm(&mut self) {
        let parent = match self.events.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let is_dir = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
        let target = [self.events.join(JOURNAL), self.events.clone(), parent]
            .into_iter()
            .find(|p| is_dir(p));
        if target == self.watched {
            return;
        }
        if let Some(old) = self.watched.take() {
            let _ = self.watcher.unwatch(&old);
        }
        if let Some(t) = &target {
            if self.watcher.watch(t, RecursiveMode::NonRecursive).is_ok() {
                self.watched = target;
                // It may have changed before the watch did.
                let _ = self.tx.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::fs::tests::record;
    use crate::sinks::fs::{FsSink, Stored};
    use proptest::prelude::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Everything from `from` until caught up: (id, position after it).
    fn drain(events: &Path, from: Position) -> Vec<(String, Position)> {
        let mut f = Follower::new(events, from);
        let mut out = Vec::new();
        loop {
            for a in f.poll(&mut |_, _| true, &mut Problems::quiet()) {
                out.push((a.record.id.to_string(), a.position));
            }
            if f.caught_up() {
                return out;
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Writers store at once (some ids shared, timestamps anywhere in
        /// 2000..2040, valid or not) while a follower restarts from its
        /// written-out position at random points: it is given each stored
        /// record once, in the order a follower without restarts sees.
        #[test]
        fn no_gap_no_repeat(
            writers in prop::collection::vec(
                prop::collection::vec((0u128..400, 0u32..40, 0u32..366, any::<bool>()), 1..80),
                1..5,
            ),
            restarts in prop::collection::vec(0usize..6, 1..30),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let events = dir.path().join(".events");
            let stop = Arc::new(AtomicBool::new(false));
            let following = {
                let (events, stop) = (events.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut saved = Position::START.to_string();
                    let mut given = Vec::new();
                    for polls in restarts.iter().cycle() {
                        let done = stop.load(Ordering::SeqCst);
                        let mut f = Follower::new(&events, Position::parse(&saved).unwrap());
                        for _ in 0..=*polls {
                            for a in f.poll(&mut |_, _| true, &mut Problems::quiet()) {
                                given.push(a.record.id.to_string());
                            }
                        }
                        saved = f.position().to_string();
                        if done && f.caught_up() {
                            break;
                        }
                        std::thread::yield_now();
                    }
                    given
                })
            };
            let handles: Vec<_> = writers
                .into_iter()
                .map(|records| {
                    let events = events.clone();
                    std::thread::spawn(move || {
                        let mut sink = FsSink::open(&events).unwrap();
                        let mut new = Vec::new();
                        for (id, year, day, valid) in records {
                            let ts = format!(
                                "{}-{:02}-{:02}T12:00:00.000Z",
                                2000 + year,
                                1 + day % 12,
                                1 + day % 28
                            );
                            if let Stored::New(_) = sink.store(&record(id, &ts, valid)).unwrap() {
                                new.push(uuid::Uuid::from_u128(id).to_string());
                            }
                        }
                        new
                    })
                })
                .collect();
            let mut stored: Vec<String> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
            stop.store(true, Ordering::SeqCst);
            let given = following.join().unwrap();
            let whole: Vec<String> = drain(&events, Position::START).into_iter().map(|(id, _)| id).collect();
            prop_assert_eq!(&given, &whole);
            let mut sorted = given.clone();
            sorted.sort();
            sorted.dedup();
            prop_assert_eq!(sorted.len(), given.len(), "a record given twice");
            stored.sort();
            prop_assert_eq!(sorted, stored);
        }
    }

    #[test]
    fn a_position_resumes_exactly_after_its_record() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join(".events");
        let mut sink = FsSink::open(&events).unwrap();
        for i in 0..5 {
            sink.store(&record(i, "2025-08-12T16:30:00.000Z", true))
                .unwrap();
        }
        let all = drain(&events, Position::START);
        assert_eq!(all.len(), 5);
        for (i, (_, after)) in all.iter().enumerate() {
            let rest = drain(&events, Position::parse(&after.to_string()).unwrap());
            assert_eq!(rest, all[i + 1..]);
        }
        // From now: only what comes next.
        let mut f = Follower::from_now(&events);
        sink.store(&record(9, "1999-01-01T00:00:00.000Z", true))
            .unwrap();
        let next = f.poll(&mut |_, _| true, &mut Problems::quiet());
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].record.id, uuid::Uuid::from_u128(9));
    }

    #[test]
    fn a_repair_entry_of_a_journaled_record_is_not_a_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join(".events");
        let mut sink = FsSink::open(&events).unwrap();
        let r = record(1, "2025-08-12T16:30:00.000Z", true);
        let Stored::New(dated) = sink.store(&r).unwrap() else {
            panic!()
        };
        // As if killed after the journal entry, before the dated link.
        std::fs::remove_file(events.join(&dated)).unwrap();
        assert_eq!(sink.store(&r).unwrap(), Stored::Present);
        assert!(events.join(&dated).exists(), "repaired");
        let text = std::fs::read_to_string(events.join(".journal/arrivals")).unwrap();
        assert_eq!(text.lines().filter(|l| l.starts_with("r ")).count(), 1);
        assert_eq!(drain(&events, Position::START).len(), 1);
        // As if killed after the claim, before the journal entry.
        let r2 = record(2, "2025-08-12T16:30:00.000Z", true);
        let before = std::fs::metadata(events.join(".journal/arrivals"))
            .unwrap()
            .len();
        let Stored::New(dated) = sink.store(&r2).unwrap() else {
            panic!()
        };
        std::fs::remove_file(events.join(&dated)).unwrap();
        let journal = std::fs::OpenOptions::new()
            .write(true)
            .open(events.join(".journal/arrivals"))
            .unwrap();
        journal.set_len(before).unwrap();
        assert_eq!(sink.store(&r2).unwrap(), Stored::Present);
        let ids: Vec<String> = drain(&events, Position::START)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, [r.id.to_string(), r2.id.to_string()]);
    }

    #[test]
    fn positions_round_trip() {
        for p in [
            Position::START,
            Position {
                journal: 0x18a3f2c4d5e6f701,
                offset: 48213,
            },
        ] {
            assert_eq!(Position::parse(&p.to_string()), Some(p));
        }
        assert_eq!(Position::parse("0"), Some(Position::START));
        for bad in ["", "-", "x-1", "1-", "1-x", "12345678901234567-1", "1"] {
            assert_eq!(Position::parse(bad), None, "{bad}");
        }
    }
}
