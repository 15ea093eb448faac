//! `event-publisher tail [-f]`: the latest events, and with `-f` each new
//! event as it lands, whoever stores it, until interrupted. Following is
//! the store's follower (`store::follow`): every record stored after the
//! moment `tail` started, in the order they were stored, wherever their
//! timestamp files them.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use uuid::Uuid;

use super::reading::{self, say};
use crate::cli::{GlobalArgs, TailArgs};
use crate::enrich::Record;
use crate::exit_code::ExitCode;
use crate::store::follow::{Follower, Waiter};
use crate::store::{EventsDir, FileName, Filter, Kind, Order, Problems, Scan, Scope};
use crate::view::{Format, JsonOut, Style, event_row, table};

pub fn run(global: &GlobalArgs, args: &TailArgs) -> ExitCode {
    let config = reading::config(global);
    let filter = match reading::filter(&args.filter) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let scope = filter.scope(Scope::Valid);
    let format = args.output.format();
    let mut printer = Printer::new(format, args.follow);
    let dir = match EventsDir::open(&config.events_dir) {
        Ok(d) => d,
        Err(e) => {
            say(e.message());
            return ExitCode::Failure;
        }
    };
    // Where following starts is taken before the latest are read, so
    // nothing lands unseen in between (what lands in both is printed once).
    let follower = args.follow.then(|| Follower::from_now(&config.events_dir));
    let mut latest: Vec<Record> = match &dir {
        Some(dir) => {
            let mut scan = Scan::new(dir, &filter, scope, Order::NewestFirst);
            let latest = scan.by_ref().take(args.lines).map(|f| f.record).collect();
            scan.finish();
            latest
        }
        None if args.follow => {
            say(&format!(
                "waiting for {} to be created",
                config.events_dir.display()
            ));
            Vec::new()
        }
        None => {
            say(&format!(
                "no events yet: {} does not exist",
                config.events_dir.display()
            ));
            return ExitCode::Success;
        }
    };
    latest.reverse();
    let r = printer.batch(&latest);
    match (follower, r) {
        (Some(f), Ok(())) => follow(
            &config.events_dir,
            f,
            &filter,
            scope,
            printer,
            latest.iter().map(|r| r.id).collect(),
            args.ready_line,
        ),
        (_, r) => reading::written(r),
    }
}

/// Prints events, as a table (widths fixed by the first batch) or JSON.
struct Printer {
    format: Format,
    style: Style,
    widths: Vec<usize>,
    follow: bool,
    out: std::io::BufWriter<std::io::StdoutLock<'static>>,
}

impl Printer {
    fn new(format: Format, follow: bool) -> Printer {
        Printer {
            format,
            style: Style::new(format == Format::Terminal),
            // Room for the usual time, name and agent.
            widths: vec![24, 28, 24],
            follow,
            out: reading::stdout(),
        }
    }

    fn batch(&mut self, records: &[Record]) -> std::io::Result<()> {
        if self.format.is_json() {
            // Following prints as events land: JSON Lines even for --json.
            let lines = self.follow || self.format == Format::Jsonl;
            let mut json = JsonOut::new(&mut self.out, lines);
            for r in records {
                json.item(r)?;
            }
            json.finish()?;
            return Ok(());
        }
        for r in records {
            for (i, (text, _)) in event_row(r).iter().enumerate() {
                if let Some(w) = self.widths.get_mut(i) {
                    *w = (*w).max(text.chars().count());
                }
            }
        }
        for r in records {
            self.line(r)?;
        }
        self.out.flush()
    }

    fn line(&mut self, r: &Record) -> std::io::Result<()> {
        if self.format.is_json() {
            serde_json::to_writer(&mut self.out, r)?;
            writeln!(self.out)?;
        } else {
            let row = event_row(r);
            let text = table::line(&row, &self.widths, &self.style, self.format.width());
            writeln!(self.out, "{text}")?;
        }
        Ok(())
    }

    fn one(&mut self, r: &Record) -> std::io::Result<()> {
        self.line(r)?;
        self.out.flush()
    }
}

/// Prints each event stored from `follower`'s position on, until a
/// signal; `printed` were printed already (the latest, read after the
/// position was taken).
fn follow(
    events: &Path,
    mut follower: Follower,
    filter: &Filter,
    scope: Scope,
    mut printer: Printer,
    printed: HashSet<Uuid>,
    ready_line: bool,
) -> ExitCode {
    let mut waiter = match Waiter::new(events) {
        Ok(w) => w,
        Err(e) => {
            say(&e);
            return ExitCode::Failure;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (flag, waker) = (stop.clone(), waiter.waker());
    match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                if signals.forever().next().is_some() {
                    flag.store(true, Ordering::SeqCst);
                    let _ = waker.send(());
                }
            });
        }
        Err(e) => say(&format!(
            "cannot catch Ctrl-C ({e}); it will end tail abruptly"
        )),
    }
    if ready_line {
        say(&format!("following {}", events.display()));
    }
    let mut problems = Problems::new();
    let kinds = scope.kinds();
    let seen = |file: &FileName| {
        !printed.is_empty() && Uuid::parse_str(file.id()).is_ok_and(|id| printed.contains(&id))
    };
    let mut want = |kind: Kind, file: &FileName| {
        kinds.contains(&kind) && !seen(file) && filter.file_may_match(file)
    };
    while !stop.load(Ordering::SeqCst) {
        for arrival in follower.poll(&mut want, &mut problems) {
            if filter.matches(&arrival.record) {
                if let Err(e) = printer.one(&arrival.record) {
                    return reading::written(Err(e));
                }
            }
        }
        if follower.caught_up() {
            waiter.wait(Duration::from_secs(1));
        }
    }
    problems.finish();
    reading::written(printer.out.flush())
}
