//! `event-publisher trace [SESSION|TRACE]`: a session as a tree: its agent
//! runs (the main agent and each subagent run, one span each) with their
//! type, start and duration, and under each run its events in time order,
//! with their offset from the run's start. Dead letters are marked. With no
//! id, the session of the latest event.
//!
//! With the lifecycle records, a run lasts from its `subagentStarted` to its
//! `subagentStopped` record (a run that started and has no stop is marked
//! "never stopped"), and the session from its `sessionStarted` to its
//! `sessionEnded` record; without them, from the first event to the last.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::reading::{self, say};
use crate::cli::{GlobalArgs, TraceArgs};
use crate::enrich::Record;
use crate::enrich::enricher::{format_time, parse_time};
use crate::exit_code::ExitCode;
use crate::store::{EventsDir, Filter, Found, Kind, Order, Scan, Scope};
use crate::view::style::Paint;
use crate::view::{Format, JsonOut, Style, attributes_text, duration_text, errors_text, table};

#[derive(Debug, Serialize)]
pub struct SessionTree {
    pub session_id: Option<String>,
    pub trace_id: String,
    pub start: String,
    pub duration_ms: i64,
    pub events: usize,
    pub invalid: usize,
    pub runs: Vec<Run>,
}

#[derive(Debug, Serialize)]
pub struct Run {
    pub span_id: String,
    /// None for the main agent.
    pub agent_id: Option<String>,
    pub agent_type: Option<String>,
    pub start: String,
    pub duration_ms: i64,
    /// A subagent run whose `subagentStarted` record has no
    /// `subagentStopped` (it is still running, or its end was lost).
    pub never_stopped: bool,
    pub events: Vec<TracedEvent>,
}

#[derive(Debug, Serialize)]
pub struct TracedEvent {
    pub offset_ms: i64,
    pub valid: bool,
    pub record: Record,
}

pub fn run(global: &GlobalArgs, args: &TraceArgs) -> ExitCode {
    let (dir, filter) = match reading::open(global, &args.filter) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let scope = filter.scope(Scope::Both);
    let id = match &args.id {
        Some(id) => id.trim().to_ascii_lowercase(),
        None => match latest_session(&dir, &filter, scope) {
            Some(id) => id,
            None => {
                say("no events match");
                return ExitCode::Success;
            }
        },
    };
    let filter = filter.with_needle(&id);
    let mut scan = Scan::new(&dir, &filter, scope, Order::OldestFirst);
    let found: Vec<Found> = scan
        .by_ref()
        .filter(|f| {
            f.record.trace_id.starts_with(&id)
                || f.record
                    .source
                    .session_id
                    .as_deref()
                    .is_some_and(|s| s.starts_with(&id))
        })
        .collect();
    scan.finish();
    if found.is_empty() {
        say(&format!("no events of a session or trace {id}"));
        return ExitCode::Failure;
    }
    let trees = build(found);
    let format = Format::from_args(&args.output);
    let mut out = reading::stdout();
    let result = (|| {
        if format.is_json() {
            let mut json = JsonOut::new(&mut out, format == Format::Jsonl);
            for t in &trees {
                json.item(t)?;
            }
            json.finish()?;
            return Ok(());
        }
        let style = Style::new(format == Format::Terminal);
        for t in &trees {
            out.write_all(text(t, &style, format.width()).as_bytes())?;
        }
        out.flush()
    })();
    reading::written(result)
}

/// The session (else trace) id of the newest event.
fn latest_session(dir: &EventsDir, filter: &Filter, scope: Scope) -> Option<String> {
    let newest = scope
        .kinds()
        .iter()
        .filter_map(|k| {
            let one = match k {
                Kind::Valid => Scope::Valid,
                Kind::Invalid => Scope::Invalid,
            };
            let mut scan = Scan::new(dir, filter, one, Order::NewestFirst);
            let f = scan.next();
            scan.finish();
            f
        })
        .max_by(|a, b| a.file.compact_time().cmp(b.file.compact_time()))?;
    let r = newest.record;
    Some(r.source.session_id.unwrap_or(r.trace_id))
}

