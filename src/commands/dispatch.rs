//! `event-publisher dispatch`: delivers stored events to the subscribers
//! of the config files. Follows the store until stopped; `--once` delivers
//! what is pending within `--timeout` and exits 0 when all is delivered,
//! 1 with a summary when something is pending or dead. One dispatcher runs
//! per events directory (a lock under the store); another one started at
//! the same time says so and exits, and `--once` then waits for the
//! running one to deliver. The use case is `bus::run`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::bus::run::{self, From, Outcome, Request, Status};
use crate::cli::{DispatchArgs, GlobalArgs};
use crate::commands::reading::{self, say};
use crate::exit_code::ExitCode;

pub fn run(global: &GlobalArgs, args: &DispatchArgs) -> ExitCode {
    let Some(timeout) = duration(&args.timeout) else {
        say(&format!(
            "--timeout {:?}: expected a duration like 30s, 2m or 500ms",
            args.timeout
        ));
        return ExitCode::Usage;
    };
    let from = match args.from.as_deref() {
        None => None,
        Some("start") => Some(From::Start),
        Some(t) => match crate::store::time_spec::parse_time(t, chrono::Utc::now()) {
            Ok(at) => Some(From::Time(at)),
            Err(e) => {
                say(&format!("--from: {}", e.message()));
                return ExitCode::Usage;
            }
        },
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, Arc::clone(&stop));
    }
    let request = Request {
        only: args.subscribers.clone(),
        once: args.once,
        timeout,
        idle_exit: args.idle_exit.map(Duration::from_secs),
        from,
        enable: args.enable.clone(),
        retry_dead: args.retry_dead.clone(),
        stop,
    };
    let config = reading::config(global);
    let reload = || reading::config_quietly(global);
    match run::run(&config, &reload, &request, &mut |m| say(m)) {
        Outcome::Done => ExitCode::Success,
        Outcome::Summary(statuses) => summary(&statuses),
        Outcome::Enabled { name, was_disabled } => {
            say(&match was_disabled {
                true => format!("subscriber {name} is enabled again"),
                false => format!("subscriber {name} was not disabled"),
            });
            ExitCode::Success
        }
        Outcome::Retried {
            name,
            delivered,
            left,
        } => {
            say(&format!(
                "subscriber {name}: {delivered} dead letter(s) delivered, {left} still dead"
            ));
            match left {
                0 => ExitCode::Success,
                _ => ExitCode::Failure,
            }
        }
        Outcome::Unknown(why) => {
            say(&why);
            ExitCode::Usage
        }
        Outcome::Failed(why) => {
            say(&why);
            ExitCode::Failure
        }
    }
}

/// A line per subscriber; 0 when nothing is pending or dead.
fn summary(statuses: &[Status]) -> ExitCode {
    for s in statuses {
        let r = &s.report;
        let mut line = format!(
            "{}: {} delivered, {} retried, {} dead letter(s)",
            r.name, r.delivered, r.retried, s.dead
        );
        if r.pending {
            line.push_str(", events pending");
        }
        if let Some(why) = &r.disabled {
            line.push_str(&format!(", {why}"));
        }
        if s.is_behind() && r.disabled.is_none() {
            if let Some(e) = &r.last_error {
                line.push_str(&format!("; last error: {e}"));
            }
        }
        say(&line);
    }
    match statuses.iter().any(Status::is_behind) {
        true => ExitCode::Failure,
        false => ExitCode::Success,
    }
}

/// `30s`, `2m`, `500ms`, `1h30m`.
fn duration(text: &str) -> Option<Duration> {
    if let Some(ms) = text.trim().strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    crate::store::time_spec::parse_duration(text)
        .ok()
        .and_then(|d| d.to_std().ok())
}
