//! The stats engine behind `stats`: records fed in time order give counts
//! by name, by agent type and by validity, the first and last time, events
//! per minute, the durations of start/finish pairs (`pairs`), and from the
//! lifecycle records the subagent runs by agent type and the failed tool
//! calls by tool. The command renders what it computes.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::pairs::{self, Paired, Pairing};
use crate::enrich::Record;
use crate::enrich::enricher::{format_time, parse_time};
use crate::store::Kind;
use crate::validate::lifecycle_schemas;

/// What `stats` gives for a range (its JSON output as is).
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub events: usize,
    pub valid: usize,
    pub invalid: usize,
    pub first: Option<String>,
    pub last: Option<String>,
    /// Events per minute between the first and the last (over at least a minute).
    pub per_minute: f64,
    pub by_name: Vec<Count>,
    pub by_agent_type: Vec<Count>,
    pub durations: Vec<Durations>,
    /// Subagent runs by agent type, from the lifecycle records: `name` is
    /// the agent type, `pairs` the runs that started and stopped,
    /// `unfinished` those that never stopped (so far).
    pub runs: Vec<Durations>,
    /// Failed tool calls (`claudeCode.toolFailed`) by tool name.
    pub failures_by_tool: Vec<Count>,
}

#[derive(Debug, Serialize)]
pub struct Count {
    pub key: String,
    pub count: usize,
}

#[derive(Debug, Serialize)]
pub struct Durations {
    /// The common prefix, e.g. `urlCacher.cacheCheck`.
    pub name: String,
    pub pairs: usize,
    pub p50_ms: i64,
    pub p90_ms: i64,
    pub max_ms: i64,
    /// Starts no finish matched.
    pub unfinished: usize,
    /// Finishes no start matched.
    pub unmatched: usize,
}

/// One start or finish event.
struct Mark {
    at: DateTime<Utc>,
    start: bool,
    span_id: String,
    name: String,
    attributes: Map<String, Value>,
}

/// Takes the records one at a time; `finish` gives the stats.
#[derive(Default)]
pub struct Collector {
    stats: Stats,
    by_name: HashMap<String, usize>,
    by_agent: HashMap<String, usize>,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    marks: Vec<Mark>,
    /// Run span id → (agent type, started, stopped).
    runs: HashMap<String, RunMarks>,
    failures: HashMap<String, usize>,
}

#[derive(Default)]
struct RunMarks {
    agent_type: Option<String>,
    started: Option<DateTime<Utc>>,
    stopped: Option<DateTime<Utc>>,
}

impl Collector {
    pub fn add(&mut self, r: &Record, kind: Kind) {
        let s = &mut self.stats;
        s.events += 1;
        match kind {
            Kind::Valid => s.valid += 1,
            Kind::Invalid => s.invalid += 1,
        }
        let name = r.name.as_deref().unwrap_or("(no name)");
        *self.by_name.entry(name.to_string()).or_default() += 1;
        let agent = match (&r.source.agent_id, &r.source.agent_type) {
            (None, _) => "main",
            (Some(_), Some(t)) => t.as_str(),
            (Some(_), None) => "(unknown type)",
        };
        *self.by_agent.entry(agent.to_string()).or_default() += 1;
        let Some(at) = parse_time(&r.timestamp) else {
            return;
        };
        self.first = Some(self.first.map_or(at, |f| f.min(at)));
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
        if kind != Kind::Valid {
            return;
        }
        let Some(name) = &r.name else { return };
        if lifecycle_schemas::is_reserved(name) {
            self.lifecycle(name, r, at);
            return;
        }
        let Some((_, start)) = pairs::split(name) else {
            return;
        };
        self.marks.push(Mark {
            at,
            start,
            span_id: r.span_id.clone(),
            name: name.clone(),
            attributes: r.attributes.clone(),
        });
    }

