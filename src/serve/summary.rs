//! What `serve` keeps in memory about the whole store, built from every
//! stored record at start-up and kept up to date by the poller: the
//! sessions (for the session list) and the counters behind `/metrics`.
//! Built from the store, not from what `serve` saw, so nothing resets
//! when `serve` restarts. Memory grows with sessions, runs and names, not
//! with records.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::analysis::{Paired, Pairing};
use crate::enrich::Record;
use crate::enrich::enricher::{format_time, parse_time};
use crate::store::Kind;

/// Lifecycle records (hook-paths issue) that bound a subagent run.
pub const SUBAGENT_STARTED: &str = "claudeCode.subagentStarted";
pub const SUBAGENT_STOPPED: &str = "claudeCode.subagentStopped";

/// Histogram bounds, in seconds.
const BUCKETS: [f64; 13] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (c, b) in self.counts.iter_mut().zip(BUCKETS) {
            if seconds <= b {
                *c += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

#[derive(Default)]
struct RunSum {
    agent_id: Option<String>,
    agent_type: Option<String>,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    started: Option<DateTime<Utc>>,
    stopped: Option<DateTime<Utc>>,
}

impl RunSum {
    fn bounds(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let start = self.started.or(self.first)?;
        let end = self.stopped.or(self.last)?;
        Some((start, end.max(start)))
    }
}

#[derive(Default)]
struct SessionSum {
    session_id: Option<String>,
    trace_id: String,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    events: u64,
    invalid: u64,
    runs: HashMap<String, RunSum>,
}

/// One line of the session list.
#[derive(Serialize)]
pub struct SessionLine {
    /// The session id, else the trace id: what `/api/sessions/<id>` takes.
    pub id: String,
    pub session_id: Option<String>,
    pub trace_id: String,
    pub start: Option<String>,
    pub end: Option<String>,
    pub duration_ms: i64,
    pub events: u64,
    pub invalid: u64,
    pub runs: usize,
    pub agent_types: Vec<String>,
}

#[derive(Default)]
pub struct Summary {
    /// (name, agent type, validity) → records.
    events: BTreeMap<(String, String, &'static str), u64>,
    /// Error kind → dead letters with an error of that kind.
    dead_letters: BTreeMap<String, u64>,
    pairs: BTreeMap<String, Histogram>,
    pairing: Pairing,
    sessions: HashMap<String, SessionSum>,
    pub records: u64,
}

fn agent_type(r: &Record) -> &str {
    match (&r.source.agent_id, &r.source.agent_type) {
        (None, _) => "main",
        (Some(_), Some(t)) => t.as_str(),
        (Some(_), None) => "unknown",
    }
}

fn min(a: Option<DateTime<Utc>>, b: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(a.map_or(b, |a| a.min(b)))
}

fn max(a: Option<DateTime<Utc>>, b: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(a.map_or(b, |a| a.max(b)))
}

impl Summary {
    pub fn add(&mut self, kind: Kind, r: &Record) {
        self.records += 1;
        let valid = kind == Kind::Valid && r.is_valid();
        let name = r.name.clone().unwrap_or_else(|| "(no name)".into());
        let validity = if valid { "valid" } else { "invalid" };
        *self
            .events
            .entry((name.clone(), agent_type(r).to_string(), validity))
            .or_default() += 1;
        if !valid {
            let mut kinds: Vec<&str> = r.errors.iter().map(|e| e.kind.as_str()).collect();
            kinds.sort_unstable();
            kinds.dedup();
            for k in kinds {
                *self.dead_letters.entry(k.to_string()).or_default() += 1;
            }
        }
        let at = parse_time(&r.timestamp);
        if let (true, Some(at)) = (valid, at) {
            if let Paired::Closed {
                prefix, start, end, ..
            } = self.pairing.add(&r.span_id, &name, at, &r.attributes)
            {
                let seconds = (end - start).num_milliseconds() as f64 / 1000.0;
                self.pairs.entry(prefix).or_default().observe(seconds);
            }
        }
        let key = r
            .source
            .session_id
            .clone()
            .unwrap_or_else(|| r.trace_id.clone());
        let s = self.sessions.entry(key).or_default();
        if s.trace_id.is_empty() {
            s.trace_id = r.trace_id.clone();
            s.session_id = r.source.session_id.clone();
        }
        s.events += 1;
        if !valid {
            s.invalid += 1;
        }
        let Some(at) = at else { return };
        s.first = min(s.first, at);
        s.last = max(s.last, at);
        // A lifecycle record belongs to the run of the agent it names.
        let lifecycle = match r.name.as_deref() {
            Some(SUBAGENT_STARTED) => Some(true),
            Some(SUBAGENT_STOPPED) => Some(false),
            _ => None,
        };
        let run_key = match &r.source.agent_id {
            Some(id) => format!("agent:{id}"),
            None => format!("span:{}", r.span_id),
        };
        let run = s.runs.entry(run_key).or_default();
        run.agent_id = run.agent_id.take().or(r.source.agent_id.clone());
        run.agent_type = run.agent_type.take().or(r.source.agent_type.clone());
        match lifecycle {
            Some(true) => run.started = min(run.started, at),
            Some(false) => run.stopped = max(run.stopped, at),
            None => {
                run.first = min(run.first, at);
                run.last = max(run.last, at);
            }
        }
    }

    /// The first and last event time of the one session (or trace) whose
    /// id is or starts with `id`; `None` when none or several are.
    pub fn bounds(&self, id: &str) -> Option<(String, String)> {
        let mut found = self
            .sessions
            .iter()
            .filter(|(key, s)| key.starts_with(id) || s.trace_id.starts_with(id));
        let (_, s) = found.next()?;
        if found.next().is_some() {
            return None;
        }
        Some((format_time(s.first?), format_time(s.last?)))
    }

    /// Sessions, newest (latest event) first.
    pub fn sessions(&self, offset: usize, limit: usize) -> (usize, Vec<SessionLine>) {
        let mut all: Vec<(&String, &SessionSum)> = self.sessions.iter().collect();
        all.sort_by(|a, b| b.1.last.cmp(&a.1.last).then(a.0.cmp(b.0)));
        let total = all.len();
        let lines = all
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(id, s)| {
                let mut types: Vec<String> = s
                    .runs
                    .values()
                    .filter_map(|r| r.agent_type.clone())
                    .collect();
                types.sort();
                types.dedup();
                SessionLine {
                    id: id.clone(),
                    session_id: s.session_id.clone(),
                    trace_id: s.trace_id.clone(),
                    start: s.first.map(format_time),
                    end: s.last.map(format_time),
                    duration_ms: match (s.first, s.last) {
                        (Some(f), Some(l)) => (l - f).num_milliseconds(),
                        _ => 0,
                    },
                    events: s.events,
                    invalid: s.invalid,
                    runs: s.runs.len(),
                    agent_types: types,
                }
            })
            .collect();
        (total, lines)
    }

    /// The Prometheus text exposition (format 0.0.4), OpenMetrics-style
    /// names: counters end in `_total`, durations are in seconds.
    pub fn metrics(&self) -> String {
        let mut m = String::new();
        m += "# HELP event_publisher_events_total Records stored, by event name, agent type and validity.\n";
        m += "# TYPE event_publisher_events_total counter\n";
        for ((name, agent, validity), n) in &self.events {
            let _ = writeln!(
                m,
                "event_publisher_events_total{{name=\"{}\",agent_type=\"{}\",validity=\"{validity}\"}} {n}",
                label(name),
                label(agent)
            );
        }
        m += "# HELP event_publisher_dead_letters_total Dead letters, by the kind of error they carry.\n";
        m += "# TYPE event_publisher_dead_letters_total counter\n";
        for (kind, n) in &self.dead_letters {
            let _ = writeln!(
                m,
                "event_publisher_dead_letters_total{{error_kind=\"{}\"}} {n}",
                label(kind)
            );
        }
        m += "# HELP event_publisher_pair_duration_seconds Time from an XStarted event to its XCompleted, XFinished or XFailed, by X.\n";
        m += "# TYPE event_publisher_pair_duration_seconds histogram\n";
        for (pair, h) in &self.pairs {
            histogram(
                &mut m,
                "event_publisher_pair_duration_seconds",
                "pair",
                pair,
                h,
            );
        }
        let mut runs: BTreeMap<String, Histogram> = BTreeMap::new();
        for s in self.sessions.values() {
            for r in s.runs.values().filter(|r| r.agent_id.is_some()) {
                if let Some((start, end)) = r.bounds() {
                    let t = r.agent_type.clone().unwrap_or_else(|| "unknown".into());
                    runs.entry(t)
                        .or_default()
                        .observe((end - start).num_milliseconds() as f64 / 1000.0);
                }
            }
        }
        m += "# HELP event_publisher_subagent_run_duration_seconds Subagent runs, start to end (lifecycle records, else first to last event), by agent type.\n";
        m += "# TYPE event_publisher_subagent_run_duration_seconds histogram\n";
        for (t, h) in &runs {
            histogram(
                &mut m,
                "event_publisher_subagent_run_duration_seconds",
                "agent_type",
                t,
                h,
            );
        }
        m
    }
}

fn histogram(m: &mut String, name: &str, key: &str, value: &str, h: &Histogram) {
    let v = label(value);
    for (c, b) in h.counts.iter().zip(BUCKETS) {
        let _ = writeln!(m, "{name}_bucket{{{key}=\"{v}\",le=\"{b}\"}} {c}");
    }
    let _ = writeln!(m, "{name}_bucket{{{key}=\"{v}\",le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(m, "{name}_sum{{{key}=\"{v}\"}} {}", h.sum);
    let _ = writeln!(m, "{name}_count{{{key}=\"{v}\"}} {}", h.count);
}

/// A label value as the text format escapes it.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
