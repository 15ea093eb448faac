//! A session as a tree: its agent runs (the main agent and each subagent
//! run, one span each) with their type, start and duration, and under each
//! run its events in time order, with their offset from the run's start.
//! Used by `trace` and by `serve`'s session view; `latest_session` is the
//! session `trace` shows when given no id.
//!
//! With the lifecycle records, a run lasts from its `subagentStarted` to its
//! `subagentStopped` record (a run that started and has no stop is marked
//! never stopped), and the session from its `sessionStarted` to its
//! `sessionEnded` record; without them, from the first event to the last.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::enrich::Record;
use crate::enrich::enricher::{format_time, parse_time};
use crate::store::{EventsDir, Filter, Found, Kind, Order, Scan, Scope};

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

/// Is the record part of the session or trace `id` (or a prefix of it)?
pub fn belongs(r: &Record, id: &str) -> bool {
    r.trace_id.starts_with(id)
        || r.source
            .session_id
            .as_deref()
            .is_some_and(|s| s.starts_with(id))
}

pub fn time(r: &Record) -> DateTime<Utc> {
    parse_time(&r.timestamp).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The time of the first valid lifecycle record `name` among `events`.
fn lifecycle_time(events: &[Found], name: &str) -> Option<DateTime<Utc>> {
    events
        .iter()
        .find(|f| f.kind == Kind::Valid && f.record.name.as_deref() == Some(name))
        .map(|f| time(&f.record))
}

/// The session (else trace) id of the newest event.
pub fn latest_session(dir: &EventsDir, filter: &Filter, scope: Scope) -> Option<String> {
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