    fn lifecycle(&mut self, name: &str, r: &Record, at: DateTime<Utc>) {
        let run = || RunMarks::default();
        match name {
            "claudeCode.subagentStarted" | "claudeCode.subagentStopped" => {
                let m = self.runs.entry(r.span_id.clone()).or_insert_with(run);
                m.agent_type = m.agent_type.take().or_else(|| r.source.agent_type.clone());
                match name.ends_with("Started") {
                    true => m.started = Some(at),
                    false => m.stopped = Some(at),
                }
            }
            "claudeCode.toolFailed" => {
                let tool = r.attributes.get("tool_name").and_then(Value::as_str);
                *self
                    .failures
                    .entry(tool.unwrap_or("(unknown tool)").to_string())
                    .or_default() += 1;
            }
            _ => {}
        }
    }

    pub fn finish(mut self, pair_key: Option<&str>) -> Stats {
        let counts = |m: HashMap<String, usize>| {
            let mut v: Vec<Count> = m
                .into_iter()
                .map(|(key, count)| Count { key, count })
                .collect();
            v.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
            v
        };
        self.stats.by_name = counts(std::mem::take(&mut self.by_name));
        self.stats.by_agent_type = counts(std::mem::take(&mut self.by_agent));
        self.stats.failures_by_tool = counts(std::mem::take(&mut self.failures));
        // agent type → (durations, unfinished, stopped without a start)
        let mut runs: BTreeMap<String, (Vec<i64>, usize, usize)> = BTreeMap::new();
        for m in std::mem::take(&mut self.runs).into_values() {
            let kind = m.agent_type.unwrap_or_else(|| "(unknown type)".into());
            let entry = runs.entry(kind).or_default();
            match (m.started, m.stopped) {
                (Some(a), Some(b)) => entry.0.push((b - a).num_milliseconds().max(0)),
                (Some(_), None) => entry.1 += 1,
                (None, _) => entry.2 += 1,
            }
        }
        self.stats.runs = runs
            .into_iter()
            .map(|(name, (d, unfinished, unmatched))| durations(name, d, unfinished, unmatched))
            .collect();
        self.stats.first = self.first.map(format_time);
        self.stats.last = self.last.map(format_time);
        if let (Some(f), Some(l)) = (self.first, self.last) {
            let minutes = ((l - f).num_milliseconds() as f64 / 60_000.0).max(1.0);
            self.stats.per_minute = self.stats.events as f64 / minutes;
        }
        // prefix → (durations, unfinished, unmatched)
        let mut by_prefix: BTreeMap<String, (Vec<i64>, usize, usize)> = BTreeMap::new();
        self.marks.sort_by_key(|m| (m.at, !m.start));
        let mut pairing = Pairing::new(pair_key);
        for m in &self.marks {
            match pairing.add(&m.span_id, &m.name, m.at, &m.attributes) {
                Paired::Closed {
                    prefix, start, end, ..
                } => by_prefix
                    .entry(prefix)
                    .or_default()
                    .0
                    .push((end - start).num_milliseconds()),
                Paired::Unmatched { prefix } => by_prefix.entry(prefix).or_default().2 += 1,
                Paired::Opened | Paired::None => {}
            }
        }
        for (prefix, n) in pairing.unfinished() {
            by_prefix.entry(prefix.to_string()).or_default().1 += n;
        }
        self.stats.durations = by_prefix
            .into_iter()
            .map(|(name, (d, unfinished, unmatched))| durations(name, d, unfinished, unmatched))
            .collect();
        self.stats
    }
}

fn durations(name: String, mut d: Vec<i64>, unfinished: usize, unmatched: usize) -> Durations {
    d.sort_unstable();
    Durations {
        name,
        pairs: d.len(),
        p50_ms: percentile(&d, 50),
        p90_ms: percentile(&d, 90),
        max_ms: d.last().copied().unwrap_or(0),
        unfinished,
        unmatched,
    }
}

/// Nearest-rank percentile of sorted values; 0 when there are none.
pub fn percentile(sorted: &[i64], p: usize) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let d: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&d, 50), 5);
        assert_eq!(percentile(&d, 90), 9);
        assert_eq!(percentile(&d, 100), 10);
        assert_eq!(percentile(&[7], 90), 7);
        assert_eq!(percentile(&[], 50), 0);
    }
}
