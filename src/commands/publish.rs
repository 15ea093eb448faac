//! `event-publisher publish`: the hook command. Reads one hook payload from
//! stdin and stores its events. Whatever goes wrong with the tool itself, it
//! exits 0 with one line on stderr: it must never block or break the agent.

use std::io::{IsTerminal, Read, Write};

use chrono::Utc;

use crate::cli::{GlobalArgs, PublishArgs};
use crate::config::{self, Config, Settings, Sources};
use crate::enrich::enricher::parse_time;
use crate::enrich::{Enricher, Span};
use crate::exit_code::ExitCode;
use crate::extract::Scanner;
use crate::input::Payload;
use crate::input::lifecycle::{self, Lifecycle};
use crate::input::reads::{self, Settle};
use crate::input::transcript;
use crate::pipeline::{Pipeline, Report, marker_digest};
use crate::redact::Redactor;
use crate::sinks::{FsSink, otlp};
use crate::store::by_id;
use crate::store::cursor::{Cursor, Cursors};
use crate::validate::SchemaSet;
use crate::watchdog;

pub fn run(global: &GlobalArgs, args: &PublishArgs) -> ExitCode {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        say("publish reads a Claude Code hook payload on stdin (see event-publisher install)");
        return ExitCode::Success;
    }
    let sources = Sources::process();
    // The payload cap and the deadline are needed before the payload (and so
    // the project's config file) is known: flags and environment decide them.
    // The environment is read once; its warnings wait for the config.
    let mut env_warnings = Vec::new();
    let early = Settings::from_env(sources.env, &mut env_warnings);
    watchdog::arm(
        early
            .get("deadline_ms")
            .unwrap_or(watchdog::DEFAULT_DEADLINE_MS),
    );
    let max_payload = args
        .limits
        .number("limits.max_payload_bytes")
        .or(early.get("limits.max_payload_bytes"))
        .unwrap_or(config::Limits::default().max_payload_bytes);
    let mut bytes = Vec::new();
    if let Err(e) = stdin
        .lock()
        .take(max_payload.saturating_add(1))
        .read_to_end(&mut bytes)
    {
        say(&format!("could not read the payload: {e}"));
        return ExitCode::Success;
    }
    if bytes.len() as u64 > max_payload {
        say(&format!(
            "payload larger than {max_payload} bytes (max_payload_bytes); not read, no events stored"
        ));
        return ExitCode::Success;
    }
    let mut out = std::io::stdout().lock();
    let verbose = args.verbose || std::io::stderr().is_terminal();
    let env = EnvLayer {
        sources: &sources,
        settings: early,
        warnings: env_warnings,
    };
    match publish(global, args, env, &bytes, &mut out) {
        Ok(Some(report)) => {
            if verbose {
                summary(&report);
            }
        }
        Ok(None) => {
            if verbose {
                say("no markers in this payload; nothing stored");
            }
        }
        Err(e) => say(&e),
    }
    ExitCode::Success
}

/// The environment's settings, read once per process, and where they came
/// from.
pub struct EnvLayer<'a> {
    pub sources: &'a Sources<'a>,
    pub settings: Settings,
    /// Unreadable values, said once the payload turns out to hold events.
    pub warnings: Vec<String>,
}

