//! What the live parts of `serve` need from the store.
//!
//! - `Cursor`: a place in the event-time order of records (the record's
//!   file name without `.json`), for paging `/api/events`.
//! - `Merged`: the scans of valid records and dead letters in one order.
//! - The stream follows the store with `store::follow`: each SSE client
//!   has its own `Follower` from the position it resumes at (its
//!   `Last-Event-ID`), so what it is sent is the follower's guarantee:
//!   every record stored after that position, in the order stored, no gap,
//!   no repeat, across restarts of `serve`.
//! - `Hub`: one `Waiter` on the store for the whole server; each time the
//!   arrival journal may have grown, every client is woken through a
//!   channel that holds at most one wake-up. A slow or stuck client costs
//!   no memory for what it has not read yet: it reads it from the store
//!   when it gets to it.

use std::iter::Peekable;
use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use crate::enrich::enricher::{format_time, parse_time};
use crate::store::follow::{Arrival, Follower, Position, Waiter};
use crate::store::{EventsDir, FileName, Filter, Found, Kind, Order, Problems, Scan, Scope};

/// How long the hub waits for a change before looking anyway (a lost
/// watch only slows it down).
const WAIT: Duration = Duration::from_millis(500);

/// A place in the event-time order of records: the record file's name
/// without `.json` (time, name, id).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor(String);

impl Cursor {
    /// Parses what a client sent back; `None` when it is not a cursor.
    pub fn parse(s: &str) -> Option<Cursor> {
        FileName::parse(&format!("{}.json", s.trim())).map(|f| Cursor::of(&f))
    }

    pub fn of(file: &FileName) -> Cursor {
        Cursor(file.as_str().trim_end_matches(".json").to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The event time of the record at this cursor (RFC 3339).
    pub fn timestamp(&self) -> String {
        FileName::parse(&format!("{}.json", self.0))
            .map(|f| f.timestamp())
            .unwrap_or_default()
    }

    /// One millisecond after this cursor's time: an exclusive bound that
    /// keeps every record of the same millisecond.
    pub fn just_after(&self) -> String {
        parse_time(&self.timestamp())
            .map(|t| format_time(t + chrono::Duration::milliseconds(1)))
            .unwrap_or_default()
    }
}

/// The scans of each kind in `scope`, merged into one order by cursor.
pub struct Merged<'a> {
    scans: Vec<Peekable<Scan<'a>>>,
    order: Order,
}

impl<'a> Merged<'a> {
    pub fn new(dir: &'a EventsDir, filter: &'a Filter, scope: Scope, order: Order) -> Merged<'a> {
        let scans = scope
            .kinds()
            .iter()
            .map(|k| {
                let one = match k {
                    Kind::Valid => Scope::Valid,
                    Kind::Invalid => Scope::Invalid,
                };
                Scan::new(dir, filter, one, order).peekable()
            })
            .collect();
        Merged { scans, order }
    }
}

impl Iterator for Merged<'_> {
    type Item = Found;

    fn next(&mut self) -> Option<Found> {
        let mut best: Option<(usize, String)> = None;
        for (i, s) in self.scans.iter_mut().enumerate() {
            let Some(f) = s.peek() else { continue };
            let name = f.file.as_str();
            let better = match (&best, self.order) {
                (None, _) => true,
                (Some((_, b)), Order::OldestFirst) => name < b.as_str(),
                (Some((_, b)), Order::NewestFirst) => name > b.as_str(),
            };
            if better {
                best = Some((i, name.to_string()));
            }
        }
        self.scans[best?.0].next()
    }
}

/// The store's current end: a stream from here gives what is stored next.
pub fn head(root: &Path) -> Position {
    Follower::from_now(root).position()
}

/// Wakes every subscriber when the store may have changed.
#[derive(Default)]
pub struct Hub {
    subscribers: Mutex<Vec<SyncSender<()>>>,
}

impl Hub {
    /// A channel that is woken (at most one wake-up pending) whenever the
    /// store may hold new records.
    pub fn subscribe(&self) -> Receiver<()> {
        let (tx, rx) = sync_channel(1);
        self.lock().push(tx);
        rx
    }

    #[cfg(test)]
    pub fn subscribers(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SyncSender<()>>> {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes everyone; a wake-up already pending is enough, and a
    /// subscriber gone is forgotten.
    pub fn wake(&self) {
        self.lock().retain(|tx| match tx.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => true,
            Err(TrySendError::Disconnected(())) => false,
        });
    }
}

/// Follows the store for the whole server, forever: hands each record
/// stored from `from` on to `seen`, and wakes the hub's subscribers.
pub fn run_hub(root: &Path, from: Position, hub: &Hub, mut seen: impl FnMut(&Arrival)) {
    let mut follower = Follower::new(root, from);
    let mut waiter = Waiter::new(root).ok();
    let mut problems = Problems::quiet();
    loop {
        loop {
            let arrivals = follower.poll(&mut |_, _| true, &mut problems);
            for a in &arrivals {
                seen(a);
            }
            if follower.caught_up() {
                break;
            }
        }
        hub.wake();
        match &mut waiter {
            Some(w) => w.wait(WAIT),
            None => std::thread::sleep(WAIT),
        }
    }
}

/// One SSE client's follower: from `from`, the records `want`ed.
pub struct ClientFeed {
    follower: Follower,
    problems: Problems,
}

impl ClientFeed {
    pub fn new(root: &Path, from: Position) -> ClientFeed {
        ClientFeed {
            follower: Follower::new(root, from),
            problems: Problems::quiet(),
        }
    }

    /// The next records stored, up to a chunk of the journal; empty when
    /// caught up.
    pub fn next(&mut self, want: &mut dyn FnMut(Kind, &FileName) -> bool) -> Vec<Arrival> {
        self.follower.poll(want, &mut self.problems)
    }

    pub fn caught_up(&self) -> bool {
        self.follower.caught_up()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stuck_subscriber_holds_one_wake_up_and_the_others_keep_up() {
        let hub = Hub::default();
        let stuck = hub.subscribe();
        let reader = hub.subscribe();
        for _ in 0..10_000 {
            hub.wake();
            assert!(reader.try_recv().is_ok());
        }
        assert_eq!(stuck.try_iter().count(), 1);
        drop(stuck);
        hub.wake();
        assert_eq!(hub.subscribers(), 1);
    }

    #[test]
    fn cursors_are_record_file_names() {
        let name = "20260101T000000.000Z-a.b-5f1c3a52-6d3e-5b8a-9c1d-2e3f4a5b6c7d";
        let c = Cursor::parse(name).unwrap();
        assert_eq!(c.as_str(), name);
        assert_eq!(c.timestamp(), "2026-01-01T00:00:00.000Z");
        assert_eq!(c.just_after(), "2026-01-01T00:00:00.001Z");
        for bad in ["", "../x", "20260101T000000.000Z-a.b-nope", "x\ny"] {
            assert!(Cursor::parse(bad).is_none(), "{bad}");
        }
    }
}