fn time(r: &Record) -> DateTime<Utc> {
    parse_time(&r.timestamp).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The time of the first valid lifecycle record `name` among `events`.
fn lifecycle_time(events: &[Found], name: &str) -> Option<DateTime<Utc>> {
    events
        .iter()
        .find(|f| f.kind == Kind::Valid && f.record.name.as_deref() == Some(name))
        .map(|f| time(&f.record))
}

/// Groups records by trace, then by run, each in time order.
pub fn build(found: Vec<Found>) -> Vec<SessionTree> {
    let mut sessions: BTreeMap<String, Vec<Found>> = BTreeMap::new();
    for f in found {
        sessions
            .entry(f.record.trace_id.clone())
            .or_default()
            .push(f);
    }
    let mut trees: Vec<SessionTree> = sessions
        .into_values()
        .map(|mut events| {
            events.sort_by(|a, b| {
                time(&a.record)
                    .cmp(&time(&b.record))
                    .then(a.file.cmp(&b.file))
            });
            let first = lifecycle_time(&events, "claudeCode.sessionStarted")
                .unwrap_or_else(|| time(&events[0].record));
            let last = lifecycle_time(&events, "claudeCode.sessionEnded")
                .unwrap_or_else(|| time(&events[events.len() - 1].record));
            let mut runs: Vec<(String, Vec<Found>)> = Vec::new();
            for f in &events {
                match runs.iter_mut().find(|(span, _)| *span == f.record.span_id) {
                    Some((_, v)) => v.push(f.clone()),
                    None => runs.push((f.record.span_id.clone(), vec![f.clone()])),
                }
            }
            let r0 = &events[0].record;
            SessionTree {
                session_id: r0.source.session_id.clone(),
                trace_id: r0.trace_id.clone(),
                start: r0.timestamp.clone(),
                duration_ms: (last - first).num_milliseconds(),
                events: events.len(),
                invalid: events.iter().filter(|f| f.kind == Kind::Invalid).count(),
                runs: runs
                    .into_iter()
                    .map(|(span_id, evs)| {
                        let started = lifecycle_time(&evs, "claudeCode.subagentStarted");
                        let stopped = lifecycle_time(&evs, "claudeCode.subagentStopped");
                        let start = started.unwrap_or_else(|| time(&evs[0].record));
                        let end = stopped.unwrap_or_else(|| time(&evs[evs.len() - 1].record));
                        let agent_id = evs.iter().find_map(|f| f.record.source.agent_id.clone());
                        let agent_type =
                            evs.iter().find_map(|f| f.record.source.agent_type.clone());
                        Run {
                            span_id,
                            agent_id,
                            agent_type,
                            start: format_time(start),
                            duration_ms: (end - start).num_milliseconds(),
                            never_stopped: started.is_some() && stopped.is_none(),
                            events: evs
                                .into_iter()
                                .map(|f| TracedEvent {
                                    offset_ms: (time(&f.record) - start).num_milliseconds(),
                                    valid: f.kind == Kind::Valid && f.record.is_valid(),
                                    record: f.record,
                                })
                                .collect(),
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    trees.sort_by(|a, b| a.start.cmp(&b.start));
    trees
}

fn text(t: &SessionTree, style: &Style, width: Option<usize>) -> String {
    let mut out = String::new();
    let invalid = if t.invalid > 0 {
        format!(
            ", {}",
            style.paint(Paint::Red, &format!("{} invalid", t.invalid))
        )
    } else {
        String::new()
    };
    out += &format!(
        "{} {}  {}\n",
        style.paint(Paint::Bold, "session"),
        style.paint(Paint::Bold, t.session_id.as_deref().unwrap_or("(unknown)")),
        style.paint(Paint::Dim, &format!("trace {}", t.trace_id)),
    );
    out += &format!(
        "  {}  {}  {} event{}{invalid}\n",
        t.start,
        duration_text(t.duration_ms),
        t.events,
        if t.events == 1 { "" } else { "s" }
    );
    for (i, run) in t.runs.iter().enumerate() {
        let last_run = i + 1 == t.runs.len();
        let (branch, stem) = if last_run {
            ("└─", "   ")
        } else {
            ("├─", "│  ")
        };
        let label = match (&run.agent_id, &run.agent_type) {
            (None, _) => "main agent".to_string(),
            (Some(id), Some(kind)) => format!("{kind} {id}"),
            (Some(id), None) => format!("agent {id}"),
        };
        let n = run.events.len();
        let row = [
            (branch.to_string(), Paint::None),
            (label, Paint::Magenta),
            (run.start.clone(), Paint::Dim),
            match run.never_stopped {
                true => ("never stopped".to_string(), Paint::Yellow),
                false => (duration_text(run.duration_ms), Paint::None),
            },
            (
                format!("{n} event{}", if n == 1 { "" } else { "s" }),
                Paint::None,
            ),
        ];
        out += &table::line(&row, &[], style, width);
        out.push('\n');
        let rows: Vec<[(String, Paint); 4]> = run
            .events
            .iter()
            .enumerate()
            .map(|(j, e)| {
                let twig = if j + 1 == n { "└─" } else { "├─" };
                let name = e.record.name.as_deref().unwrap_or("(no name)");
                let offset = format!("+{}", duration_text(e.offset_ms));
                if e.valid {
                    [
                        (format!("{stem}{twig}"), Paint::None),
                        (offset, Paint::Dim),
                        (name.to_string(), Paint::Cyan),
                        (attributes_text(&e.record.attributes), Paint::None),
                    ]
                } else {
                    [
                        (format!("{stem}{twig}"), Paint::None),
                        (offset, Paint::Dim),
                        (format!("✗ {name}"), Paint::Red),
                        (format!("invalid: {}", errors_text(&e.record)), Paint::Red),
                    ]
                }
            })
            .collect();
        let mut widths = vec![0; 3];
        for r in &rows {
            for (w, (text, _)) in widths.iter_mut().zip(r.iter()) {
                *w = (*w).max(text.chars().count());
            }
        }
        for r in &rows {
            out += &table::line(r, &widths, style, width);
            out.push('\n');
        }
    }
    out
}
