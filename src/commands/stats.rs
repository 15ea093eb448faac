//! `event-publisher stats`: over the filtered range, counts by name, by
//! agent type and by validity, the first and last time, events per minute;
//! and for start/finish pairs the distribution of durations.
//!
//! A pair is `<x>Started` followed by `<x>Completed` (or `<x>Finished`,
//! `<x>Failed`) in the same agent run (span id), matched on the attributes
//! both carry (same name, same value), or on `--pair-key ATTR` alone. Each
//! finish closes the earliest open start it matches. Only valid events
//! take part.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::reading::{self};
use crate::analysis::pairs::{self, Paired, Pairing};
use crate::cli::{GlobalArgs, StatsArgs};
use crate::enrich::Record;
use crate::enrich::enricher::{format_time, parse_time};
use crate::exit_code::ExitCode;
use crate::store::{Kind, Order, Scan, Scope};
use crate::view::style::Paint;
use crate::view::{Format, Style, Table, duration_text};

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

#[derive(Default)]
pub struct Collector {
    stats: Stats,
    by_name: HashMap<String, usize>,
    by_agent: HashMap<String, usize>,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    marks: Vec<Mark>,
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
            .map(|(name, (mut d, unfinished, unmatched))| {
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
            })
            .collect();
        self.stats
    }
}

/// A rate with three significant digits (at least two decimals).
fn rate(r: f64) -> String {
    if r <= 0.0 || !r.is_finite() {
        return "0".to_string();
    }
    let decimals = (2 - r.log10().floor() as i64).clamp(2, 12) as usize;
    format!("{r:.decimals$}")
}

/// Nearest-rank percentile of sorted values; 0 when there are none.
pub fn percentile(sorted: &[i64], p: usize) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

pub fn run(global: &GlobalArgs, args: &StatsArgs) -> ExitCode {
    let (dir, filter) = match reading::open(global, &args.filter) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let format = Format::from_args(&args.output);
    let mut collector = Collector::default();
    let mut scan = Scan::new(&dir, &filter, filter.scope(Scope::Both), Order::OldestFirst);
    for found in scan.by_ref() {
        collector.add(&found.record, found.kind);
    }
    scan.finish();
    let stats = collector.finish(args.pair_key.as_deref());
    let mut out = reading::stdout();
    let result = (|| {
        match format {
            Format::Json => {
                serde_json::to_writer_pretty(&mut out, &stats)?;
                writeln!(out)?;
            }
            Format::Jsonl => {
                serde_json::to_writer(&mut out, &stats)?;
                writeln!(out)?;
            }
            _ => out.write_all(text(&stats, &Style::new(format == Format::Terminal)).as_bytes())?,
        }
        out.flush()
    })();
    reading::written(result)
}

fn text(s: &Stats, style: &Style) -> String {
    let mut t = String::new();
    let head = |h: &str| style.paint(Paint::Bold, h);
    let key = |k: &str| style.paint(Paint::Dim, &format!("{k:<11}"));
    t += &format!(
        "{}{}  ({} valid, {})\n",
        key("events"),
        s.events,
        s.valid,
        if s.invalid > 0 {
            style.paint(Paint::Red, &format!("{} invalid", s.invalid))
        } else {
            "0 invalid".to_string()
        }
    );
    if s.events == 0 {
        return t;
    }
    t += &format!("{}{}\n", key("first"), s.first.as_deref().unwrap_or("-"));
    t += &format!("{}{}\n", key("last"), s.last.as_deref().unwrap_or("-"));
    t += &format!("{}{}\n", key("per minute"), rate(s.per_minute));
    let counts = |title: &str, counts: &[Count], paint: Paint| {
        let mut table = Table::new();
        for c in counts {
            table.push(vec![
                (c.key.clone(), paint),
                (c.count.to_string(), Paint::None),
            ]);
        }
        let mut out = format!("{}\n", head(title));
        for line in table.lines(style, None) {
            out += &format!("  {line}\n");
        }
        out
    };
    t += &counts("by name", &s.by_name, Paint::Cyan);
    t += &counts("by agent type", &s.by_agent_type, Paint::Magenta);
    if !s.durations.is_empty() {
        t += &format!(
            "{}\n",
            head("durations (start → finish, same agent run and key)")
        );
        let mut table = Table::new();
        for d in &s.durations {
            let mut notes = Vec::new();
            if d.unfinished > 0 {
                notes.push(format!("{} unfinished", d.unfinished));
            }
            if d.unmatched > 0 {
                notes.push(format!("{} finish without start", d.unmatched));
            }
            let shown = |label: &str, ms: i64| match d.pairs {
                0 => format!("{label} -"),
                _ => format!("{label} {}", duration_text(ms)),
            };
            table.push(vec![
                (d.name.clone(), Paint::Cyan),
                (format!("{} pairs", d.pairs), Paint::None),
                (shown("p50", d.p50_ms), Paint::None),
                (shown("p90", d.p90_ms), Paint::None),
                (shown("max", d.max_ms), Paint::None),
                (notes.join(", "), Paint::Yellow),
            ]);
        }
        for line in table.lines(style, None) {
            t += &format!("  {line}\n");
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_keep_three_digits() {
        assert_eq!(rate(8.0 / 671_040.0), "0.0000119");
        assert_eq!(rate(1.5), "1.50");
        assert_eq!(rate(0.25), "0.250");
        assert_eq!(rate(1234.5), "1234.50");
        assert_eq!(rate(0.0), "0");
    }

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
