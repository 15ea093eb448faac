//! `event-publisher dispatch`: delivers stored events to the subscribers
//! of the config files. Follows the store until stopped; `--once` delivers
//! what is pending within `--timeout` and exits 0 when all is delivered,
//! 1 with a summary when something is pending or dead. One dispatcher runs
//! per events directory (a lock under the store); another one started at
//! the same time says so and exits, and `--once` then waits for the
//! running one to deliver.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::bus::Subscribers;
use crate::bus::dispatcher::{self, Ctx, Options, SubReport, pending};
use crate::bus::state::State;
use crate::cli::{DispatchArgs, GlobalArgs};
use crate::commands::reading::{self, say};
use crate::config::{self, Config, Sources};
use crate::exit_code::ExitCode;

pub fn run(global: &GlobalArgs, args: &DispatchArgs) -> ExitCode {
    let config = reading::config(global);
    let mut subs = Subscribers::parse(&config.subscribers);
    for w in &subs.warnings {
        say(w);
    }
    for name in &args.subscribers {
        if subs.get(name).is_none() {
            say(&format!("no subscriber named {name:?} in the config files"));
            return ExitCode::Usage;
        }
    }
    if !args.subscribers.is_empty() {
        subs.list.retain(|s| args.subscribers.contains(&s.name));
    }
    if subs.is_empty() {
        say("no subscribers in the config files; nothing to deliver");
        return ExitCode::Success;
    }
    let timeout = match duration(&args.timeout) {
        Some(t) => t,
        None => {
            say(&format!(
                "--timeout {:?}: expected a duration like 30s, 2m or 500ms",
                args.timeout
            ));
            return ExitCode::Usage;
        }
    };
    let mut ctx = Ctx::new(&config);
    let names: Vec<&str> = subs.list.iter().map(|s| s.name.as_str()).collect();
    for w in ctx.states.register(&names) {
        say(&w);
    }
    if let Some(name) = &args.enable {
        return match ctx.states.enable(name) {
            Ok(true) => {
                say(&format!("subscriber {name} is enabled again"));
                ExitCode::Success
            }
            Ok(false) => {
                say(&format!("subscriber {name} was not disabled"));
                ExitCode::Success
            }
            Err(e) => {
                say(&format!("subscriber {name}: {e}"));
                ExitCode::Failure
            }
        };
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, Arc::clone(&stop));
    }
    let opts = Options {
        once: args.once,
        deadline: (args.once || args.retry_dead.is_some()).then(|| Instant::now() + timeout),
        idle_exit: args.idle_exit.map(Duration::from_secs),
        stop,
        last_active: Arc::default(),
    };
    if let Some(name) = &args.retry_dead {
        let Some(sub) = subs.get(name) else {
            say(&format!("no subscriber named {name:?} in the config files"));
            return ExitCode::Usage;
        };
        let (ok, left) = dispatcher::retry_dead(&ctx, sub, &opts);
        say(&format!(
            "subscriber {name}: {ok} dead letter(s) delivered, {left} still dead"
        ));
        return if left == 0 {
            ExitCode::Success
        } else {
            ExitCode::Failure
        };
    }
    let mut lock = match ctx.states.lock() {
        Ok(l) => l,
        Err(e) => {
            say(&format!("cannot take the dispatcher lock: {e}"));
            return ExitCode::Failure;
        }
    };
    if lock.is_none() {
        let pid = std::fs::read_to_string(config.events_dir.join(".dispatch/lock"))
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok());
        let who = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
        if args.from.is_some() {
            say(&format!(
                "another dispatcher is running{who}; --from needs it stopped"
            ));
            return ExitCode::Failure;
        }
        if !args.once {
            say(&format!(
                "another dispatcher is running{who}; this one exits"
            ));
            return ExitCode::Success;
        }
        return wait_for_other(&ctx, &subs, &opts, &who);
    }
    if let Some(from) = &args.from {
        let (cursor, since) = match from.as_str() {
            "start" => ("0".to_string(), None),
            t => match crate::store::time_spec::parse_time(t, chrono::Utc::now()) {
                Ok(at) => (
                    "0".to_string(),
                    Some(crate::enrich::enricher::format_time(at)),
                ),
                Err(e) => {
                    say(&format!("--from: {}", e.message()));
                    return ExitCode::Usage;
                }
            },
        };
        for sub in &subs.list {
            let mut state = ctx.states.load(&sub.name).unwrap_or_default();
            state.cursor = cursor.clone();
            state.since = since.clone();
            if let Err(e) = ctx.states.save(&sub.name, &state) {
                say(&format!("subscriber {}: {e}", sub.name));
                return ExitCode::Failure;
            }
        }
    }
    let emits = subs
        .list
        .iter()
        .any(|s| matches!(s.action, crate::bus::Action::Emit(_)));
    let mut total: Vec<SubReport> = Vec::new();
    loop {
        if !args.once {
            // Follow mode: a round lasts until stopped, idle, or the
            // subscribers in the config files change (then they are read
            // again, the lock kept).
            let (_, changed) = follow_round(global, &ctx, &subs, &opts);
            if let Some(new) = changed {
                say("the subscribers in the config files changed; reading them again");
                subs = Subscribers::parse(&new.subscribers);
                for w in &subs.warnings {
                    say(w);
                }
                if !args.subscribers.is_empty() {
                    subs.list.retain(|s| args.subscribers.contains(&s.name));
                }
                ctx = Ctx::new(&new);
                let names: Vec<&str> = subs.list.iter().map(|s| s.name.as_str()).collect();
                for w in ctx.states.register(&names) {
                    say(&w);
                }
                continue;
            }
        }
        let reports = match args.once {
            true => dispatcher::run(&ctx, &subs, &opts),
            false => Vec::new(),
        };
        if args.once {
            // Derived events may be for subscribers that had finished:
            // another round until a round emits nothing.
            let emitted = reports
                .iter()
                .zip(&subs.list)
                .any(|(r, s)| r.delivered > 0 && matches!(s.action, crate::bus::Action::Emit(_)));
            merge(&mut total, reports);
            let out_of_time = opts.deadline.is_some_and(|d| Instant::now() >= d);
            if emits && emitted && !out_of_time {
                continue;
            }
            return summary(&ctx, &total);
        }
        drop(lock.take());
        if opts.stop.load(Ordering::Relaxed) {
            return ExitCode::Success;
        }
        // Idle: the lock is released; an event stored just before a hook
        // saw it still held is delivered by going on here.
        let left = subs.list.iter().any(|s| {
            let state = ctx.states.load(&s.name).unwrap_or_default();
            ctx.states.disabled(&s.name).is_none()
                && pending(&ctx.config.events_dir, s, &state, 1) > 0
        });
        if !left {
            return ExitCode::Success;
        }
        match ctx.states.lock() {
            Ok(Some(l)) => lock = Some(l),
            _ => return ExitCode::Success,
        }
    }
}

