//! The dispatcher: one thread per subscriber, each following the store's
//! arrival journal from the subscriber's durable cursor and delivering the
//! events it is on, in the order they were stored.
//!
//! Guarantees:
//! - at least once: the cursor passes an event only once it is delivered
//!   or dead, so a killed dispatcher delivers again at most the events it
//!   had in flight (one with the default concurrency of 1), same ids;
//! - isolation: a slow or failing subscriber holds only its own thread;
//! - order per session: with a concurrency limit above 1, the events in
//!   flight together are of distinct sessions;
//! - retries with capped exponential backoff and jitter (or the receiver's
//!   `Retry-After`), then the subscriber's dead letters with the last error.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::emitter::{EmitContext, Emitter, NewEvent, TraceContext};
use super::state::{DeadLetter, State, StateDir};
use super::subscriber::{Action, MAX_DEPTH, Subscriber, Subscribers};
use super::webhook::{WebhookSender, secret_bytes};
use super::{Outcome, exec, template};
use crate::config::Config;
use crate::enrich::Record;
use crate::enrich::enricher::{format_time, parse_time};
use crate::store::Kind;
use crate::store::follow::{Follower, Waiter};
use crate::store::problems::Problems;

/// How a dispatch run goes.
#[derive(Clone, Debug)]
pub struct Options {
    /// Deliver what is pending, then stop (`dispatch --once`).
    pub once: bool,
    /// Nothing is started after this; what is not finished stays pending.
    pub deadline: Option<Instant>,
    /// Follow mode: stop after this long with nothing to deliver.
    pub idle_exit: Option<Duration>,
    pub stop: Arc<AtomicBool>,
    /// When any subscriber last had something to do (ms since the epoch).
    pub last_active: Arc<AtomicU64>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What one subscriber's thread did.
#[derive(Clone, Debug, Default)]
pub struct SubReport {
    pub name: String,
    pub delivered: u64,
    pub retried: u64,
    pub dead: u64,
    /// Events it is on that are not finished.
    pub pending: bool,
    pub disabled: Option<String>,
    pub last_error: Option<String>,
}

/// What every delivery needs to know.
#[derive(Clone)]
pub struct Ctx {
    pub config: Config,
    pub states: StateDir,
}

impl Ctx {
    pub fn new(config: &Config) -> Ctx {
        Ctx {
            states: StateDir::new(&config.events_dir),
            config: config.clone(),
        }
    }

    fn events(&self) -> &Path {
        &self.config.events_dir
    }

    fn project(&self) -> PathBuf {
        self.config.project_dir.clone()
    }
}

/// Runs one thread per subscriber until each is done (see `Options`).
pub fn run(ctx: &Ctx, subs: &Subscribers, opts: &Options) -> Vec<SubReport> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = subs
            .list
            .iter()
            .map(|sub| scope.spawn(move || Worker::new(ctx, sub, opts).run()))
            .collect();
        handles
            .into_iter()
            .zip(&subs.list)
            .map(|(h, sub)| {
                h.join().unwrap_or_else(|_| SubReport {
                    name: sub.name.clone(),
                    pending: true,
                    last_error: Some("internal error (please report)".into()),
                    ..SubReport::default()
                })
            })
            .collect()
    })
}

/// How one event's delivery ended.
enum Finish {
    Delivered {
        retried: u32,
    },
    Dead {
        why: String,
        attempts: u32,
    },
    Gone(String),
    /// Out of time (or stopped) before it was delivered.
    Pending {
        why: Option<String>,
        retried: u32,
    },
}

struct Worker<'a> {
    ctx: &'a Ctx,
    sub: &'a Subscriber,
    opts: &'a Options,
    webhook: WebhookSender,
    emitter: Option<Emitter>,
    report: SubReport,
    /// An event could not be finished in time: nothing more is started.
    out_of_time: bool,
}

impl<'a> Worker<'a> {
    fn new(ctx: &'a Ctx, sub: &'a Subscriber, opts: &'a Options) -> Self {
        Worker {
            ctx,
            sub,
            opts,
            webhook: WebhookSender::new(),
            emitter: None,
            report: SubReport {
                name: sub.name.clone(),
                ..SubReport::default()
            },
            out_of_time: false,
        }
    }

