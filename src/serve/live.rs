//! What the live parts of `serve` need from the store: a position in the
//! order of records, "every record after position P", and "tell me about
//! each new record" to every SSE client through a bounded queue.
//!
//! STOPGAP until the store's durable follower (`store::follow`, issue 11)
//! lands: a position here is a record's file name stem (event time, name,
//! id), so "after P" is event-time order; and new records are found by
//! polling the day folders' modification times every 100 ms. A record
//! stored while no client listens, with an event time older than the
//! client's position (a `replay` of old transcripts), is not resent on
//! resume. Only `Position`, `after` and `Poller` change when the follower
//! is wired in.

use std::collections::{HashMap, HashSet};
use std::iter::Peekable;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use uuid::Uuid;

use crate::enrich::Record;
use crate::enrich::enricher::{format_time, parse_time};
use crate::store::events_dir::read_at;
use crate::store::{EventsDir, FileName, Filter, Found, Kind, Order, Problems, Scan, Scope};

/// How many updates wait for one SSE client before it is dropped (it
/// reconnects with `Last-Event-ID` and misses nothing).
pub const QUEUE: usize = 4096;
/// How often the day folders are looked at.
const POLL: Duration = Duration::from_millis(100);

/// A place in the order of records, sent as an SSE `id:`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position(String);

impl Position {
    /// Parses what a client sent back; `None` when it is not a position.
    pub fn parse(s: &str) -> Option<Position> {
        FileName::parse(&format!("{}.json", s.trim())).map(|f| Position::of(&f))
    }

    pub fn of(file: &FileName) -> Position {
        Position(file.as_str().trim_end_matches(".json").to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The event time of the record at this position (RFC 3339).
    pub fn timestamp(&self) -> String {
        FileName::parse(&format!("{}.json", self.0))
            .map(|f| f.timestamp())
            .unwrap_or_default()
    }

    /// One millisecond after this position's time: an exclusive bound that
    /// keeps every record of the same millisecond.
    pub fn just_after(&self) -> String {
        parse_time(&self.timestamp())
            .map(|t| format_time(t + chrono::Duration::milliseconds(1)))
            .unwrap_or_default()
    }
}

/// One stored record, as the live parts pass it around.
#[derive(Debug)]
pub struct Update {
    pub position: Position,
    pub kind: Kind,
    pub record: Record,
    /// The record as JSON on one line.
    pub json: String,
}

impl Update {
    pub fn new(position: Position, kind: Kind, record: Record) -> Update {
        Update {
            position,
            kind,
            record,
            json: String::new(),
        }
    }

    /// With its JSON written once, for every client it goes to (records
    /// read at start-up are only summarised and never need it).
    fn with_json(mut self) -> Update {
        self.json = serde_json::to_string(&self.record).unwrap_or_default();
        self
    }
}

/// The scans of each kind in `scope`, merged into one order by position.
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

/// Every record matching `filter` after `position`, oldest first.
pub fn after<'a>(
    dir: &'a EventsDir,
    filter: &'a Filter,
    scope: Scope,
    position: &'a Position,
) -> impl Iterator<Item = Found> + 'a {
    Merged::new(dir, filter, scope, Order::OldestFirst)
        .filter(move |f| Position::of(&f.file) > *position)
}

/// Hands each new record to every subscriber, through bounded queues.
#[derive(Default)]
pub struct Hub {
    state: Mutex<HubState>,
}

#[derive(Default)]
struct HubState {
    subscribers: Vec<SyncSender<Arc<Update>>>,
    /// The greatest position handed out.
    head: Option<Position>,
}

impl Hub {
    /// A queue of the records stored from now on, and the position they
    /// follow.
    pub fn subscribe(&self) -> (Receiver<Arc<Update>>, Option<Position>) {
        let (tx, rx) = sync_channel(QUEUE);
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.subscribers.push(tx);
        (rx, s.head.clone())
    }

    pub fn head(&self) -> Option<Position> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .head
            .clone()
    }

    pub fn subscribers(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .subscribers
            .len()
    }

    /// Hands out a batch; a subscriber whose queue is full or gone is
    /// dropped, so a stuck client costs at most `QUEUE` slots.
    fn publish(&self, batch: &[Arc<Update>]) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for u in batch {
            if s.head.as_ref().is_none_or(|h| u.position > *h) {
                s.head = Some(u.position.clone());
            }
            s.subscribers.retain(|tx| match tx.try_send(u.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            });
        }
    }

    fn set_head(&self, p: Option<Position>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if p > s.head {
            s.head = p;
        }
    }
}

/// Finds new records by looking at the day folders: first every record
/// already stored (each handed to `seen`, not to the hub), then, forever,
/// each new one (to `seen` and the hub).
pub struct Poller {
    root: PathBuf,
    /// Day folder → (its modification time, the ids listed in it).
    known: HashMap<PathBuf, (Option<SystemTime>, HashSet<Uuid>)>,
    buf: Vec<u8>,
}

