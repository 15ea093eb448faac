//! The publisher: the one owner of the pipeline (scanner, schemas,
//! enricher, redactor, fs sink), the OTLP export and the spans, for the two
//! ways events come in: a hook call and a transcript replayed.
//!
//! A hook call runs in two steps, so that the command writes the agent's
//! feedback between them as it always has: `Publisher::publish` stores the
//! call's events (its lifecycle record, its texts, and the transcripts it
//! names past their cursors), then `Published::deliver` starts a
//! dispatcher for the subscribers and exports the new records and the
//! hook's spans over OTLP.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::Say;
use super::replay::{base_source, run_span};
use crate::bus::autostart;
use crate::bus::subscriber::Subscribers;
use crate::config::Config;
use crate::enrich::enricher::parse_time;
use crate::enrich::{Enricher, Span};
use crate::extract::Scanner;
use crate::input::lifecycle::{self, Lifecycle};
use crate::input::reads::{self, Settle};
use crate::input::{Payload, Text, transcript};
use crate::pipeline::{Pipeline, Report, marker_digest};
use crate::redact::Redactor;
use crate::sinks::{FsSink, otlp};
use crate::store::by_id;
use crate::store::cursor::{Cursor, Cursors};
use crate::validate::SchemaSet;

pub struct Publisher<'c> {
    config: &'c Config,
    pipeline: Pipeline,
}

/// One hook call: its payload and what in it may hold events.
pub struct HookCall<'p> {
    payload: &'p Payload,
    texts: Vec<Text<'p>>,
    reads: Vec<reads::Read>,
    lifecycle: Option<Lifecycle>,
    /// When the tool call ended, as near as a hook can tell.
    seen_at: DateTime<Utc>,
}

/// A hook call whose events are stored; `deliver` does the rest.
pub struct Published<'c, 'p> {
    pub report: Report,
    /// The hook output that tells the agent which events were rejected,
    /// when it gets one: the caller writes it to stdout.
    pub feedback: Option<serde_json::Value>,
    config: &'c Config,
    payload: &'p Payload,
    lifecycle: Option<Lifecycle>,
    /// The subagent run's span from its transcript's times.
    run_span: Option<Span>,
    subscribers: Option<Subscribers>,
    seen_at: DateTime<Utc>,
}

/// What replaying one transcript did.
#[derive(Debug, Default)]
pub struct Replayed {
    pub bytes: u64,
    /// Sent to the OTLP collector (when the sink is on).
    pub otlp_events: u64,
    pub otlp_spans: u64,
}

impl<'p> HookCall<'p> {
    /// What in `payload` may hold events; `None` when nothing does.
    pub fn of(payload: &'p Payload, seen_at: DateTime<Utc>) -> Option<HookCall<'p>> {
        let texts = payload.texts();
        let reads = reads::of(payload);
        let lifecycle = lifecycle::of(payload);
        if texts.is_empty() && reads.is_empty() && lifecycle.is_none() {
            return None;
        }
        Some(HookCall {
            payload,
            texts,
            reads,
            lifecycle,
            seen_at,
        })
    }
}

impl<'c> Publisher<'c> {
    /// The hook's publisher: at most `max_markers` markers per call.
    pub fn new(config: &'c Config) -> Self {
        Self::with_cap(config, config.limits.max_markers)
    }

    /// Replay's publisher: a replay is one long run, so the hook's per-call
    /// marker cap is not for it. With the OTLP sink on it keeps each
    /// transcript's new records to export them.
    pub fn for_replay(config: &'c Config) -> Self {
        let mut p = Self::with_cap(config, u64::MAX);
        p.pipeline.keep_new_records(config.otlp.is_some());
        p
    }