/// Publishes one payload; `Ok(None)` when it cannot hold events. Writes the
/// hook's JSON output (feedback to the agent) to `out`.
pub fn publish(
    global: &GlobalArgs,
    args: &PublishArgs,
    env: EnvLayer,
    bytes: &[u8],
    out: &mut impl Write,
) -> Result<Option<Report>, String> {
    // When the tool call ended, as near as a hook can tell.
    let seen_at = Utc::now();
    if !Payload::may_hold_events(bytes) {
        return Ok(None);
    }
    let payload =
        Payload::parse(bytes).map_err(|e| format!("unreadable payload: {e}; no events stored"))?;
    let texts = payload.texts();
    let reads = reads::of(&payload);
    let lifecycle = lifecycle::of(&payload);
    if texts.is_empty() && reads.is_empty() && lifecycle.is_none() {
        return Ok(None);
    }

    let sources = env.sources;
    let project = config::project_dir(global.project_dir.as_deref(), sources.env, payload.cwd());
    let mut flag_warnings = Vec::new();
    let flags = args.settings(global, &mut flag_warnings);
    let config = Config::resolve_with_env(flags, env.settings, env.warnings, project, sources);
    for w in flag_warnings.iter().chain(&config.warnings) {
        say(w);
    }
    watchdog::reset(config.deadline_ms);
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
        return Ok(None);
    }
    // Subscribers get their cursors before this call's events are stored.
    let mut bus_warnings = Vec::new();
    let subscribers = crate::bus::autostart::prepare(&config, &mut bus_warnings);
    bus_warnings.iter().for_each(|w| say(w));
    let mut pipeline = pipeline(&config);
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
        max_line_bytes: config.limits.max_marker_bytes.max(1 << 20) as usize * 4,
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
                &payload,
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
    let report = pipeline.finish();
    // A full disk fails every record the same way: a few lines, then a count.
    const SHOWN: usize = 3;
    for e in report.errors.iter().take(SHOWN) {
        say(e);
    }
    if report.errors.len() > SHOWN {
        say(&format!(
            "{} more problems like these; {} event(s) not stored in all",
            report.errors.len() - SHOWN,
            report.failed
        ));
    }
    if report.capped {
        say(&format!(
            "stopped after {} markers (max_markers); the rest were not read",
            config.limits.max_markers
        ));
    }
    // Claude Code 2.1.328 passes `additionalContext` to the model on exit 0
    // for both tool hooks (checked with the real CLI).
    if let (true, Some(hook @ ("PostToolUse" | "PostToolUseFailure")), false) = (
        config.feedback,
        payload.hook_event_name(),
        report.rejected.is_empty(),
    ) {
        let _ = writeln!(out, "{}", feedback(&report, &config, hook));
    }
    if let Some(subs) = &subscribers {
        if let Some(why) = crate::bus::autostart::kick(&config, subs, &report.new_records) {
            say(&why);
        }
    }
    if config.otlp.is_some() {
        let spans = hook_spans(
            &payload,
            &config,
            seen_at,
            report.markers > 0,
            run_span,
            lifecycle.as_ref(),
        );
        let outcome = otlp::export(
            config.otlp.as_ref(),
            &config.events_dir,
            &config.redaction,
            &report.new_records,
            &spans,
        );
        for m in &outcome.messages {
            say(m);
        }
        if args.verbose || std::io::stderr().is_terminal() {
            for n in &outcome.notes {
                say(n);
            }
            say(&format!(
                "otlp: sent {} event(s) and {} span(s); {} request(s) in the spool",
                outcome.sent_events, outcome.sent_spans, outcome.left_files
            ));
        }
    }
    Ok(Some(report))
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
    seen_at: chrono::DateTime<Utc>,
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

pub fn pipeline(config: &Config) -> Pipeline {
    let scanner = Scanner::new(config.limits.max_marker_bytes.min(usize::MAX as u64) as usize);
    let schemas = SchemaSet::new(Some(config.schemas_dir.clone()), config.unknown_events);
    let sink = FsSink::open(&config.events_dir).map_err(|e| e.to_string());
    let mut p = Pipeline::new(
        scanner,
        schemas,
        Enricher::new(Utc::now()),
        sink,
        config.limits.max_markers as usize,
    );
    p.redact_with(Redactor::configured(&config.redaction));
    p
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

fn summary(r: &Report) {
    say(&format!(
        "{} marker{}{}: {} stored ({} invalid), {} already present{}",
        r.markers,
        if r.markers == 1 { "" } else { "s" },
        if r.lifecycle > 0 {
            " and a lifecycle record"
        } else {
            ""
        },
        r.stored,
        r.stored_invalid,
        r.present,
        if r.failed > 0 {
            format!(", {} not stored", r.failed)
        } else {
            String::new()
        }
    ));
}

/// One line on stderr, prefixed with the tool's name.
pub fn say(message: &str) {
    let message = crate::view::safe(message);
    let _ = writeln!(std::io::stderr().lock(), "event-publisher: {message}");
}
