//! The `dispatch` use case: which subscribers to serve, the one
//! dispatcher lock per events directory, `--from`, `--enable` and
//! `--retry-dead`, rounds of `--once` until derived events stop coming,
//! and, when following, reading the config files again when they name
//! other subscribers. The command parses its flags into a `Request` and
//! renders the `Outcome`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::Action;
use super::dispatcher::{self, Ctx, Options, SubReport, pending};
use super::subscriber::Subscribers;
use crate::config::Config;
use crate::enrich::enricher::format_time;

/// Where a use case's messages go, one line each, as they happen: a hook
/// may be ended by its deadline at any point, and what it said by then
/// must have been said.
pub type Say<'a> = &'a mut dyn FnMut(&str);

/// What `dispatch` is asked to do.
pub struct Request {
    /// Only these subscribers (all when empty).
    pub only: Vec<String>,
    /// Deliver what is pending, then stop.
    pub once: bool,
    /// How long `once` and `retry_dead` may take.
    pub timeout: Duration,
    /// Following: stop after this long with nothing to deliver.
    pub idle_exit: Option<Duration>,
    /// Move every cursor back first.
    pub from: Option<From>,
    /// Enable this disabled subscriber, and nothing else.
    pub enable: Option<String>,
    /// Deliver this subscriber's dead letters again, and nothing else.
    pub retry_dead: Option<String>,
    /// Set by a signal: stop.
    pub stop: Arc<AtomicBool>,
}

/// Where `Request::from` starts each subscriber.
pub enum From {
    /// Every stored event.
    Start,
    /// The events at or after this time.
    Time(DateTime<Utc>),
}

/// How it ended.
pub enum Outcome {
    /// Stopped, idle, another dispatcher follows, or nothing to do.
    Done,
    /// Each subscriber's state after `once` (or after waiting for another
    /// dispatcher).
    Summary(Vec<Status>),
    /// `--enable`: whether the subscriber had been disabled.
    Enabled {
        name: String,
        was_disabled: bool,
    },
    /// `--retry-dead`: delivered, and still dead.
    Retried {
        name: String,
        delivered: usize,
        left: usize,
    },
    /// The request names what the config files do not hold.
    Unknown(String),
    Failed(String),
}

/// One subscriber at the end.
pub struct Status {
    pub report: SubReport,
    /// Dead letters it holds now.
    pub dead: usize,
}

impl Status {
    /// Something is pending or dead.
    pub fn is_behind(&self) -> bool {
        self.report.pending || self.dead > 0
    }
}

/// Runs `request` on the subscribers of `config`; `reload` reads the config
/// files again (following mode, each second).
pub fn run(
    config: &Config,
    reload: &(dyn Fn() -> Config + Sync),
    request: &Request,
    say: Say,
) -> Outcome {
    let mut subs = Subscribers::parse(&config.subscribers);
    for w in &subs.warnings {
        say(w);
    }
    for name in &request.only {
        if subs.get(name).is_none() {
            return Outcome::Unknown(format!("no subscriber named {name:?} in the config files"));
        }
    }
    keep_only(&mut subs, &request.only);
    if subs.is_empty() {
        say("no subscribers in the config files; nothing to deliver");
        return Outcome::Done;
    }
    let mut ctx = Ctx::new(config);
    register(&ctx, &subs, say);
    if let Some(name) = &request.enable {
        return match ctx.states.enable(name) {
            Ok(was_disabled) => Outcome::Enabled {
                name: name.clone(),
                was_disabled,
            },
            Err(e) => Outcome::Failed(format!("subscriber {name}: {e}")),
        };
    }
    let opts = Options {
        once: request.once,
        deadline: (request.once || request.retry_dead.is_some())
            .then(|| Instant::now() + request.timeout),
        idle_exit: request.idle_exit,
        stop: Arc::clone(&request.stop),
        last_active: Arc::default(),
    };
    if let Some(name) = &request.retry_dead {
        let Some(sub) = subs.get(name) else {
            return Outcome::Unknown(format!("no subscriber named {name:?} in the config files"));
        };
        let (delivered, left) = dispatcher::retry_dead(&ctx, sub, &opts);
        return Outcome::Retried {
            name: name.clone(),
            delivered,
            left,
        };
    }
    let mut lock = match ctx.states.lock() {
        Ok(l) => l,
        Err(e) => return Outcome::Failed(format!("cannot take the dispatcher lock: {e}")),
    };
    if lock.is_none() {
        let who = ctx
            .states
            .lock_holder()
            .map(|p| format!(" (pid {p})"))
            .unwrap_or_default();
        if request.from.is_some() {
            return Outcome::Failed(format!(
                "another dispatcher is running{who}; --from needs it stopped"
            ));
        }
        if !request.once {
            say(&format!(
                "another dispatcher is running{who}; this one exits"
            ));
            return Outcome::Done;
        }
        return wait_for_other(&ctx, &subs, &opts, &who, say);
    }
    if let Some(from) = &request.from {
        let since = match from {
            From::Start => None,
            From::Time(at) => Some(format_time(*at)),
        };
        for sub in &subs.list {
            let mut state = ctx.states.load(&sub.name).unwrap_or_default();
            state.cursor = "0".to_string();
            state.since = since.clone();
            if let Err(e) = ctx.states.save(&sub.name, &state) {
                return Outcome::Failed(format!("subscriber {}: {e}", sub.name));
            }
        }
    }
    let emits = subs
        .list
        .iter()
        .any(|s| matches!(s.action, Action::Emit(_)));
    let mut total: Vec<SubReport> = Vec::new();
    loop {
        if !request.once {
            // Follow mode: a round lasts until stopped, idle, or the
            // subscribers in the config files change (then they are read
            // again, the lock kept).
            if let Some(new) = follow_round(reload, &ctx, &subs, &opts) {
                say("the subscribers in the config files changed; reading them again");
                subs = Subscribers::parse(&new.subscribers);
                for w in &subs.warnings {
                    say(w);
                }
                keep_only(&mut subs, &request.only);
                ctx = Ctx::new(&new);
                register(&ctx, &subs, say);
                continue;
            }
        } else {
            let reports = dispatcher::run(&ctx, &subs, &opts);
            // Derived events may be for subscribers that had finished:
            // another round until a round emits nothing.
            let emitted = reports
                .iter()
                .zip(&subs.list)
                .any(|(r, s)| r.delivered > 0 && matches!(s.action, Action::Emit(_)));
            merge(&mut total, reports);
            let out_of_time = opts.deadline.is_some_and(|d| Instant::now() >= d);
            if emits && emitted && !out_of_time {
                continue;
            }
            return Outcome::Summary(statuses(&ctx, total));
        }
        drop(lock.take());
        if opts.stop.load(Ordering::Relaxed) {
            return Outcome::Done;
        }
        // Idle: the lock is released; an event stored just before a hook
        // saw it still held is delivered by going on here.
        let left = subs.list.iter().any(|s| {
            let state = ctx.states.load(&s.name).unwrap_or_default();
            ctx.states.disabled(&s.name).is_none()
                && pending(&ctx.config.events_dir, s, &state, 1) > 0
        });
        if !left {
            return Outcome::Done;
        }
        match ctx.states.lock() {
            Ok(Some(l)) => lock = Some(l),
            _ => return Outcome::Done,
        }
    }
}