impl Poller {
    pub fn new(root: &Path) -> Poller {
        Poller {
            root: root.to_path_buf(),
            known: HashMap::new(),
            buf: Vec::new(),
        }
    }

    /// Runs forever on the current thread.
    pub fn run(mut self, hub: &Hub, mut seen: impl FnMut(&Update), mut ready: impl FnMut()) {
        // What is already stored streams through, never held at once.
        let mut head = None;
        self.poll(&mut |u| {
            if Some(&u.position) > head.as_ref() {
                head = Some(u.position.clone());
            }
            seen(&u);
        });
        hub.set_head(head);
        ready();
        loop {
            std::thread::sleep(POLL);
            let mut batch = Vec::new();
            self.poll(&mut |u| batch.push(u));
            batch.sort_by(|a, b| a.position.cmp(&b.position));
            let batch: Vec<Arc<Update>> =
                batch.into_iter().map(|u| Arc::new(u.with_json())).collect();
            for u in &batch {
                seen(u);
            }
            if !batch.is_empty() {
                hub.publish(&batch);
            }
        }
    }

    /// Hands over each record that appeared since the last look: valid
    /// ones first, each kind in time order.
    fn poll(&mut self, emit: &mut dyn FnMut(Update)) {
        let Ok(Some(dir)) = EventsDir::open(&self.root) else {
            return;
        };
        let mut problems = Problems::quiet();
        let now = SystemTime::now();
        let mut present = HashSet::new();
        for kind in [Kind::Valid, Kind::Invalid] {
            for day in dir.days(kind, &mut problems) {
                present.insert(day.path.clone());
                let mtime = std::fs::metadata(&day.path).and_then(|m| m.modified()).ok();
                let entry = self.known.entry(day.path.clone()).or_default();
                // A folder changed within the clock's granularity is looked
                // at again, in case two changes share one time.
                let recent = mtime
                    .and_then(|m| now.duration_since(m).ok())
                    .is_none_or(|d| d < Duration::from_secs(2));
                if entry.0 == mtime && !recent && entry.0.is_some() {
                    continue;
                }
                entry.0 = mtime;
                let files = dir.files(&day, &mut problems);
                let fresh: Vec<FileName> = files
                    .into_iter()
                    .filter(|f| Uuid::parse_str(f.id()).is_ok_and(|id| !entry.1.contains(&id)))
                    .collect();
                if fresh.is_empty() {
                    continue;
                }
                let Ok(fd) = dir.open_day(&day) else { continue };
                for f in fresh {
                    if read_at(&fd, f.as_str(), &mut self.buf).is_err() {
                        continue;
                    }
                    let Ok(record) = serde_json::from_slice::<Record>(&self.buf) else {
                        // Not complete yet, or never a record: looked at again
                        // while its folder is recent.
                        continue;
                    };
                    if let Ok(id) = Uuid::parse_str(f.id()) {
                        entry.1.insert(id);
                    }
                    emit(Update::new(Position::of(&f), kind, record));
                }
            }
        }
        // Folders gc removed are forgotten.
        self.known.retain(|p, _| present.contains(p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(i: usize) -> Arc<Update> {
        let id = uuid::Uuid::from_u128(i as u128);
        let record: Record = serde_json::from_value(serde_json::json!({
            "id": id, "name": "a.b", "timestamp": "2026-01-01T00:00:00.000Z",
            "observed_timestamp": "2026-01-01T00:00:00.000Z", "trace_id": "t", "span_id": "s",
            "parent_span_id": null, "source": {}
        }))
        .unwrap();
        let file = FileName::parse(&record.file_name()).unwrap();
        Arc::new(Update::new(Position::of(&file), Kind::Valid, record).with_json())
    }

    #[test]
    fn a_stuck_subscriber_is_dropped_and_the_others_keep_up() {
        let hub = Hub::default();
        let (stuck, _) = hub.subscribe();
        let (reader, _) = hub.subscribe();
        for i in 0..QUEUE + 10 {
            hub.publish(&[update(i)]);
            assert_eq!(reader.try_recv().unwrap().record.id, update(i).record.id);
        }
        // The stuck one holds at most QUEUE updates, then is let go.
        assert_eq!(hub.subscribers(), 1);
        assert_eq!(stuck.try_iter().count(), QUEUE);
        assert!(matches!(
            stuck.try_recv(),
            Err(std::sync::mpsc::TryRecvError::Disconnected)
        ));
    }

    #[test]
    fn positions_are_record_file_names() {
        let u = update(7);
        let p = Position::parse(u.position.as_str()).unwrap();
        assert_eq!(p, u.position);
        assert_eq!(p.timestamp(), "2026-01-01T00:00:00.000Z");
        assert_eq!(p.just_after(), "2026-01-01T00:00:00.001Z");
        for bad in ["", "../x", "20260101T000000.000Z-a.b-nope", "x\ny"] {
            assert!(Position::parse(bad).is_none(), "{bad}");
        }
    }
}
