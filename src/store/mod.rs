//! The store: `.events/` and everything that knows its shape. `layout`
//! says where things go (the fs sink writes by it); `reader` is the one
//! hardened way in (directories never through a symlink, record files
//! capped, regular files only); `events_dir`, `scan` and the filters read
//! the day folders for every reading command (`ls`, `show`, `tail`,
//! `stats`, `trace`, `gc`); `journal` and `follow` give each record stored
//! after a position, in storing order, to `tail -f` and the readers to come.
//!
//! Reading is shaped by the layout the sink writes (see `sinks::fs`): the
//! day folder names the date and the file name carries the event's time,
//! name and id, so a filter on time or name rules out folders and files
//! before any is opened. Only the files that survive are read, and a
//! record is parsed only when its raw bytes could match the remaining
//! filters. A stray, truncated or corrupt file is reported and skipped.

pub mod by_id;
pub mod cursor;
pub mod dirs;
pub mod events_dir;
pub mod file_name;
pub mod filter;
pub mod follow;
pub mod found;
pub mod journal;
pub mod layout;
pub mod problems;
pub mod reader;
pub mod scan;
pub mod time_spec;
pub mod where_clause;

pub use events_dir::{Day, EventsDir, Kind, Scope};
pub use file_name::FileName;
pub use filter::{Filter, Query};
pub use found::Found;
pub use problems::Problems;
pub use scan::{Order, Scan};
pub use where_clause::WhereClause;