    /// Notes that this subscriber had something to do: no thread of the
    /// dispatcher ends idle until all of them have been idle long enough,
    /// so that none stops while the others (and the lock) go on.
    fn touch(&self) {
        self.opts.last_active.store(now_ms(), Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        Duration::from_millis(
            now_ms().saturating_sub(self.opts.last_active.load(Ordering::Relaxed)),
        )
    }

    fn out_of_time(&self) -> bool {
        self.out_of_time
            || self.opts.stop.load(Ordering::Relaxed)
            || self.opts.deadline.is_some_and(|d| Instant::now() >= d)
    }

    fn run(mut self) -> SubReport {
        let name = &self.sub.name;
        let states = &self.ctx.states;
        states.register(&[name]);
        let mut state = states.load(name).unwrap_or_default();
        let since = state.since.as_deref().and_then(parse_time);
        let mut follower = Follower::new(self.ctx.events(), state.position());
        let mut waiter = None;
        self.touch();
        let mut problems = Problems::quiet();
        loop {
            if let Some(why) = states.disabled(name) {
                self.report.disabled = Some(why);
                self.report.pending = self.has_pending(&state);
                return self.report;
            }
            if self.out_of_time() {
                self.report.pending = self.has_pending(&state);
                return self.report;
            }
            let sub = self.sub;
            let arrivals = follower.poll(
                &mut |kind, file| {
                    (kind == Kind::Valid || sub.invalid)
                        && (sub.is_on_name(file.name()) || kind == Kind::Invalid)
                },
                &mut problems,
            );
            if !arrivals.is_empty() {
                self.touch();
            }
            let mut window: Vec<Record> = Vec::new();
            let mut window_end = None;
            let mut finished_all = true;
            for a in arrivals {
                let on = self.sub.is_on(&a.record)
                    && since.is_none_or(|s| {
                        parse_time(&a.record.observed_timestamp).is_none_or(|t| t >= s)
                    });
                if !on {
                    continue;
                }
                let session = a.record.source.session_id.clone();
                let full = window.len() >= self.sub.concurrency
                    || window.iter().any(|r| r.source.session_id == session);
                if full && !self.deliver_window(&mut state, &mut window, window_end.take()) {
                    finished_all = false;
                    break;
                }
                window.push(a.record);
                window_end = Some(a.position);
            }
            if finished_all && !window.is_empty() {
                finished_all = self.deliver_window(&mut state, &mut window, window_end.take());
            }
            if !finished_all {
                // Out of time, stopped or disabled: the loop's checks end
                // it; otherwise it goes on from the cursor.
                follower = Follower::new(self.ctx.events(), state.position());
                self.touch();
                continue;
            }
            // Everything given is finished: the cursor may pass the events
            // it is not on, too.
            let end = follower.position().to_string();
            if end != state.cursor {
                state.cursor = end;
                self.save(&state);
            }
            if !follower.caught_up() {
                self.touch();
                continue;
            }
            if self.opts.once {
                return self.report;
            }
            if self
                .opts
                .idle_exit
                .is_some_and(|limit| self.idle_for() >= limit)
            {
                return self.report;
            }
            let w = waiter.get_or_insert_with(|| Waiter::new(self.ctx.events()).ok());
            match w {
                Some(w) => w.wait(Duration::from_millis(500)),
                None => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Delivers the events of `window` together; moves the cursor past the
    /// finished ones (all of them, or those before the first unfinished).
    /// False when one is not finished.
    fn deliver_window(
        &mut self,
        state: &mut State,
        window: &mut Vec<Record>,
        end: Option<crate::store::follow::Position>,
    ) -> bool {
        let records = std::mem::take(window);
        let finishes: Vec<Finish> = if records.len() == 1 {
            vec![self.deliver_one(&records[0])]
        } else {
            let ctx = self.ctx;
            let sub = self.sub;
            let opts = self.opts;
            std::thread::scope(|scope| {
                let handles: Vec<_> = records
                    .iter()
                    .map(|r| scope.spawn(move || Worker::new(ctx, sub, opts).deliver_one(r)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or(Finish::Pending {
                            why: Some("internal error (please report)".into()),
                            retried: 0,
                        })
                    })
                    .collect()
            })
        };
        let mut all = true;
        for (record, finish) in records.iter().zip(finishes) {
            if !all {
                // After an unfinished one: it will be delivered again.
                continue;
            }
            match finish {
                Finish::Delivered { retried } => {
                    state.delivered += 1;
                    state.retried += retried as u64;
                    self.report.delivered += 1;
                    self.report.retried += retried as u64;
                }
                Finish::Dead { why, attempts } => {
                    let retried = attempts.saturating_sub(1) as u64;
                    state.retried += retried;
                    state.dead += 1;
                    state.error(&why);
                    self.report.retried += retried;
                    self.report.dead += 1;
                    self.report.last_error = state.last_error.clone();
                    let letter = DeadLetter {
                        subscriber: self.sub.name.clone(),
                        error: state.last_error.clone().unwrap_or_default(),
                        attempts,
                        failed_at: format_time(chrono::Utc::now()),
                        record: record.clone(),
                    };
                    if let Err(e) = self.ctx.states.add_dead(&letter) {
                        crate::view::say(&format!(
                            "subscriber {}: event {} is dead ({why}) and its dead letter could not be kept: {e}",
                            self.sub.name, record.id
                        ));
                    }
                }
                Finish::Gone(why) => {
                    let why = format!("disabled: {why}");
                    crate::view::say(&format!(
                        "subscriber {} {why}; `event-publisher dispatch --enable {}` turns it on again",
                        self.sub.name, self.sub.name
                    ));
                    state.error(&why);
                    let _ = self.ctx.states.disable(&self.sub.name, &why);
                    // Even if that could not be written: nothing more now.
                    self.out_of_time = true;
                    self.report.last_error = state.last_error.clone();
                    all = false;
                }
                Finish::Pending { why, retried } => {
                    // Out of time or stopped: this run is over for it.
                    self.out_of_time = true;
                    state.retried += retried as u64;
                    self.report.retried += retried as u64;
                    if let Some(why) = why {
                        state.error(&why);
                        self.report.last_error = state.last_error.clone();
                    }
                    all = false;
                }
            }
        }
        // A window's cursor moves only when all of it is finished: the
        // events in flight together are delivered again otherwise.
        if let (true, Some(end)) = (all, end) {
            state.cursor = end.to_string();
        }
        self.save(state);
        all
    }

    fn save(&self, state: &State) {
        if let Err(e) = self.ctx.states.save(&self.sub.name, state) {
            crate::view::say(&format!(
                "subscriber {}: cannot keep its cursor: {e}",
                self.sub.name
            ));
        }
    }

    /// Delivers one event, trying again as the subscriber says.
    fn deliver_one(&mut self, record: &Record) -> Finish {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match self.attempt(record) {
                Outcome::Delivered => {
                    return Finish::Delivered {
                        retried: attempts - 1,
                    };
                }
                Outcome::Dead(why) => return Finish::Dead { why, attempts },
                Outcome::Gone(why) => return Finish::Gone(why),
                Outcome::Retry { why, after } => {
                    if attempts > self.sub.retries {
                        return Finish::Dead {
                            why: format!("{why} (after {attempts} attempts)"),
                            attempts,
                        };
                    }
                    let wait = after.unwrap_or_else(|| backoff(self.sub, attempts));
                    if !self.sleep(wait) {
                        return Finish::Pending {
                            why: Some(why),
                            retried: attempts,
                        };
                    }
                }
            }
        }
    }

    /// Sleeps `d` unless stopped or out of time first (false then).
    fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        if self.opts.deadline.is_some_and(|dl| dl < until) {
            return false;
        }
        while Instant::now() < until {
            if self.out_of_time() {
                return false;
            }
            std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
        }
        true
    }

    fn attempt(&mut self, record: &Record) -> Outcome {
        match &self.sub.action {
            Action::Exec { .. } | Action::Shell { .. } => exec::deliver(
                &self.sub.action,
                record,
                &self.ctx.project(),
                self.sub.timeout,
            ),
            Action::Webhook { url, secret_env } => {
                let secret = match secret_env {
                    Some(var) => match std::env::var(var) {
                        Ok(v) if !v.is_empty() => Some(secret_bytes(&v)),
                        _ => {
                            return Outcome::Dead(format!(
                                "secret_env {var} is not set; not sent unsigned"
                            ));
                        }
                    },
                    None => None,
                };
                self.webhook
                    .deliver(url, secret.as_deref(), record, self.sub.timeout)
            }
            Action::Emit(specs) => self.emit(specs, record),
        }
    }

    /// Stores the derived events of `record` (idempotent: their ids come
    /// from the trigger, so a repeat finds them stored).
    fn emit(&mut self, specs: &[super::subscriber::EmitSpec], record: &Record) -> Outcome {
        if self.emitter.is_none() {
            match Emitter::open(&self.ctx.config) {
                Ok(e) => self.emitter = Some(e),
                Err(e) => {
                    return Outcome::Retry {
                        why: e.to_string(),
                        after: None,
                    };
                }
            }
        }
        let emitter = self.emitter.as_mut().expect("opened above");
        let depth = emitter.depth(record.id);
        if depth >= MAX_DEPTH {
            return Outcome::Dead(format!(
                "{} derived events lead to {}: the depth limit ({MAX_DEPTH}); a loop? not emitted",
                depth, record.id
            ));
        }
        let json = serde_json::to_value(record).unwrap_or_default();
        let mut invalid = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let event = NewEvent {
                name: spec.name.clone(),
                attributes: template::fill(&spec.attributes, &json),
                id: None,
                timestamp: None,
            };
            let ctx = EmitContext {
                trace: TraceContext::Parent {
                    trace_id: record.trace_id.clone(),
                    span_id: record.span_id.clone(),
                },
                caused_by: Some(record.id),
                source: record.source.clone(),
                origin: format!("emit/{}/{}/{i}", self.sub.name, record.id),
            };
            match emitter.emit(&event, &ctx) {
                Ok((r, _)) if !r.is_valid() => {
                    let why: Vec<String> = r.errors.iter().take(3).map(|p| p.to_string()).collect();
                    invalid.push(format!("{} is invalid: {}", spec.name, why.join("; ")));
                }
                Ok(_) => {}
                Err(e) => {
                    return Outcome::Retry {
                        why: e.to_string(),
                        after: None,
                    };
                }
            }
        }
        match invalid.is_empty() {
            true => Outcome::Delivered,
            false => Outcome::Dead(invalid.join("; ")),
        }
    }

    /// Whether an event this subscriber is on waits after its cursor.
    fn has_pending(&self, state: &State) -> bool {
        pending(self.ctx.events(), self.sub, state, 1) > 0
    }
}

/// How many events `sub` is on wait after its cursor (counting stops at `cap`).
pub fn pending(events: &Path, sub: &Subscriber, state: &State, cap: usize) -> usize {
    let since = state.since.as_deref().and_then(parse_time);
    let mut f = Follower::new(events, state.position());
    let mut problems = Problems::quiet();
    let mut n = 0;
    loop {
        let got = f.poll(
            &mut |kind, file| {
                (kind == Kind::Valid || sub.invalid)
                    && (sub.is_on_name(file.name()) || kind == Kind::Invalid)
            },
            &mut problems,
        );
        n += got
            .iter()
            .filter(|a| {
                sub.is_on(&a.record)
                    && since.is_none_or(|s| {
                        parse_time(&a.record.observed_timestamp).is_none_or(|t| t >= s)
                    })
            })
            .count();
        if n >= cap || f.caught_up() {
            return n;
        }
    }
}

/// The wait before attempt `attempt + 1`: the subscriber's backoff doubled
/// each time, capped, with jitter (between half and all of it).
fn backoff(sub: &Subscriber, attempt: u32) -> Duration {
    let base = sub.backoff.as_millis() as u64;
    let exp = base.saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
    let capped = exp.min(sub.max_backoff.as_millis() as u64);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let jitter = (nanos ^ (std::process::id() as u64).rotate_left(17)) % (capped / 2 + 1);
    Duration::from_millis(capped / 2 + jitter)
}

/// Sends a subscriber's dead letters again (`dispatch --retry-dead NAME`):
/// each delivered one is removed; the others stay, with their new error.
/// Returns (delivered, still dead).
pub fn retry_dead(ctx: &Ctx, sub: &Subscriber, opts: &Options) -> (usize, usize) {
    let mut worker = Worker::new(ctx, sub, opts);
    let (mut ok, mut left) = (0, 0);
    for mut letter in ctx.states.dead_letters(&sub.name) {
        if worker.out_of_time() {
            left += 1;
            continue;
        }
        match worker.deliver_one(&letter.record) {
            Finish::Delivered { .. } => {
                ctx.states.remove_dead(&sub.name, &letter);
                ok += 1;
            }
            Finish::Dead { why, attempts } => {
                letter.error = super::one_line(&why, 300);
                letter.attempts += attempts;
                letter.failed_at = format_time(chrono::Utc::now());
                let _ = ctx.states.add_dead(&letter);
                left += 1;
            }
            Finish::Gone(why) | Finish::Pending { why: Some(why), .. } => {
                letter.error = super::one_line(&why, 300);
                let _ = ctx.states.add_dead(&letter);
                left += 1;
            }
            Finish::Pending { .. } => left += 1,
        }
    }
    (ok, left)
}