    fn with_cap(config: &'c Config, max_markers: u64) -> Self {
        let scanner = Scanner::new(config.limits.max_marker_bytes.min(usize::MAX as u64) as usize);
        let schemas = SchemaSet::new(Some(config.schemas_dir.clone()), config.unknown_events);
        let sink = FsSink::open(&config.events_dir).map_err(|e| e.to_string());
        let mut pipeline = Pipeline::new(
            scanner,
            schemas,
            Enricher::new(Utc::now()),
            sink,
            max_markers as usize,
        );
        pipeline.redact_with(Redactor::configured(&config.redaction));
        Publisher { config, pipeline }
    }

    /// Stores one hook call's events: its lifecycle record (when on), its
    /// texts, and the transcripts it names, each from its cursor. `None`
    /// when nothing is new; then no pipeline is built and nothing opened
    /// for writing.
    pub fn publish<'p>(
        config: &'c Config,
        call: HookCall<'p>,
        say: Say,
    ) -> Option<Published<'c, 'p>> {
        let HookCall {
            payload,
            texts,
            reads,
            lifecycle,
            seen_at,
        } = call;
        let lifecycle = lifecycle.filter(|_| config.lifecycle);
        // Only the transcripts with bytes past their cursor are read.
        let cursors = match reads.is_empty() {
            true => None,
            false => Cursors::open(&config.events_dir)
                .map_err(|e| say(&format!("{e}; transcripts not read")))
                .ok(),
        };
        let reads: Vec<(reads::Read, Cursor)> = match &cursors {
            Some(c) => reads
                .into_iter()
                .filter_map(|r| {
                    let from = c.get(&r.path);
                    // Anything but a regular file is read, to be refused with a
                    // reason; a main transcript not (yet) written is nothing new.
                    // At the session's end a kept-back last message is read too.
                    let upto = match r.settle {
                        Settle::Always => from.resume.offset,
                        _ => from.seen,
                    };
                    let skip = match std::fs::metadata(&r.path) {
                        Ok(m) => m.is_file() && m.len() == upto,
                        Err(e) => {
                            e.kind() == std::io::ErrorKind::NotFound
                                && payload.hook_event_name() != Some("SubagentStop")
                        }
                    };
                    (!skip).then_some((r, from))
                })
                .collect(),
            None => Vec::new(),
        };
        if texts.is_empty() && reads.is_empty() && lifecycle.is_none() {
            return None;
        }
        // Subscribers get their cursors before this call's events are stored.
        let mut bus_warnings = Vec::new();
        let subscribers = autostart::prepare(config, &mut bus_warnings);
        bus_warnings.iter().for_each(|w| say(w));
        let mut publisher = Publisher::new(config);
        let pipeline = &mut publisher.pipeline;
        pipeline.keep_new_records(config.otlp.is_some() || subscribers.is_some());
        if let Some(record) = &lifecycle {
            pipeline.process_lifecycle(record);
        }
        let mut run_span = None;
        let mut capped = false;
        for text in &texts {
            if !pipeline.process(text) {
                capped = true;
                break;
            }
        }
        let limits = transcript::ReadLimits {
            max_bytes: config.limits.max_transcript_bytes,
            max_line_bytes: max_line_bytes(config),
        };
        for (read, from) in reads {
            if capped {
                break;
            }
            let t = match transcript::read_incremental(
                &read.path,
                &config.transcript_roots,
                &limits,
                &read.base,
                &from.resume,
            ) {
                Ok(t) => t,
                Err(e) => {
                    say(&e.to_string());
                    continue;
                }
            };
            for w in &t.transcript.warnings {
                say(w);
            }
            if from.resume.offset == 0 && read.base.agent_id.is_some() {
                run_span = run_span.or(Span::from_subagent_stop(
                    payload,
                    t.transcript.first_timestamp.as_deref(),
                    t.transcript.last_timestamp.as_deref(),
                    t.transcript.launched_by.as_deref(),
                    t.transcript.model.as_deref(),
                ));
            }
            let settled = match &read.settle {
                Settle::Always => true,
                Settle::Never => false,
                Settle::IfMatches(None) => true,
                Settle::IfMatches(Some(last)) => same_markers(&t.pending, last, pipeline.scanner()),
            };
            let failed = pipeline.report.failed;
            pipeline.begin_sighting();
            let pending: &[transcript::Entry] = if settled { &t.pending } else { &[] };
            for e in t.transcript.entries.iter().chain(pending) {
                if !pipeline.process(&e.text) {
                    capped = true;
                    break;
                }
            }
            // A line whose events could not all be stored is read again next time.
            if !capped && pipeline.report.failed == failed {
                let to = Cursor {
                    resume: if settled {
                        t.end.clone()
                    } else {
                        t.before_pending
                    },
                    seen: t.end.offset,
                };
                if to != from {
                    if let Some(Err(e)) = cursors.as_ref().map(|c| c.set(&read.path, &to)) {
                        say(&e.to_string());
                    }
                }
            }
        }
        let report = publisher.finish();
        // Claude Code 2.1.328 passes `additionalContext` to the model on exit 0
        // for both tool hooks (checked with the real CLI).
        let feedback = match (
            config.feedback,
            payload.hook_event_name(),
            report.rejected.is_empty(),
        ) {
            (true, Some(hook @ ("PostToolUse" | "PostToolUseFailure")), false) => {
                Some(feedback(&report, config, hook))
            }
            _ => None,
        };
        Some(Published {
            report,
            feedback,
            config,
            payload,
            lifecycle,
            run_span,
            subscribers,
            seen_at,
        })
    }

