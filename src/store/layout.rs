//! The layout of `.events/`, in one place: where a record goes, what its
//! file is called, and the names of the state folders. The fs sink writes
//! by these rules and every reader reads by them; nothing else spells a
//! path under the events directory.
//!
//! ```text
//! .events/YYYY-MM-DD/<time>-<name>-<id>.json           valid events
//! .events/invalid/YYYY-MM-DD/<time>-<name>-<id>.json   dead letters
//! .events/.ids/<2 hex>/<id>.json                       the id index (hard links)
//! .events/.tmp/                                        named temp files (no O_TMPFILE)
//! .events/.journal/arrivals                            the arrival journal (see `follow`)
//! .events/.spool/                                      the OTLP spool (see `sinks::otlp::spool`)
//! .events/.cursors/                                    transcript cursors
//! .events/.dispatch/                                   dispatch cursors of subscribers
//! ```
//!
//! The day rule: a record's day folder is the `YYYY-MM-DD` of its own
//! timestamp (event time, not arrival time); a timestamp without one goes
//! to `0000-00-00`.

use super::events_dir::Kind;
use crate::enrich::Record;
use crate::validate::is_safe_name;

/// The id index: `.ids/<first two hex digits>/<id>.json`.
pub const ID_INDEX: &str = ".ids";
/// Where the day folders of dead letters go.
pub const INVALID: &str = "invalid";
/// Named temp files, on filesystems without `O_TMPFILE`.
pub const TEMP: &str = ".tmp";
/// The arrival journal the follower reads (`store::follow`).
pub const JOURNAL: &str = ".journal";
/// The OTLP spool.
pub const SPOOL: &str = ".spool";
/// Transcript cursors: how far each transcript has been read.
pub const CURSORS: &str = ".cursors";
/// Subscribers' dispatch cursors.
pub const DISPATCH: &str = ".dispatch";
/// Every state folder, present and planned: none holds records, and each is
/// opened like every other directory here (never through a symlink).
#[cfg(test)]
pub const STATE_FOLDERS: &[&str] = &[ID_INDEX, TEMP, JOURNAL, SPOOL, CURSORS, DISPATCH];

/// The name of a record without a safe event name (never a real event
/// name, which always holds a dot).
pub const NAMELESS: &str = "invalid";

/// The record's file name: `<time>-<name>-<id>.json`, the time written
/// `20250812T163000.000Z` so names sort by time and hold no `:`.
pub fn file_name(record: &Record) -> String {
    let name = record
        .name
        .as_deref()
        .filter(|n| is_safe_name(n))
        .unwrap_or(NAMELESS);
    format!(
        "{}-{name}-{}.json",
        compact_time(&record.timestamp),
        record.id
    )
}

/// `2025-08-12T16:30:00.000Z` → `20250812T163000.000Z`.
pub fn compact_time(ts: &str) -> String {
    ts.chars().filter(|c| *c != '-' && *c != ':').collect()
}

/// The record's day folder relative to the events directory:
/// `YYYY-MM-DD`, or `invalid/YYYY-MM-DD` for a dead letter.
pub fn day_dir(record: &Record) -> String {
    let kind = match record.is_valid() {
        true => Kind::Valid,
        false => Kind::Invalid,
    };
    kind_day_dir(kind, day(&record.timestamp))
}

/// The day folder of `kind` for `date`, relative to the events directory.
pub fn kind_day_dir(kind: Kind, date: &str) -> String {
    match kind {
        Kind::Valid => date.to_string(),
        Kind::Invalid => format!("{INVALID}/{date}"),
    }
}

/// The day of a timestamp, `YYYY-MM-DD`; `0000-00-00` when it has none.
pub fn day(timestamp: &str) -> &str {
    timestamp
        .get(..10)
        .filter(|d| is_day(d))
        .unwrap_or("0000-00-00")
}

/// Whether `d` is a day folder's name, `YYYY-MM-DD`.
pub fn is_day(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// The id index bucket of a record id, relative to the events directory.
pub fn id_bucket(id: &str) -> String {
    format!("{ID_INDEX}/{}", id.get(..2).unwrap_or("xx"))
}

/// The name of a record's entry in its id index bucket.
pub fn id_entry(id: &str) -> String {
    format!("{id}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_sort_by_time_and_have_no_colon() {
        assert_eq!(
            compact_time("2025-08-12T16:30:00.000Z"),
            "20250812T163000.000Z"
        );
    }

    #[test]
    fn the_day_rule() {
        assert_eq!(day("2025-08-12T16:30:00.000Z"), "2025-08-12");
        assert_eq!(day("garbage"), "0000-00-00");
        assert_eq!(day("2025/08/12T"), "0000-00-00");
        assert!(is_day("2025-08-12"));
        for bad in ["2025-8-12", "2025_08_12", "20250812", "2025-08-1x", ".ids"] {
            assert!(!is_day(bad), "{bad}");
        }
        assert_eq!(
            kind_day_dir(Kind::Invalid, "2025-08-12"),
            "invalid/2025-08-12"
        );
        assert_eq!(id_bucket("5f1c3a52"), ".ids/5f");
    }

    #[test]
    fn no_state_folder_is_a_day_or_invalid() {
        for f in STATE_FOLDERS {
            assert!(f.starts_with('.'), "{f}: readers skip dot folders");
            assert!(!is_day(f) && *f != INVALID);
        }
    }
}
