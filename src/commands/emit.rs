//! `event-publisher emit NAME`: an event from a script or a workflow,
//! validated against the same schemas as markers. Valid: stored once (the
//! record printed with `--json`); invalid: exit 1, the errors on stderr,
//! and a dead letter.
//!
//! Inside a Claude Code Bash call (`CLAUDECODE=1` and
//! `CLAUDE_CODE_SESSION_ID` set) a valid event is not stored here: its
//! marker is printed on stdout, and the PostToolUse hook stores it once,
//! with the session, agent and tool call ids that only the hook knows.
//! An invalid one is stored here as a dead letter of that session (a
//! failing Bash call fires PostToolUseFailure, which may not carry stdout).

use std::io::{Read, Write};

use serde_json::{Map, Value};

use crate::bus::emitter::{EmitContext, chain_depth};
use crate::bus::subscriber::MAX_DEPTH;
use crate::bus::{Emitter, NewEvent, TraceContext, autostart};
use crate::cli::{EmitArgs, GlobalArgs};
use crate::commands::reading::{self, say};
use crate::enrich::enricher::format_time;
use crate::exit_code::ExitCode;
use crate::input::Source;

/// The most read from stdin for `--attributes -`.
const MAX_STDIN: u64 = 1 << 20;

pub fn run(global: &GlobalArgs, args: &EmitArgs) -> ExitCode {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let attributes = match attributes(args) {
        Ok(a) => a,
        Err(e) => {
            say(&e);
            return ExitCode::Usage;
        }
    };
    let config = reading::config(global);
    let mut event = NewEvent {
        name: args.name.clone(),
        attributes,
        id: args.id.clone(),
        timestamp: args.timestamp.clone(),
    };
    let mut emitter = match Emitter::open(&config) {
        Ok(e) => e,
        Err(e) => {
            say(e.message());
            return ExitCode::Failure;
        }
    };
    let claude_session = match env("CLAUDECODE").as_deref() {
        Some("1") => env("CLAUDE_CODE_SESSION_ID"),
        _ => None,
    };
    if claude_session.is_some() {
        // The marker keeps the time of the emit, not of the hook.
        event
            .timestamp
            .get_or_insert_with(|| format_time(chrono::Utc::now()));
        if emitter.check(&event).is_empty() {
            let mut out = std::io::stdout().lock();
            return reading::written(writeln!(out, "{}", event.marker()));
        }
    }
    let mut warnings = Vec::new();
    let subs = autostart::prepare(&config, &mut warnings);
    let session = args
        .session
        .clone()
        .or_else(|| env("EVENT_PUBLISHER_SESSION"))
        .or(claude_session);
    let trace = match env("TRACEPARENT") {
        Some(tp) => match TraceContext::from_traceparent(&tp) {
            Some(t) => t,
            None => {
                say(&format!(
                    "TRACEPARENT {:?} is not a W3C traceparent; ignored",
                    crate::bus::one_line(&tp, 80)
                ));
                session_trace(&session)
            }
        },
        None => session_trace(&session),
    };
    let caused_by = env("EVENT_PUBLISHER_CAUSED_BY").and_then(|v| v.parse::<uuid::Uuid>().ok());
    if let Some(cause) = caused_by {
        // The links this event would end: at most MAX_DEPTH.
        let depth = chain_depth(&config.events_dir, cause) + 1;
        if depth > MAX_DEPTH {
            say(&format!(
                "{} events already lead to {cause} (EVENT_PUBLISHER_CAUSED_BY): the depth limit is {MAX_DEPTH}; a loop? not emitted",
                depth - 1
            ));
            return ExitCode::Failure;
        }
    }
    let ctx = EmitContext {
        trace,
        caused_by,
        source: Source {
            session_id: session,
            cwd: std::env::current_dir()
                .ok()
                .map(|d| d.display().to_string()),
            ..Source::default()
        },
        origin: EmitContext::fresh_origin(),
    };
    let result = emitter.emit(&event, &ctx);
    warnings.extend(emitter.take_warnings());
    for w in &warnings {
        say(w);
    }
    let (record, _) = match result {
        Ok(r) => r,
        Err(e) => {
            say(&format!("{} not stored: {}", args.name, e.message()));
            return ExitCode::Failure;
        }
    };
    if let Some(subs) = &subs {
        if let Some(why) = autostart::kick(&config, subs, std::slice::from_ref(&record)) {
            say(&why);
        }
    }
    if !record.is_valid() {
        say(&format!(
            "{} is invalid; kept as a dead letter in {}/invalid/:",
            crate::bus::one_line(record.name.as_deref().unwrap_or(&args.name), 200),
            config.events_dir.display()
        ));
        for p in &record.errors {
            say(&format!(
                "  - {}",
                crate::bus::one_line(&p.to_string(), 500)
            ));
        }
        return ExitCode::Failure;
    }
    if args.json {
        let mut out = std::io::stdout().lock();
        let text = serde_json::to_string_pretty(&record).unwrap_or_default();
        return reading::written(writeln!(out, "{text}"));
    }
    ExitCode::Success
}

fn session_trace(session: &Option<String>) -> TraceContext {
    match session {
        Some(s) => TraceContext::Session(s.clone()),
        None => TraceContext::New,
    }
}

/// `--attributes` (a JSON object, or `-` for stdin), then each `--attr`.
fn attributes(args: &EmitArgs) -> Result<Map<String, Value>, String> {
    let mut map = match args.attributes.as_deref() {
        None => Map::new(),
        Some(text) => {
            let text = if text == "-" {
                let mut buf = String::new();
                std::io::stdin()
                    .lock()
                    .take(MAX_STDIN + 1)
                    .read_to_string(&mut buf)
                    .map_err(|e| format!("--attributes -: reading stdin: {e}"))?;
                if buf.len() as u64 > MAX_STDIN {
                    return Err(format!("--attributes -: more than {MAX_STDIN} bytes"));
                }
                buf
            } else {
                text.to_string()
            };
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err("--attributes: not a JSON object".into()),
                Err(e) => return Err(format!("--attributes: not JSON ({e})")),
            }
        }
    };
    for pair in &args.attrs {
        let (k, v) = pair
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| format!("--attr {pair:?}: expected KEY=VALUE"))?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        map.insert(k.to_string(), value);
    }
    Ok(map)
}
