//! The filters every reading command shares: `--name`, `--agent`,
//! `--session`, `--trace`, `--since`/`--until`, `--invalid`, `--where`.
//!
//! A filter is applied in three steps, each cheaper than the next is
//! costly: on day folder names and file names (time, name), on the raw
//! bytes of a file (the ids and values it must contain), and on the parsed
//! record.

use chrono::{DateTime, Utc};
use memchr::memmem;

use super::events_dir::Scope;
use super::file_name::{FileName, NAMELESS, compact};
use super::time_spec::parse_time;
use super::where_clause::WhereClause;
use crate::enrich::Record;
use crate::enrich::enricher::{format_time, parse_time as parse_stored_time};
use crate::error::{Error, Result};

/// What a reader asks for, as given (the `ls` flags, `serve`'s query):
/// checked and compiled into a `Filter` by `Filter::new`.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// A glob on the event name.
    pub name: Option<String>,
    /// An agent id (or prefix), an agent type, or `main`.
    pub agent: Option<String>,
    /// A session id or prefix.
    pub session: Option<String>,
    /// A trace id or prefix.
    pub trace: Option<String>,
    /// A time (`time_spec`): at or after.
    pub since: Option<String>,
    /// A time: before.
    pub until: Option<String>,
    /// The dead letters instead of the valid events.
    pub invalid: bool,
    /// `ATTR=VALUE` clauses, all of which must hold.
    pub wheres: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Filter {
    name: Option<glob::Pattern>,
    agent: Option<String>,
    session: Option<String>,
    trace: Option<String>,
    /// Inclusive, as a compact time for comparing with file names.
    since: Option<String>,
    /// Exclusive.
    until: Option<String>,
    invalid: bool,
    wheres: Vec<WhereClause>,
    needles: Vec<memmem::Finder<'static>>,
}

impl Filter {
    /// Matches everything.
    pub fn all() -> Filter {
        Filter::default()
    }

    pub fn new(args: &Query, now: DateTime<Utc>) -> Result<Filter> {
        let name = args
            .name
            .as_deref()
            .map(|g| {
                glob::Pattern::new(g)
                    .map_err(|e| Error::new(format!("--name {g:?} is not a glob: {e}")))
            })
            .transpose()?;
        let time = |flag: &str, v: &Option<String>| -> Result<Option<String>> {
            v.as_deref()
                .map(|s| {
                    parse_time(s, now)
                        .map(|t| compact(&format_time(t)))
                        .map_err(|e| e.context(flag))
                })
                .transpose()
        };
        let since = time("--since", &args.since)?;
        let until = time("--until", &args.until)?;
        let wheres = args
            .wheres
            .iter()
            .map(|w| WhereClause::parse(w))
            .collect::<Result<Vec<_>>>()?;
        let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        let mut f = Filter {
            name,
            agent: nonempty(&args.agent),
            session: nonempty(&args.session),
            trace: nonempty(&args.trace).map(|t| t.to_ascii_lowercase()),
            since,
            until,
            invalid: args.invalid,
            wheres,
            needles: Vec::new(),
        };
        f.needles = f
            .needle_strings()
            .into_iter()
            .map(|n| memmem::Finder::new(n.as_bytes()).into_owned())
            .collect();
        Ok(f)
    }

    /// Only events before `timestamp` (RFC 3339 UTC millis), on top of
    /// `--until`.
    pub fn before(mut self, timestamp: &str) -> Filter {
        let t = compact(timestamp);
        if self.until.as_deref().is_none_or(|u| t.as_str() < u) {
            self.until = Some(t);
        }
        self
    }

    /// Only events at or after `timestamp` (RFC 3339 UTC millis), on top
    /// of `--since`.
    pub fn at_or_after(mut self, timestamp: &str) -> Filter {
        let t = compact(timestamp);
        if self.since.as_deref().is_none_or(|s| t.as_str() > s) {
            self.since = Some(t);
        }
        self
    }

    /// Only files whose bytes hold `needle` (which must be written
    /// unescaped in JSON, as ids are) can match.
    pub fn with_needle(mut self, needle: &str) -> Filter {
        self.needles
            .push(memmem::Finder::new(needle.as_bytes()).into_owned());
        self
    }

    fn needle_strings(&self) -> Vec<String> {
        let safe = |s: &str| s.chars().all(|c| c >= ' ' && c != '"' && c != '\\');
        let mut n: Vec<String> = Vec::new();
        for v in [&self.session, &self.trace].into_iter().flatten() {
            if safe(v) {
                n.push(v.clone());
            }
        }
        if let Some(a) = self.agent.as_deref().filter(|a| *a != "main" && safe(a)) {
            n.push(a.to_string());
        }
        n.extend(
            self.wheres
                .iter()
                .filter_map(|w| w.needle())
                .map(str::to_string),
        );
        n
    }

    /// The kinds to read: the dead letters with `--invalid`, else `default`.
    pub fn scope(&self, default: Scope) -> Scope {
        if self.invalid {
            Scope::Invalid
        } else {
            default
        }
    }

