//! Start/finish pairs. A pair is `<x>Started` followed by `<x>Completed`
//! (or `<x>Finished`, `<x>Failed`) in the same agent run (span id), matched
//! on the attributes both carry (same name, same value), or on one
//! attribute alone. Each finish closes the earliest open start it matches.
//! Marks are fed in time order (starts before finishes at the same time).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::validate::lifecycle_schemas;

const START: &str = "Started";
const FINISHES: [&str; 3] = ["Completed", "Finished", "Failed"];

/// `(prefix, is_start)` of a start or finish name, e.g.
/// `urlCacher.cacheCheckStarted` → `("urlCacher.cacheCheck", true)`.
/// Lifecycle records (`claudeCode.subagentStarted`) are runs, not pairs.
pub fn split(name: &str) -> Option<(&str, bool)> {
    if lifecycle_schemas::is_reserved(name) {
        return None;
    }
    let (prefix, start) = if let Some(p) = name.strip_suffix(START) {
        (p, true)
    } else if let Some(p) = FINISHES.iter().find_map(|f| name.strip_suffix(f)) {
        (p, false)
    } else {
        return None;
    };
    (!prefix.is_empty() && !prefix.ends_with('.')).then_some((prefix, start))
}

/// What one mark did.
#[derive(Clone, Debug, PartialEq)]
pub enum Paired {
    /// Not a start or a finish.
    None,
    /// A start, now open.
    Opened,
    /// A finish that closed the start at `start`.
    Closed {
        prefix: String,
        span_id: String,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        failed: bool,
    },
    /// A finish no open start matched.
    Unmatched { prefix: String },
}

struct Open {
    at: DateTime<Utc>,
    attributes: Map<String, Value>,
}

/// The open starts, per (span id, prefix).
#[derive(Default)]
pub struct Pairing {
    pair_key: Option<String>,
    open: HashMap<(String, String), Vec<Open>>,
}

impl Pairing {
    pub fn new(pair_key: Option<&str>) -> Pairing {
        Pairing {
            pair_key: pair_key.map(str::to_string),
            open: HashMap::new(),
        }
    }

    /// Feeds one valid event.
    pub fn add(
        &mut self,
        span_id: &str,
        name: &str,
        at: DateTime<Utc>,
        attributes: &Map<String, Value>,
    ) -> Paired {
        let Some((prefix, start)) = split(name) else {
            return Paired::None;
        };
        let open = self
            .open
            .entry((span_id.to_string(), prefix.to_string()))
            .or_default();
        if start {
            open.push(Open {
                at,
                attributes: attributes.clone(),
            });
            return Paired::Opened;
        }
        let key = self.pair_key.as_deref();
        match open
            .iter()
            .position(|s| same_key(&s.attributes, attributes, key))
        {
            Some(i) => {
                let s = open.remove(i);
                Paired::Closed {
                    prefix: prefix.to_string(),
                    span_id: span_id.to_string(),
                    start: s.at,
                    end: at,
                    failed: name.ends_with("Failed"),
                }
            }
            None => Paired::Unmatched {
                prefix: prefix.to_string(),
            },
        }
    }

    /// Starts no finish matched, per prefix.
    pub fn unfinished(&self) -> impl Iterator<Item = (&str, usize)> {
        self.open
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|((_, prefix), v)| (prefix.as_str(), v.len()))
    }

    /// The open starts of one span: (prefix, start time).
    pub fn open_in(&self, span_id: &str) -> Vec<(String, DateTime<Utc>)> {
        let mut v: Vec<(String, DateTime<Utc>)> = self
            .open
            .iter()
            .filter(|((s, _), _)| s == span_id)
            .flat_map(|((_, p), opens)| opens.iter().map(|o| (p.clone(), o.at)))
            .collect();
        v.sort_by_key(|(_, at)| *at);
        v
    }
}

/// Do a start and a finish belong together?
fn same_key(
    start: &Map<String, Value>,
    finish: &Map<String, Value>,
    pair_key: Option<&str>,
) -> bool {
    match pair_key {
        Some(k) => start.get(k) == finish.get(k),
        None => start
            .iter()
            .all(|(k, v)| finish.get(k).is_none_or(|w| w == v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::enricher::parse_time;
    use serde_json::json;

    fn attrs(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn lifecycle_records_are_not_pairs() {
        assert_eq!(split("claudeCode.subagentStarted"), None);
        assert_eq!(
            split("urlCacher.cacheCheckStarted"),
            Some(("urlCacher.cacheCheck", true))
        );
    }

    #[test]
    fn a_finish_closes_the_earliest_matching_start() {
        let mut p = Pairing::new(None);
        let t = |s: &str| parse_time(s).unwrap();
        let a = attrs(json!({"url": "a"}));
        let b = attrs(json!({"url": "b"}));
        assert_eq!(
            p.add("s", "x.fetchStarted", t("2026-01-01T00:00:00Z"), &a),
            Paired::Opened
        );
        assert_eq!(
            p.add("s", "x.fetchStarted", t("2026-01-01T00:00:01Z"), &b),
            Paired::Opened
        );
        match p.add("s", "x.fetchFailed", t("2026-01-01T00:00:05Z"), &b) {
            Paired::Closed {
                prefix,
                start,
                failed,
                ..
            } => {
                assert_eq!(prefix, "x.fetch");
                assert_eq!(start, t("2026-01-01T00:00:01Z"));
                assert!(failed);
            }
            other => panic!("{other:?}"),
        }
        // Another run's finish does not close this run's start.
        assert!(matches!(
            p.add("other", "x.fetchCompleted", t("2026-01-01T00:00:06Z"), &a),
            Paired::Unmatched { .. }
        ));
        assert_eq!(p.unfinished().collect::<Vec<_>>(), vec![("x.fetch", 1)]);
        assert_eq!(
            p.add("s", "x.plain", t("2026-01-01T00:00:06Z"), &a),
            Paired::None
        );
        assert_eq!(split("x.Started"), None);
    }
}
