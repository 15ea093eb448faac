//! A record's file name, `<20250812T163000.000Z>-<name>-<uuid>.json`, taken
//! apart without opening the file: what lets filters on time, name and id
//! skip files.

/// The parts of a record file name. `name` is `invalid` for a dead letter
/// whose event had no usable name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileName {
    file: String,
    /// Where the name ends (it starts after the time and a `-`).
    name_end: usize,
}

const TIME_LEN: usize = "20250812T163000.000Z".len();
const ID_LEN: usize = 36;
const SUFFIX: &str = ".json";

pub use super::layout::NAMELESS;

impl FileName {
    /// Parses a file name; `None` when it is not one the sink writes.
    pub fn parse(file: &str) -> Option<FileName> {
        let stem = file.strip_suffix(SUFFIX)?;
        if stem.len() < TIME_LEN + 1 + 1 + 1 + ID_LEN || !stem.is_ascii() {
            return None;
        }
        let b = stem.as_bytes();
        if !is_compact_time(&b[..TIME_LEN]) || b[TIME_LEN] != b'-' {
            return None;
        }
        let id_start = stem.len() - ID_LEN;
        if b[id_start - 1] != b'-' || !is_uuid(&b[id_start..]) {
            return None;
        }
        let name_end = id_start - 1;
        if name_end <= TIME_LEN + 1 {
            return None;
        }
        Some(FileName {
            file: file.to_string(),
            name_end,
        })
    }

    /// The whole file name.
    pub fn as_str(&self) -> &str {
        &self.file
    }

    /// `20250812T163000.000Z`: sorts as the time does.
    pub fn compact_time(&self) -> &str {
        &self.file[..TIME_LEN]
    }

    /// `2025-08-12T16:30:00.000Z`.
    pub fn timestamp(&self) -> String {
        let t = self.compact_time();
        format!(
            "{}-{}-{}T{}:{}:{}",
            &t[0..4],
            &t[4..6],
            &t[6..8],
            &t[9..11],
            &t[11..13],
            &t[13..]
        )
    }

    /// The event name as written in the file name.
    pub fn name(&self) -> &str {
        &self.file[TIME_LEN + 1..self.name_end]
    }

    /// The record id (hyphenated, lower case).
    pub fn id(&self) -> &str {
        let end = self.file.len() - SUFFIX.len();
        &self.file[end - ID_LEN..end]
    }
}

fn is_compact_time(b: &[u8]) -> bool {
    // 20250812T163000.000Z
    b.len() == TIME_LEN
        && b.iter().enumerate().all(|(i, c)| match i {
            8 => *c == b'T',
            15 => *c == b'.',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() == ID_LEN
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Converts an RFC 3339 UTC millisecond timestamp to the compact form used
/// in file names, for comparing with `compact_time`.
pub fn compact(timestamp: &str) -> String {
    super::layout::compact_time(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "5f1c3a52-6d3e-5b8a-9c1d-2e3f4a5b6c7d";

    #[test]
    fn takes_apart_what_the_sink_writes() {
        let f = FileName::parse(&format!(
            "20250812T163000.000Z-urlCacher.cacheRequested-{ID}.json"
        ))
        .unwrap();
        assert_eq!(f.compact_time(), "20250812T163000.000Z");
        assert_eq!(f.timestamp(), "2025-08-12T16:30:00.000Z");
        assert_eq!(f.name(), "urlCacher.cacheRequested");
        assert_eq!(f.id(), ID);
        assert_eq!(compact(&f.timestamp()), f.compact_time());
    }

    #[test]
    fn agrees_with_record_file_name() {
        let r = crate::enrich::Record {
            id: uuid::Uuid::parse_str(ID).unwrap(),
            name: None,
            timestamp: "2026-01-02T03:04:05.678Z".into(),
            observed_timestamp: "2026-01-02T03:04:05.678Z".into(),
            attributes: Default::default(),
            trace_id: String::new(),
            span_id: String::new(),
            parent_span_id: None,
            source: Default::default(),
            given_id: None,
            raw: None,
            errors: vec![],
            caused_by: None,
        };
        let f = FileName::parse(&super::super::layout::file_name(&r)).unwrap();
        assert_eq!(f.name(), NAMELESS);
        assert_eq!(f.timestamp(), r.timestamp);
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            "notes.txt",
            ".json",
            &format!("20250812T163000.000Z-{ID}.json"),
            &format!("20250812T163000.000Z--{ID}.json"),
            &format!("2025-08-12T16:30:00.000Z-a.b-{ID}.json"),
            &format!("20250812T163000.000Z-a.b-{ID}.json.tmp"),
            "20250812T163000.000Z-a.b-not-a-uuid-at-all-xxxxxxxxxxxxxxxxxx.json",
        ] {
            assert!(FileName::parse(bad).is_none(), "{bad}");
        }
    }
}
