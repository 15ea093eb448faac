//! `event-publisher publish`: the hook command. Reads one hook payload from
//! stdin and stores its events. Whatever goes wrong with the tool itself, it
//! exits 0 with one line on stderr: it must never block or break the agent.

use std::io::{IsTerminal, Read, Write};

use chrono::Utc;

use crate::cli::{GlobalArgs, PublishArgs};
use crate::config::{self, Config, LimitSettings, Settings, Sources};
use crate::enrich::{Enricher, Span};
use crate::exit_code::ExitCode;
use crate::extract::{Origin, Scanner};
use crate::input::{Payload, transcript};
use crate::pipeline::{Pipeline, Report, marker_digest};
use crate::redact::Redactor;
use crate::sinks::{FsSink, otlp};
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
    watchdog::arm(early.deadline_ms.unwrap_or(watchdog::DEFAULT_DEADLINE_MS));
    let max_payload = args
        .max_payload_bytes
        .or(early.limits.max_payload_bytes)
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
    let transcript_path = match payload.hook_event_name() {
        Some("SubagentStop") => payload.agent_transcript_path(),
        _ => None,
    };
    if texts.is_empty() && transcript_path.is_none() {
        return Ok(None);
    }

    let sources = env.sources;
    let project = config::project_dir(global.project_dir.as_deref(), sources.env, payload.cwd());
    let mut flag_warnings = Vec::new();
    let flags = flag_settings(global, args).with_otlp_flags(&args.otlp, &mut flag_warnings);
    let config = Config::resolve_with_env(flags, env.settings, env.warnings, project, sources);
    for w in flag_warnings.iter().chain(&config.warnings) {
        say(w);
    }
    watchdog::reset(config.deadline_ms);
    // Subscribers get their cursors before this call's events are stored.
    let mut bus_warnings = Vec::new();
    let subscribers = crate::bus::autostart::prepare(&config, &mut bus_warnings);
    bus_warnings.iter().for_each(|w| say(w));
    let mut pipeline = pipeline(&config);
    pipeline.keep_new_records(config.otlp.is_some() || subscribers.is_some());
    let mut run_span = None;
    let mut capped = false;
    for text in &texts {
        if !pipeline.process(text) {
            capped = true;
            break;
        }
    }
    if let (Some(path), false) = (transcript_path, capped) {
        let limits = transcript::ReadLimits {
            max_bytes: config.limits.max_transcript_bytes,
            max_line_bytes: config.limits.max_marker_bytes.max(1 << 20) as usize * 4,
        };
        match transcript::read(
            std::path::Path::new(path),
            &config.transcript_roots,
            &limits,
            &payload.source(),
        ) {
            Ok(mut t) => {
                for w in &t.warnings {
                    say(w);
                }
                run_span = Span::from_subagent_stop(
                    &payload,
                    t.first_timestamp.as_deref(),
                    t.last_timestamp.as_deref(),
                    t.launched_by.as_deref(),
                    t.model.as_deref(),
                );
                demote_stale_report(
                    &mut t,
                    payload.str("last_assistant_message"),
                    pipeline.scanner(),
                );
                pipeline.begin_sighting();
                for e in &t.entries {
                    if !pipeline.process(&e.text) {
                        break;
                    }
                }
            }
            Err(e) => say(&e.to_string()),
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
    if config.feedback
        && payload.hook_event_name() == Some("PostToolUse")
        && !report.rejected.is_empty()
    {
        let _ = writeln!(out, "{}", feedback(&report, &config));
    }
    if let Some(subs) = &subscribers {
        if let Some(why) = crate::bus::autostart::kick(&config, subs, &report.new_records) {
            say(&why);
        }
    }
    if config.otlp.is_some() {
        let spans: Vec<Span> = run_span
            .into_iter()
            .chain(Span::from_post_tool_use(
                &payload,
                seen_at,
                report.markers > 0,
            ))
            .collect();
        let outcome = otlp::export(&config, &report.new_records, &spans);
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
    let r = &config.redaction;
    p.redact_with(Redactor::new(
        r.enabled.unwrap_or(true),
        r.patterns.clone(),
        r.attributes.clone(),
    ));
    p
}

fn flag_settings(global: &GlobalArgs, args: &PublishArgs) -> Settings {
    let mut s = Settings::from_flags(global);
    if args.no_feedback {
        s.feedback = Some(false);
    }
    s.limits = LimitSettings {
        max_payload_bytes: args.max_payload_bytes,
        max_marker_bytes: args.max_marker_bytes,
        max_markers: args.max_markers,
        max_transcript_bytes: args.max_transcript_bytes,
    };
    s
}

/// If the transcript's last message is not the one SubagentStop reports as
/// the last (the transcript lags behind), its markers are not the report's:
/// they keep the identity of an ordinary message.
fn demote_stale_report(
    t: &mut transcript::Transcript,
    last_message: Option<&str>,
    scanner: &Scanner,
) {
    let Some(last) = last_message else { return };
    let digests = |body: &str| {
        scanner
            .scan_all(body)
            .iter()
            .map(marker_digest)
            .collect::<Vec<_>>()
    };
    let expected = digests(last);
    let finals: Vec<usize> = (0..t.entries.len())
        .filter(|i| t.entries[*i].final_message.is_some())
        .collect();
    if finals.is_empty() {
        return;
    }
    let seen: Vec<String> = finals
        .iter()
        .flat_map(|i| digests(&t.entries[*i].text.body))
        .collect();
    if seen == expected {
        return;
    }
    for i in finals {
        let e = &mut t.entries[i];
        if let (Origin::Report { agent_id, .. }, Some(mid)) = (&e.text.origin, &e.final_message) {
            e.text.origin = Origin::Message {
                agent_id: agent_id.clone(),
                message_id: mid.clone(),
            };
        }
    }
}

/// The hook output that tells the agent which events were rejected.
fn feedback(report: &Report, config: &Config) -> serde_json::Value {
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
        "hookSpecificOutput": { "hookEventName": "PostToolUse", "additionalContext": text }
    })
}

fn summary(r: &Report) {
    say(&format!(
        "{} marker{}: {} stored ({} invalid), {} already present{}",
        r.markers,
        if r.markers == 1 { "" } else { "s" },
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
    let _ = writeln!(std::io::stderr().lock(), "event-publisher: {message}");
}