fn keep_only(subs: &mut Subscribers, only: &[String]) {
    if !only.is_empty() {
        subs.list.retain(|s| only.contains(&s.name));
    }
}

fn register(ctx: &Ctx, subs: &Subscribers, say: Say) {
    let names: Vec<&str> = subs.list.iter().map(|s| s.name.as_str()).collect();
    for w in ctx.states.register(&names) {
        say(&w);
    }
}

/// Runs the subscribers' threads until they end (stopped or idle) or the
/// config files name other subscribers: then the new config is returned.
/// The files are read again each second.
fn follow_round(
    reload: &(dyn Fn() -> Config + Sync),
    ctx: &Ctx,
    subs: &Subscribers,
    opts: &Options,
) -> Option<Config> {
    let round = Options {
        stop: Arc::new(AtomicBool::new(false)),
        ..opts.clone()
    };
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut last = Instant::now();
            while !done.load(Ordering::Relaxed) {
                if opts.stop.load(Ordering::Relaxed) {
                    round.stop.store(true, Ordering::Relaxed);
                    return None;
                }
                if last.elapsed() >= Duration::from_secs(1) {
                    last = Instant::now();
                    let now = reload();
                    if now.subscribers != ctx.config.subscribers {
                        round.stop.store(true, Ordering::Relaxed);
                        return Some(now);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            None
        });
        dispatcher::run(ctx, subs, &round);
        done.store(true, Ordering::Relaxed);
        watcher.join().ok().flatten()
    })
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

/// `once` while another dispatcher runs: wait for it to deliver.
fn wait_for_other(ctx: &Ctx, subs: &Subscribers, opts: &Options, who: &str, say: Say) -> Outcome {
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
                    pending: pending(&ctx.config.events_dir, s, &state, 1) > 0,
                    disabled: ctx.states.disabled(&s.name),
                    last_error: state.last_error.clone(),
                    ..SubReport::default()
                }
            })
            .collect();
        let out_of_time = opts.deadline.is_some_and(|d| Instant::now() >= d);
        if out_of_time || !reports.iter().any(|r| r.pending && r.disabled.is_none()) {
            return Outcome::Summary(statuses(ctx, reports));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each report with the dead letters held now and, when something is
/// behind, the last error its state recorded.
fn statuses(ctx: &Ctx, reports: Vec<SubReport>) -> Vec<Status> {
    reports
        .into_iter()
        .map(|mut report| {
            let dead = ctx.states.dead_letters(&report.name).len();
            if report.last_error.is_none() {
                report.last_error = ctx.states.load(&report.name).unwrap_or_default().last_error;
            }
            Status { report, dead }
        })
        .collect()
}
