//! `event-publisher flush`: sends every OTLP request waiting in the spool
//! (`.events/.spool/`), ignoring the circuit breaker that spares hooks, and
//! reports what it sent, what is left and why. Exits 0 when the spool is
//! empty afterwards, 1 when something is left (or could not be read).

use std::io::Write;

use crate::cli::{FlushArgs, GlobalArgs};
use crate::config::{self, Config, Sources};
use crate::exit_code::ExitCode;
use crate::sinks::otlp::{self, FlushReport};
use crate::view::say;

pub fn run(global: &GlobalArgs, args: &FlushArgs) -> ExitCode {
    let sources = Sources::process();
    let project = config::project_dir(global.project_dir.as_deref(), sources.env, None);
    let mut flag_warnings = Vec::new();
    let flags = global
        .settings()
        .over(args.otlp.settings(&mut flag_warnings));
    let config = Config::resolve(flags, project, &sources);
    for w in flag_warnings.iter().chain(&config.warnings) {
        say(w);
    }
    let timeout = args
        .otlp
        .number("otlp.timeout_ms")
        .map(std::time::Duration::from_millis);
    let report = match otlp::flush(config.otlp.as_ref(), &config.events_dir, timeout) {
        Ok(r) => r,
        Err(e) => {
            say(&format!("flush: {e}"));
            return ExitCode::Failure;
        }
    };
    for m in &report.messages {
        say(m);
    }
    let mut out = std::io::stdout().lock();
    let _ = if args.json {
        writeln!(out, "{}", json(&report))
    } else {
        write!(out, "{}", text(&report, &config))
    };
    if report.left_files == 0 && report.error.is_none() {
        ExitCode::Success
    } else {
        ExitCode::Failure
    }
}

fn json(r: &FlushReport) -> serde_json::Value {
    serde_json::json!({
        "spool": r.spool,
        "sent": {"requests": r.sent_requests, "events": r.sent_events, "spans": r.sent_spans},
        "left": {"requests": r.left_files, "events": r.left_events, "spans": r.left_spans, "bytes": r.left_bytes},
        "why": r.error,
        "set_aside": r.set_aside,
        "rejected": r.rejected_total,
        "dropped": {"requests": r.dropped_requests, "items": r.dropped_items},
    })
}

fn text(r: &FlushReport, config: &Config) -> String {
    let Some(spool) = &r.spool else {
        return format!(
            "nothing to flush: no spool in {}\n",
            config.events_dir.display()
        );
    };
    let mut s = format!(
        "sent {} request(s): {} event(s), {} span(s)\nleft {} request(s): {} event(s), {} span(s), {} bytes in {}\n",
        r.sent_requests,
        r.sent_events,
        r.sent_spans,
        r.left_files,
        r.left_events,
        r.left_spans,
        r.left_bytes,
        spool.display()
    );
    if let Some(why) = &r.error {
        s.push_str(&format!("why: {why}\n"));
    }
    if r.rejected_total > 0 {
        s.push_str(&format!(
            "set aside: {} request(s) refused as malformed ({} by this flush), in {}/{}/\n",
            r.rejected_total,
            r.set_aside,
            spool.display(),
            otlp::spool::REJECTED
        ));
    }
    if r.dropped_requests > 0 {
        s.push_str(&format!(
            "dropped: {} request(s) ({} events/spans) found the spool full; their ids are in {}/{} (the events stay in {})\n",
            r.dropped_requests,
            r.dropped_items,
            spool.display(),
            otlp::spool::DROPPED,
            config.events_dir.display()
        ));
    }
    s
}
