//! One record found by its id, through the id index, without listing
//! anything: how a hook finds an earlier hook's lifecycle record (the time
//! a subagent started) when all it knows is the record's deterministic id.

use std::path::Path;

use rustix::fs::{Mode, OFlags};

use super::events_dir::read_at;
use crate::enrich::Record;
use crate::sinks::fs::ID_INDEX;

/// The stored record with this id; None when it is not stored (or cannot
/// be read: the caller falls back to what it knows).
pub fn record(events_dir: &Path, id: &uuid::Uuid) -> Option<Record> {
    let id = id.to_string();
    let open = |dir: &rustix::fd::OwnedFd, name: &str| {
        rustix::fs::openat(
            dir,
            name,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
    };
    let root = rustix::fs::open(
        events_dir,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let index = open(&root, ID_INDEX)?;
    let dir = open(&index, &id[..2])?;
    let mut buf = Vec::new();
    read_at(&dir, &format!("{id}.json"), &mut buf).ok()?;
    serde_json::from_slice(&buf).ok()
}
