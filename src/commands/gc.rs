//! `event-publisher gc --older-than AGE | --keep N [--dry-run]`: deletes
//! old records and dead letters (both of a record's hard links: its dated
//! file and its `.ids/` entry), then the day folders left empty, and temp
//! files under `.events/.tmp/` older than an hour (left by a killed
//! process). The shared filters narrow what is deleted.
//!
//! An event's age is its timestamp (the one in its file name). `--keep N`
//! keeps the newest N matching events, valid and dead letters together;
//! with both flags, an event goes when either says so.
//!
//! Deleting a record deletes its id, so a later `replay` of a transcript
//! that holds the event stores it again.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use super::reading::{self, say};
use crate::cli::{GcArgs, GlobalArgs};
use crate::enrich::enricher::format_time;
use crate::exit_code::ExitCode;
use crate::store::file_name::compact;
use crate::store::time_spec::parse_duration;
use crate::store::{Day, FileName, Kind, Order, Problems, Scan, Scope};

/// Temp files older than this belong to no running process.
const STALE_TEMP: Duration = Duration::from_secs(3600);

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub dry_run: bool,
    pub records: usize,
    pub dead_letters: usize,
    pub day_folders: usize,
    pub temp_files: usize,
    /// Files that could not be deleted (each reported).
    pub failed: usize,
    /// Per day folder (`2025-08-12`, `invalid/2025-08-12`): how many go.
    pub days: BTreeMap<String, usize>,
}

/// A file chosen for deletion.
struct Doomed {
    day: Day,
    file: FileName,
}

pub fn run(global: &GlobalArgs, args: &GcArgs) -> ExitCode {
    let config = reading::config(global);
    let dir = match reading::events_dir(&config) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let mut filter = match reading::filter(&args.filter) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let cutoff = match args.older_than.as_deref().map(parse_duration).transpose() {
        Ok(d) => d.map(|d| format_time(Utc::now() - d)),
        Err(e) => {
            say(&e.context("--older-than").to_string());
            return ExitCode::Usage;
        }
    };
    if let (Some(c), None) = (&cutoff, args.keep) {
        // Only age decides: the newer files need not be looked at.
        filter = filter.before(c);
    }
    let scope = filter.scope(Scope::Both);
    let mut candidates: Vec<Doomed> = Vec::new();
    let mut scan = Scan::new(&dir, &filter, scope, Order::OldestFirst);
    if filter.by_file_name_only() {
        while let Some((day, file)) = scan.next_file() {
            candidates.push(Doomed { day, file });
        }
    } else {
        while let Some((day, found)) = scan.next_with_day() {
            candidates.push(Doomed {
                day,
                file: found.file,
            });
        }
    }
    scan.finish();

    let old = cutoff.as_deref().map(compact);
    let mut doomed: Vec<&Doomed> = candidates
        .iter()
        .filter(|d| old.as_deref().is_some_and(|c| d.file.compact_time() < c))
        .collect();
    if let Some(keep) = args.keep {
        let mut by_age: Vec<&Doomed> = candidates.iter().collect();
        by_age.sort_by(|a, b| b.file.compact_time().cmp(a.file.compact_time()));
        doomed.extend(by_age.into_iter().skip(keep));
        doomed.sort_by(|a, b| (&a.day.path, &a.file).cmp(&(&b.day.path, &b.file)));
        doomed.dedup_by(|a, b| std::ptr::eq(*a, *b));
    }

    let mut summary = Summary {
        dry_run: args.dry_run,
        ..Summary::default()
    };
    // Each day folder is opened once, never through a symlink.
    let mut touched: BTreeMap<String, (&Day, usize)> = BTreeMap::new();
    let mut open: Option<(String, std::os::fd::OwnedFd)> = None;
    for d in &doomed {
        if !args.dry_run {
            let rel = d.day.rel();
            if open.as_ref().is_none_or(|(r, _)| *r != rel) {
                open = dir.open_day(&d.day).ok().map(|fd| (rel, fd));
            }
            let deleted = match &open {
                Some((_, fd)) => dir.delete(fd, &d.day.path, &d.file),
                None => dir.open_day(&d.day).map(drop),
            };
            if let Err(e) = deleted {
                say(e.message());
                summary.failed += 1;
                continue;
            }
        }
        match d.day.kind {
            Kind::Valid => summary.records += 1,
            Kind::Invalid => summary.dead_letters += 1,
        }
        *summary.days.entry(d.day.rel()).or_default() += 1;
        touched.entry(d.day.rel()).or_insert((&d.day, 0)).1 += 1;
    }
    drop(open);
    for (day, gone) in touched.values() {
        if args.dry_run {
            if dir.entries_in(day) <= *gone {
                summary.day_folders += 1;
            }
        } else if dir.remove_day_if_empty(day) {
            summary.day_folders += 1;
        }
    }
    let mut problems = Problems::new();
    summary.temp_files = dir.stale_temps(STALE_TEMP, args.dry_run, &mut problems);
    let mut out = reading::stdout();
    let r = if args.json {
        serde_json::to_writer_pretty(&mut out, &summary)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        out.write_all(text(&summary).as_bytes())
    };
    match reading::written(r.and_then(|()| out.flush())) {
        ExitCode::Success if summary.failed > 0 => ExitCode::Failure,
        code => code,
    }
}

fn text(s: &Summary) -> String {
    let verb = if s.dry_run { "would delete" } else { "deleted" };
    let mut t = format!(
        "{verb} {} record{} and {} dead letter{}, {} empty day folder{}, {} stale temp file{}",
        s.records,
        if s.records == 1 { "" } else { "s" },
        s.dead_letters,
        if s.dead_letters == 1 { "" } else { "s" },
        s.day_folders,
        if s.day_folders == 1 { "" } else { "s" },
        s.temp_files,
        if s.temp_files == 1 { "" } else { "s" },
    );
    if s.failed > 0 {
        t += &format!("; {} could not be deleted", s.failed);
    }
    t.push('\n');
    if s.dry_run {
        for (day, n) in &s.days {
            t += &format!("  {day:<20} {n}\n");
        }
    }
    t
}