    /// Could a day folder hold a match?
    pub fn day_may_match(&self, date: &str) -> bool {
        // Dates compare with the first 8 characters of a compact time.
        let d: String = date.chars().filter(|c| *c != '-').collect();
        if let Some(s) = &self.since {
            if d.as_str() < &s[..8] {
                return false;
            }
        }
        if let Some(u) = &self.until {
            if d.as_str() > &u[..8] {
                return false;
            }
        }
        true
    }

    /// Could this file hold a match, judging by its name?
    pub fn file_may_match(&self, f: &FileName) -> bool {
        let t = f.compact_time();
        if self.since.as_deref().is_some_and(|s| t < s)
            || self.until.as_deref().is_some_and(|u| t >= u)
        {
            return false;
        }
        match &self.name {
            Some(p) => f.name() == NAMELESS || p.matches(f.name()),
            None => true,
        }
    }

    /// Could these raw bytes be a matching record?
    pub fn bytes_may_match(&self, bytes: &[u8]) -> bool {
        self.needles.iter().all(|n| n.find(bytes).is_some())
    }

    /// Does the record match every filter?
    pub fn matches(&self, r: &Record) -> bool {
        if let Some(p) = &self.name {
            if !r.name.as_deref().is_some_and(|n| p.matches(n)) {
                return false;
            }
        }
        if let Some(a) = &self.agent {
            let ok = match &r.source.agent_id {
                None => a == "main",
                Some(id) => id.starts_with(a.as_str()) || r.source.agent_type.as_deref() == Some(a),
            };
            if !ok {
                return false;
            }
        }
        if let Some(s) = &self.session {
            if !r
                .source
                .session_id
                .as_deref()
                .is_some_and(|id| id.starts_with(s.as_str()))
            {
                return false;
            }
        }
        if let Some(t) = &self.trace {
            if !r.trace_id.starts_with(t.as_str()) {
                return false;
            }
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(t) = parse_stored_time(&r.timestamp) else {
                return false;
            };
            let t = compact(&format_time(t));
            if self.since.as_deref().is_some_and(|s| t.as_str() < s)
                || self.until.as_deref().is_some_and(|u| t.as_str() >= u)
            {
                return false;
            }
        }
        self.wheres.iter().all(|w| w.matches(&r.attributes))
    }

    /// True when only time filters are set: file names decide everything.
    pub fn by_file_name_only(&self) -> bool {
        self.name.is_none()
            && self.agent.is_none()
            && self.session.is_none()
            && self.trace.is_none()
            && self.wheres.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        parse_stored_time("2026-01-10T12:00:00Z").unwrap()
    }

    fn filter(f: impl FnOnce(&mut Query)) -> Filter {
        let mut a = Query::default();
        f(&mut a);
        Filter::new(&a, now()).unwrap()
    }

    fn file(t: &str, name: &str) -> FileName {
        FileName::parse(&format!(
            "{}-{name}-5f1c3a52-6d3e-5b8a-9c1d-2e3f4a5b6c7d.json",
            compact(t)
        ))
        .unwrap()
    }

    #[test]
    fn time_and_name_prune_days_and_files() {
        let f = filter(|a| {
            a.since = Some("2026-01-09".into());
            a.until = Some("2026-01-10T06:00:00Z".into());
            a.name = Some("url*.cache*".into());
        });
        assert!(!f.day_may_match("2026-01-08"));
        assert!(f.day_may_match("2026-01-09"));
        assert!(f.day_may_match("2026-01-10"));
        assert!(!f.day_may_match("2026-01-11"));
        assert!(f.file_may_match(&file(
            "2026-01-09T00:00:00.000Z",
            "urlCacher.cacheRequested"
        )));
        assert!(!f.file_may_match(&file(
            "2026-01-10T06:00:00.000Z",
            "urlCacher.cacheRequested"
        )));
        assert!(!f.file_may_match(&file("2026-01-09T10:00:00.000Z", "urlCacher.urlValidated")));
        // A nameless dead letter must be opened to be judged.
        assert!(f.file_may_match(&file("2026-01-09T10:00:00.000Z", NAMELESS)));
    }

    #[test]
    fn relative_since_counts_back_from_now() {
        let f = filter(|a| a.since = Some("2h".into()));
        assert!(!f.file_may_match(&file("2026-01-10T09:59:59.999Z", "a.b")));
        assert!(f.file_may_match(&file("2026-01-10T10:00:00.000Z", "a.b")));
    }

    #[test]
    fn bad_values_are_errors() {
        let mut a = Query {
            since: Some("yesterday".into()),
            ..Query::default()
        };
        assert!(
            Filter::new(&a, now())
                .unwrap_err()
                .to_string()
                .starts_with("--since")
        );
        a.since = None;
        a.name = Some("[".into());
        assert!(Filter::new(&a, now()).is_err());
    }

    #[test]
    fn needles_demand_ids_in_the_bytes() {
        let f = filter(|a| {
            a.session = Some("e0d0".into());
            a.wheres = vec!["url=https://x/".into()];
        });
        assert!(f.bytes_may_match(br#"{"session_id":"e0d02c","url":"https://x/"}"#));
        assert!(!f.bytes_may_match(br#"{"session_id":"e0d02c","url":"https://y/"}"#));
        let main = filter(|a| a.agent = Some("main".into()));
        assert!(main.bytes_may_match(b"{}"));
    }
}
