//! `event-publisher gc --older-than AGE | --keep N [--dry-run]`: deletes
//! old records and dead letters (both of a record's hard links: its dated
//! file and its `.ids/` entry), then the day folders left empty, and temp
//! files under `.events/.tmp/` older than an hour (left by a killed
//! process). The shared filters narrow what is deleted.
//!
//! An event's age is its timestamp (the one in its file name). `--keep N`
//! keeps the N matching events stored last (by `observed_timestamp`, not
//! the agent-given timestamp), valid and dead letters together;
//! with both flags, an event goes when either says so.
//!
//! Deleting a record deletes its id, so a later `replay` of a transcript
//! that holds the event stores it again.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::Utc;
use serde::Serialize;

use super::reading::{self, say};
use crate::cli::{GcArgs, GlobalArgs};
use crate::enrich::enricher::format_time;
use crate::exit_code::ExitCode;
use crate::sinks::fs::TEMP;
use crate::store::file_name::compact;
use crate::store::time_spec::parse_duration;
use crate::store::{EventsDir, FileName, Kind, Order, Scan, Scope};

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
    kind: Kind,
    day: PathBuf,
    label: String,
    file: FileName,
    /// When it was stored (`observed_timestamp`); read for `--keep` only.
    stored: String,
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
    let label = |kind: Kind, date: &str| match kind {
        Kind::Valid => date.to_string(),
        Kind::Invalid => format!("invalid/{date}"),
    };
    // `--keep` ranks by when events were stored, which only the records say.
    if filter.by_file_name_only() && args.keep.is_none() {
        while let Some((day, file)) = scan.next_file() {
            candidates.push(Doomed {
                kind: day.kind,
                label: label(day.kind, &day.date),
                day: day.path,
                file,
                stored: String::new(),
            });
        }
    } else {
        for found in scan.by_ref() {
            let day = found
                .path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let date = day
                .file_name()
                .map(|d| d.to_string_lossy().to_string())
                .unwrap_or_default();
            candidates.push(Doomed {
                kind: found.kind,
                label: label(found.kind, &date),
                day,
                file: found.file,
                stored: found.record.observed_timestamp.clone(),
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
        // The last stored first: an event's own timestamp is the agent's
        // to choose, and a future-dated one must not outlive real ones.
        by_age.sort_by(|a, b| {
            (&b.stored, b.file.compact_time()).cmp(&(&a.stored, a.file.compact_time()))
        });
        doomed.extend(by_age.into_iter().skip(keep));
        doomed.sort_by(|a, b| (&a.day, &a.file).cmp(&(&b.day, &b.file)));
        doomed.dedup_by(|a, b| std::ptr::eq(*a, *b));
    }

    let mut summary = Summary {
        dry_run: args.dry_run,
        ..Summary::default()
    };
    let mut touched: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for d in &doomed {
        if !args.dry_run && !delete(&dir, d) {
            summary.failed += 1;
            continue;
        }
        match d.kind {
            Kind::Valid => summary.records += 1,
            Kind::Invalid => summary.dead_letters += 1,
        }
        *summary.days.entry(d.label.clone()).or_default() += 1;
        *touched.entry(d.day.clone()).or_default() += 1;
    }
    for (day, gone) in &touched {
        if args.dry_run {
            let left = std::fs::read_dir(day).map(|e| e.count()).unwrap_or(1);
            if left <= *gone {
                summary.day_folders += 1;
            }
        } else if std::fs::remove_dir(day).is_ok() {
            summary.day_folders += 1;
        }
    }
    summary.temp_files = stale_temps(&dir, args.dry_run);
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

/// Deletes a record's dated file, then its id entry when that is the same
/// file (a crash in between leaves the id, which the sink re-links on the
/// next sighting: nothing is half-deleted for good).
fn delete(dir: &EventsDir, d: &Doomed) -> bool {
    let path = d.day.join(d.file.as_str());
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return true,
        Err(e) => {
            say(&format!("cannot delete {}: {e}", path.display()));
            return false;
        }
    };
    if let Err(e) = std::fs::remove_file(&path) {
        say(&format!("cannot delete {}: {e}", path.display()));
        return false;
    }
    let id = dir.id_path(d.file.id());
    if let Ok(m) = std::fs::symlink_metadata(&id) {
        if (m.dev(), m.ino()) == (meta.dev(), meta.ino()) {
            if let Err(e) = std::fs::remove_file(&id) {
                say(&format!("cannot delete {}: {e}", id.display()));
                return false;
            }
        }
    }
    true
}

/// Deletes (or counts) temp files older than an hour.
fn stale_temps(dir: &EventsDir, dry_run: bool) -> usize {
    let Ok(entries) = std::fs::read_dir(dir.path().join(TEMP)) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut n = 0;
    for e in entries.flatten() {
        let stale = e
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > STALE_TEMP);
        if stale && (dry_run || std::fs::remove_file(e.path()).is_ok()) {
            n += 1;
        }
    }
    n
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