    /// Replays one transcript: its events stored and, with the OTLP sink
    /// on, its new records and its run's span exported. `None` when it
    /// could not be read (said). Either way the run then forgets the
    /// transcript's ids, rejects and records, so memory does not grow with
    /// the number of transcripts.
    pub fn replay(&mut self, path: &Path, say: Say) -> Option<Replayed> {
        let limits = transcript::ReadLimits {
            max_bytes: u64::MAX,
            max_line_bytes: max_line_bytes(self.config),
        };
        let base = base_source(path);
        let replayed = match transcript::read(path, &[], &limits, &base) {
            Ok(t) => {
                let mut replayed = Replayed {
                    bytes: t.bytes,
                    ..Replayed::default()
                };
                for w in &t.warnings {
                    say(w);
                }
                self.pipeline.begin_sighting();
                for e in &t.entries {
                    self.pipeline.process(&e.text);
                }
                if self.config.otlp.is_some() {
                    let spans: Vec<Span> = run_span(path, &base, &t).into_iter().collect();
                    let outcome = otlp::export(
                        self.config.otlp.as_ref(),
                        &self.config.events_dir,
                        &self.config.redaction,
                        &self.pipeline.report.new_records,
                        &spans,
                    );
                    replayed.otlp_events = outcome.sent_events;
                    replayed.otlp_spans = outcome.sent_spans;
                    for m in &outcome.messages {
                        say(m);
                    }
                }
                Some(replayed)
            }
            Err(e) => {
                say(e.message());
                None
            }
        };
        for e in self.pipeline.forget() {
            say(&e);
        }
        replayed
    }

    /// Ends the run: the report, with the problems met along the way.
    pub fn finish(self) -> Report {
        self.pipeline.finish()
    }
}

impl Published<'_, '_> {
    /// The rest of a hook call, once its records are stored: a dispatcher
    /// started when a subscriber is on a new record, and, with the OTLP
    /// sink on, the new records and this hook's spans exported. Returns the
    /// report and the export's outcome, for the caller to render.
    pub fn deliver(self, say: Say) -> (Report, Option<otlp::Outcome>) {
        if let Some(subs) = &self.subscribers {
            if let Some(why) = autostart::kick(self.config, subs, &self.report.new_records) {
                say(&why);
            }
        }
        if self.config.otlp.is_none() {
            return (self.report, None);
        }
        let spans = hook_spans(
            self.payload,
            self.config,
            self.seen_at,
            self.report.markers > 0,
            self.run_span,
            self.lifecycle.as_ref(),
        );
        let outcome = otlp::export(
            self.config.otlp.as_ref(),
            &self.config.events_dir,
            &self.config.redaction,
            &self.report.new_records,
            &spans,
        );
        (self.report, Some(outcome))
    }
}

