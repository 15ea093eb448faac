//! `event-publisher tail [-f]`: the latest events, and with `-f` each new
//! event as it lands, whoever writes it, until interrupted.
//!
//! Following watches directories (inotify on Linux, kqueue on macOS), never
//! polls: the events directory itself (for new day folders and `invalid/`)
//! and each day folder (for new files). A record appears atomically (the
//! sink links a complete file into place), so it is read as soon as its
//! name appears; a file written in place by something else is read again
//! when it is closed. A new day folder is listed as soon as it is watched,
//! so files that landed before the watch are not missed.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};
use uuid::Uuid;

use super::reading::{self, say};
use crate::cli::{GlobalArgs, TailArgs};
use crate::enrich::Record;
use crate::exit_code::ExitCode;
use crate::store::layout::{INVALID, is_day};
use crate::store::{EventsDir, FileName, Filter, Kind, Order, Problems, Scan, Scope};
use crate::view::{Format, JsonOut, Style, event_row, table};

pub fn run(global: &GlobalArgs, args: &TailArgs) -> ExitCode {
    let config = reading::config(global);
    let filter = match reading::filter(&args.filter) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let scope = filter.scope(Scope::Valid);
    let format = Format::from_args(&args.output);
    let mut printer = Printer::new(format, args.follow);
    let dir = match EventsDir::open(&config.events_dir) {
        Ok(d) => d,
        Err(e) => {
            say(e.message());
            return ExitCode::Failure;
        }
    };
    // Watch before reading the latest, so nothing lands unseen in between
    // (what lands twice is printed once).
    let mut follow = None;
    if args.follow {
        match Follow::new(&config.events_dir, &filter, scope) {
            Ok(f) => follow = Some(f),
            Err(e) => {
                say(&e);
                return ExitCode::Failure;
            }
        }
    }
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
    match (follow, r) {
        (Some(mut f), Ok(())) => {
            f.seen.extend(latest.iter().map(|r| r.id));
            f.run(printer)
        }
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

enum Msg {
    Fs(notify::Result<notify::Event>),
    Stop,
}

/// The follower's state: what is watched and what was printed.
struct Follow<'a> {
    root: PathBuf,
    filter: &'a Filter,
    scope: Scope,
    watcher: notify::RecommendedWatcher,
    rx: mpsc::Receiver<Msg>,
    /// Day folders being watched.
    days: HashSet<PathBuf>,
    root_watched: bool,
    invalid_watched: bool,
    seen: HashSet<Uuid>,
    problems: Problems,
    buf: Vec<u8>,
}

impl<'a> Follow<'a> {
    /// Starts watching `root` (or, until it exists, its parent) and
    /// catching Ctrl-C; prints nothing yet.
    fn new(root: &Path, filter: &'a Filter, scope: Scope) -> Result<Follow<'a>, String> {
        let (tx, rx) = mpsc::channel();
        let stop = tx.clone();
        match signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ]) {
            Ok(mut signals) => {
                std::thread::spawn(move || {
                    if signals.forever().next().is_some() {
                        let _ = stop.send(Msg::Stop);
                    }
                });
            }
            Err(e) => say(&format!(
                "cannot catch Ctrl-C ({e}); it will end tail abruptly"
            )),
        }
        // The watcher reports absolute paths (relative ones joined to the
        // current directory): compare with the same.
        let root = &std::env::current_dir()
            .map(|cwd| cwd.join(root))
            .unwrap_or_else(|_| root.to_path_buf());
        let watcher = notify::recommended_watcher(move |r| {
            let _ = tx.send(Msg::Fs(r));
        })
        .map_err(|e| format!("cannot watch {}: {e}", root.display()))?;
        let mut f = Follow {
            root: root.to_path_buf(),
            filter,
            scope,
            watcher,
            rx,
            days: HashSet::new(),
            root_watched: false,
            invalid_watched: false,
            seen: HashSet::new(),
            problems: Problems::new(),
            buf: Vec::new(),
        };
        if root.is_dir() {
            f.watch_existing()?;
        } else {
            let parent = match root.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            f.watcher
                .watch(&parent, RecursiveMode::NonRecursive)
                .map_err(|e| format!("cannot watch {}: {e}", parent.display()))?;
        }
        Ok(f)
    }

    /// Prints each new event until interrupted.
    fn run(mut self, mut printer: Printer) -> ExitCode {
        if !self.root_watched && self.root.is_dir() {
            // Created between the first look and the watch on its parent.
            if let Err(e) = self.adopt_root(&mut printer) {
                say(&e);
                return ExitCode::Failure;
            }
        }
        loop {
            let r = match self.rx.recv() {
                Err(_) | Ok(Msg::Stop) => {
                    self.problems.finish();
                    break;
                }
                Ok(Msg::Fs(Err(e))) => {
                    say(&format!("watching {}: {e}", self.root.display()));
                    continue;
                }
                Ok(Msg::Fs(Ok(event))) => self.event(event, &mut printer),
            };
            if let Err(e) = r {
                return reading::written(Err(e));
            }
        }
        reading::written(printer.out.flush())
    }

    /// The initial watches: the events directory and its day folders.
    fn watch_existing(&mut self) -> Result<(), String> {
        self.watcher
            .watch(&self.root, RecursiveMode::NonRecursive)
            .map_err(|e| format!("cannot watch {}: {e}", self.root.display()))?;
        self.root_watched = true;
        let mut parents = Vec::new();
        if self.wants(Kind::Valid) {
            parents.push(self.root.clone());
        }
        let invalid = self.root.join(INVALID);
        if self.wants(Kind::Invalid) && invalid.is_dir() {
            self.watcher
                .watch(&invalid, RecursiveMode::NonRecursive)
                .map_err(|e| format!("cannot watch {}: {e}", invalid.display()))?;
            self.invalid_watched = true;
            parents.push(invalid);
        }
        for parent in parents {
            for day in day_folders(&parent) {
                self.watcher
                    .watch(&day, RecursiveMode::NonRecursive)
                    .map_err(|e| format!("cannot watch {}: {e}", day.display()))?;
                self.days.insert(day);
            }
        }
        Ok(())
    }

    fn wants(&self, kind: Kind) -> bool {
        self.scope.kinds().contains(&kind)
    }

    /// The events directory appeared while following: watch it and its day
    /// folders, and print what is already in them (all of it is new).
    fn adopt_root(&mut self, printer: &mut Printer) -> Result<(), String> {
        if !self.root_watched {
            self.watcher
                .watch(&self.root, RecursiveMode::NonRecursive)
                .map_err(|e| format!("cannot watch {}: {e}", self.root.display()))?;
            self.root_watched = true;
        }
        if self.wants(Kind::Valid) {
            self.adopt_days(&self.root.clone(), printer)
                .map_err(|e| e.to_string())?;
        }
        if self.wants(Kind::Invalid) && self.root.join(INVALID).is_dir() {
            self.adopt_invalid(printer).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn adopt_invalid(&mut self, printer: &mut Printer) -> std::io::Result<()> {
        if self.invalid_watched {
            return Ok(());
        }
        let dir = self.root.join(INVALID);
        match self.watcher.watch(&dir, RecursiveMode::NonRecursive) {
            Ok(()) => self.invalid_watched = true,
            Err(e) => {
                say(&format!("cannot watch {}: {e}", dir.display()));
                return Ok(());
            }
        }
        self.adopt_days(&dir, printer)
    }

    fn adopt_days(&mut self, parent: &Path, printer: &mut Printer) -> std::io::Result<()> {
        for day in day_folders(parent) {
            self.adopt_day(&day, printer)?;
        }
        Ok(())
    }

    fn adopt_day(&mut self, day: &Path, printer: &mut Printer) -> std::io::Result<()> {
        if self.days.contains(day) {
            return Ok(());
        }
        if let Err(e) = self.watcher.watch(day, RecursiveMode::NonRecursive) {
            say(&format!("cannot watch {}: {e}", day.display()));
            return Ok(());
        }
        self.days.insert(day.to_path_buf());
        // Files may have landed before the watch did.
        let mut names: Vec<PathBuf> = std::fs::read_dir(day)
            .map(|e| e.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        for p in names {
            self.file(&p, false, printer)?;
        }
        Ok(())
    }

    fn event(&mut self, event: notify::Event, printer: &mut Printer) -> std::io::Result<()> {
        let closed = matches!(
            event.kind,
            EventKind::Access(AccessKind::Close(AccessMode::Write))
        );
        let appeared = matches!(
            event.kind,
            EventKind::Create(_)
                | EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Any))
        ) || closed;
        let gone = matches!(
            event.kind,
            EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From))
        );
        if gone {
            // A folder deleted (by gc) loses its watch; if it comes back, it
            // is new and must be watched again.
            for path in &event.paths {
                self.days.remove(path);
                if *path == self.root.join(INVALID) {
                    self.invalid_watched = false;
                }
            }
        }
        if !appeared {
            return Ok(());
        }
        let is_folder = matches!(event.kind, EventKind::Create(CreateKind::Folder));
        for path in &event.paths {
            self.appeared(path, is_folder, closed, printer)?;
        }
        Ok(())
    }

    fn appeared(
        &mut self,
        path: &Path,
        is_folder: bool,
        closed: bool,
        printer: &mut Printer,
    ) -> std::io::Result<()> {
        if path == self.root {
            if path.is_dir() {
                if let Err(e) = self.adopt_root(printer) {
                    say(&e);
                }
            }
            return Ok(());
        }
        let Some(parent) = path.parent() else {
            return Ok(());
        };
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let invalid_root = self.root.join(INVALID);
        if parent == self.root {
            if name == INVALID && self.wants(Kind::Invalid) && path.is_dir() {
                return self.adopt_invalid(printer);
            }
            if is_day(name) && self.wants(Kind::Valid) && (is_folder || path.is_dir()) {
                return self.adopt_day(path, printer);
            }
            return Ok(());
        }
        if parent == invalid_root {
            if is_day(name) && self.wants(Kind::Invalid) && (is_folder || path.is_dir()) {
                return self.adopt_day(path, printer);
            }
            return Ok(());
        }
        if self.days.contains(parent) {
            return self.file(path, closed, printer);
        }
        Ok(())
    }

    /// A file appeared in a watched day folder: print it if it is a new
    /// matching record. `closed`: its writer is done, so report it if it
    /// still cannot be read.
    fn file(&mut self, path: &Path, closed: bool, printer: &mut Printer) -> std::io::Result<()> {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return Ok(());
        };
        if name.starts_with('.') {
            return Ok(());
        }
        let Some(file) = FileName::parse(name) else {
            self.problems.skip(path, "not a record file name");
            return Ok(());
        };
        if Uuid::parse_str(file.id()).is_ok_and(|id| self.seen.contains(&id))
            || !self.filter.file_may_match(&file)
        {
            return Ok(());
        }
        self.buf.clear();
        let read = std::fs::File::open(path).and_then(|f| {
            use std::io::Read;
            f.take(crate::store::events_dir::MAX_RECORD_BYTES as u64)
                .read_to_end(&mut self.buf)
        });
        if let Err(e) = read {
            if e.kind() != std::io::ErrorKind::NotFound {
                self.problems.skip(path, &e.to_string());
            }
            return Ok(());
        }
        if !self.filter.bytes_may_match(&self.buf) {
            return Ok(());
        }
        let record = match serde_json::from_slice::<Record>(&self.buf) {
            Ok(r) => r,
            // Still being written in place: read again when closed.
            Err(e) if e.is_eof() && !closed => return Ok(()),
            Err(e) => {
                self.problems.skip(path, &format!("not a record ({e})"));
                return Ok(());
            }
        };
        if !self.filter.matches(&record) || !self.seen.insert(record.id) {
            return Ok(());
        }
        printer.one(&record)
    }
}

/// The day folders directly under `parent`, sorted.
fn day_folders(parent: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut days: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(is_day))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    days.sort();
    days
}
