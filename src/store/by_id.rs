//! One record found by its id, through the id index, without listing
//! anything: how a hook finds an earlier hook's lifecycle record (the time
//! a subagent started) when all it knows is the record's deterministic id.

use std::path::Path;

use super::{layout, reader};
use crate::enrich::Record;

/// The stored record with this id; None when it is not stored (or cannot
/// be read: the caller falls back to what it knows).
pub fn record(events_dir: &Path, id: &uuid::Uuid) -> Option<Record> {
    let id = id.to_string();
    let root = reader::open_root(events_dir).ok()??;
    let bucket = reader::open_dir(&root, layout::id_bucket(&id)).ok()?;
    reader::load_record(&bucket, layout::id_entry(&id)).ok()
}
