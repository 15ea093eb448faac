//! `event-publisher publish`: the hook command. Reads one hook payload from
//! stdin and stores its events. Whatever goes wrong with the tool itself, it
//! exits 0 with one line on stderr: it must never block or break the agent.

use std::io::{IsTerminal, Read, Write};

use chrono::Utc;

use crate::app::{HookCall, Publisher};
use crate::cli::{GlobalArgs, PublishArgs};
use crate::config::{self, Config, Settings, Sources};
use crate::exit_code::ExitCode;
use crate::input::Payload;
use crate::pipeline::Report;
use crate::view::say;
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
    let Some(call) = HookCall::of(&payload, seen_at) else {
        return Ok(None);
    };

    let sources = env.sources;
    let project = config::project_dir(global.project_dir.as_deref(), sources.env, payload.cwd());
    let mut flag_warnings = Vec::new();
    let flags = args.settings(global, &mut flag_warnings);
    let config = Config::resolve_with_env(flags, env.settings, env.warnings, project, sources);
    for w in flag_warnings.iter().chain(&config.warnings) {
        say(w);
    }
    watchdog::reset(config.deadline_ms);
    let Some(published) = Publisher::publish(&config, call, &mut say) else {
        return Ok(None);
    };
    let report = &published.report;
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
    if let Some(feedback) = &published.feedback {
        let _ = writeln!(out, "{feedback}");
    }
    let (report, otlp) = published.deliver(&mut say);
    if let Some(outcome) = otlp {
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