/// Runs the subscribers' threads until they end (stopped or idle) or the
/// config files name other subscribers: then the new config is returned.
/// The files are read again each second.
fn follow_round(
    global: &GlobalArgs,
    ctx: &Ctx,
    subs: &Subscribers,
    opts: &Options,
) -> (Vec<SubReport>, Option<Config>) {
    let round = Options {
        stop: Arc::new(AtomicBool::new(false)),
        ..opts.clone()
    };
    let done = AtomicBool::new(false);
    let mut changed = None;
    let reports = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut last = Instant::now();
            while !done.load(Ordering::Relaxed) {
                if opts.stop.load(Ordering::Relaxed) {
                    round.stop.store(true, Ordering::Relaxed);
                    return None;
                }
                if last.elapsed() >= Duration::from_secs(1) {
                    last = Instant::now();
                    let sources = Sources::process();
                    let project =
                        config::project_dir(global.project_dir.as_deref(), sources.env, None);
                    let now = Config::resolve(global.settings(), project, &sources);
                    if now.subscribers != ctx.config.subscribers {
                        round.stop.store(true, Ordering::Relaxed);
                        return Some(now);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            None
        });
        let reports = dispatcher::run(ctx, subs, &round);
        done.store(true, Ordering::Relaxed);
        changed = watcher.join().ok().flatten();
        reports
    });
    (reports, changed)
}

/// Adds a round's counts to the totals; the last round says what is left.
fn merge(total: &mut Vec<SubReport>, round: Vec<SubReport>) {
    if total.is_empty() {
        *total = round;
        return;
    }
    for (t, r) in total.iter_mut().zip(round) {
        t.delivered += r.delivered;
        t.retried += r.retried;
        t.dead += r.dead;
        t.pending = r.pending;
        t.disabled = r.disabled;
        t.last_error = r.last_error.or(t.last_error.take());
    }
}

/// `--once` while another dispatcher runs: wait for it to deliver.
fn wait_for_other(ctx: &Ctx, subs: &Subscribers, opts: &Options, who: &str) -> ExitCode {
    say(&format!(
        "another dispatcher is running{who}; waiting for it to deliver"
    ));
    loop {
        let reports: Vec<SubReport> = subs
            .list
            .iter()
            .map(|s| {
                let state = ctx.states.load(&s.name).unwrap_or_default();
                SubReport {
                    name: s.name.clone(),
                    pending: pending(ctx.states.events(), s, &state, 1) > 0,
                    disabled: ctx.states.disabled(&s.name),
                    last_error: state.last_error.clone(),
                    ..SubReport::default()
                }
            })
            .collect();
        let out_of_time = opts.deadline.is_some_and(|d| Instant::now() >= d);
        if out_of_time || !reports.iter().any(|r| r.pending && r.disabled.is_none()) {
            return summary(ctx, &reports);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Says what is left; 0 when nothing is pending or dead.
fn summary(ctx: &Ctx, reports: &[SubReport]) -> ExitCode {
    let mut ok = true;
    for r in reports {
        let dead = ctx.states.dead_letters(&r.name).len();
        let state: State = ctx.states.load(&r.name).unwrap_or_default();
        let mut line = format!(
            "{}: {} delivered, {} retried, {} dead letter(s)",
            r.name, r.delivered, r.retried, dead
        );
        if r.pending {
            line.push_str(", events pending");
        }
        if let Some(why) = &r.disabled {
            line.push_str(&format!(", {why}"));
        }
        if (r.pending || dead > 0) && r.disabled.is_none() {
            if let Some(e) = r.last_error.as_ref().or(state.last_error.as_ref()) {
                line.push_str(&format!("; last error: {e}"));
            }
        }
        if r.pending || dead > 0 {
            ok = false;
        }
        say(&line);
    }
    if ok {
        ExitCode::Success
    } else {
        ExitCode::Failure
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