/// The longest transcript line read, by the hook and by replay alike: four
/// times the marker cap, and at least 4 MiB.
fn max_line_bytes(config: &Config) -> usize {
    config.limits.max_marker_bytes.max(1 << 20) as usize * 4
}

/// The spans this hook gives (see `enrich::span`). A run is timed from its
/// `subagentStarted` record to its `subagentStopped` one, and the session
/// from its `sessionStarted` record to its `sessionEnded` one, each found by
/// its id; without them (lifecycle off, a SubagentStart before the hooks
/// were installed) a run falls back to its transcript's times, and a
/// session gives no span.
fn hook_spans(
    payload: &Payload,
    config: &Config,
    seen_at: DateTime<Utc>,
    printed: bool,
    transcript_run: Option<Span>,
    record: Option<&Lifecycle>,
) -> Vec<Span> {
    let stored_time = |l: &Lifecycle| {
        by_id::record(&config.events_dir, &l.id()).and_then(|r| parse_time(&r.timestamp))
    };
    // This hook's time is its record's (its first sighting), else now.
    let now = record.and_then(stored_time).unwrap_or(seen_at);
    let source = payload.source();
    let mut spans = Vec::new();
    match payload.hook_event_name() {
        Some("SubagentStop") => {
            let start = Lifecycle::subagent_started(&source).and_then(|l| stored_time(&l));
            match (start, transcript_run) {
                (Some(start), Some(run)) => spans.push(run.retimed(start, now)),
                (Some(start), None) => spans.extend(Span::agent_run(&source, None, start, now)),
                (None, run) => spans.extend(run),
            }
        }
        Some("SessionEnd") => {
            let started = Lifecycle::sessions_started(&source);
            if let Some(start) = started.iter().filter_map(stored_time).min() {
                spans.extend(Span::session(&source, start, now));
                spans.extend(Span::main_agent(&source, start, now));
            }
        }
        _ => spans.extend(Span::from_post_tool_use(payload, seen_at, printed)),
    }
    spans
}

/// Whether a transcript's latest text message holds the markers of `last`
/// (the message the hook names as its agent's last): then it is final.
fn same_markers(pending: &[transcript::Entry], last: &str, scanner: &Scanner) -> bool {
    let digests = |body: &str| {
        scanner
            .scan_all(body)
            .iter()
            .map(marker_digest)
            .collect::<Vec<_>>()
    };
    let seen: Vec<String> = pending.iter().flat_map(|e| digests(&e.text.body)).collect();
    seen == digests(last)
}

/// The hook output that tells the agent which events were rejected.
fn feedback(report: &Report, config: &Config, hook: &str) -> serde_json::Value {
    let mut text = format!(
        "event-publisher rejected {} event{} printed by this tool call (kept in {}/invalid/ for inspection):",
        report.rejected.len(),
        if report.rejected.len() == 1 { "" } else { "s" },
        config.events_dir.display()
    );
    for (name, problems) in report.rejected.iter().take(20) {
        let why: Vec<String> = problems.iter().take(5).map(|p| p.to_string()).collect();
        text.push_str(&format!("\n- {name}: {}", why.join("; ")));
    }
    text.push_str(&format!(
        "\nPrint each corrected <EVENT> marker again. The schemas are {}/<name>.schema.json.",
        config.schemas_dir.display()
    ));
    serde_json::json!({
        "hookSpecificOutput": { "hookEventName": hook, "additionalContext": text }
    })
}
