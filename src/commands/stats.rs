//! `event-publisher stats`: over the filtered range, counts by name, by
//! agent type and by validity, the first and last time, events per minute;
//! and for start/finish pairs the distribution of durations.
//!
//! A pair is `<x>Started` followed by `<x>Completed` (or `<x>Finished`,
//! `<x>Failed`) in the same agent run (span id), matched on the attributes
//! both carry (same name, same value), or on `--pair-key ATTR` alone. Each
//! finish closes the earliest open start it matches. Only valid events
//! take part.
//!
//! From the lifecycle records (`claudeCode.*`): the durations of subagent
//! runs by agent type (`subagentStarted` to `subagentStopped` of the same
//! run), the runs that started and never stopped, and failed tool calls by
//! tool (`toolFailed`).

use std::io::Write;

use super::reading::{self};
use crate::analysis::stats::{Collector, Count, Durations, Stats};
use crate::cli::{GlobalArgs, StatsArgs};
use crate::exit_code::ExitCode;
use crate::store::{Order, Scan, Scope};
use crate::view::style::Paint;
use crate::view::{Format, Style, Table, duration_text};

/// A rate with three significant digits (at least two decimals).
fn rate(r: f64) -> String {
    if r <= 0.0 || !r.is_finite() {
        return "0".to_string();
    }
    let decimals = (2 - r.log10().floor() as i64).clamp(2, 12) as usize;
    format!("{r:.decimals$}")
}

pub fn run(global: &GlobalArgs, args: &StatsArgs) -> ExitCode {
    let (dir, filter) = match reading::open(global, &args.filter) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let format = args.output.format();
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
    t += &durations_text(
        &head("durations (start → finish, same agent run and key)"),
        &s.durations,
        ("pairs", "unfinished", "finish without start"),
        style,
    );
    t += &durations_text(
        &head("subagent runs by agent type (SubagentStart → SubagentStop)"),
        &s.runs,
        ("runs", "never stopped", "stopped without a start"),
        style,
    );
    if !s.failures_by_tool.is_empty() {
        t += &counts("failed tool calls by tool", &s.failures_by_tool, Paint::Red);
    }
    t
}

/// A table of durations; `words`: what a pair, an unfinished start and an
/// unmatched finish are called.
fn durations_text(
    title: &str,
    all: &[Durations],
    words: (&str, &str, &str),
    style: &Style,
) -> String {
    let mut t = String::new();
    if !all.is_empty() {
        t += &format!("{title}\n");
        let mut table = Table::new();
        for d in all {
            let mut notes = Vec::new();
            if d.unfinished > 0 {
                notes.push(format!("{} {}", d.unfinished, words.1));
            }
            if d.unmatched > 0 {
                notes.push(format!("{} {}", d.unmatched, words.2));
            }
            let shown = |label: &str, ms: i64| match d.pairs {
                0 => format!("{label} -"),
                _ => format!("{label} {}", duration_text(ms)),
            };
            table.push(vec![
                (d.name.clone(), Paint::Cyan),
                (format!("{} {}", d.pairs, words.0), Paint::None),
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
}
