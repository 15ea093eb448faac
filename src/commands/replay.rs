//! `event-publisher replay PATH...`: extracts events from Claude Code
//! transcripts (a session's `.jsonl`, its `subagents/agent-*.jsonl`, or a
//! whole `~/.claude/projects` tree) through the same pipeline and sinks as
//! the hook. The ids are the hook's, so replaying what the hook captured
//! adds nothing, and replaying sessions from before the hook fills the gap.
//!
//! Transcripts are read one at a time, each streamed line by line, and the
//! run forgets each transcript's ids once it is done: memory does not grow
//! with the size of the tree. The paths named are read wherever they are
//! (the transcript roots only guard the hook), with no byte cap per file.
//!
//! When the OTLP sink is on, each transcript's new records are exported as
//! the hook exports them, and each subagent transcript gives its run's span
//! (from its first to its last line); a span the hook already exported is
//! not sent again (the spool claims span ids once).
//!
//! After `gc` deleted records, replay stores them again: their ids are no
//! longer in the id index.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use super::reading::say;
use crate::app::Publisher;
use crate::app::replay::transcripts;
use crate::cli::{GlobalArgs, ReplayArgs};
use crate::config::{self, Config, Sources};
use crate::exit_code::ExitCode;
use crate::view::Progress;

/// What a replay did.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub files: usize,
    pub bytes: u64,
    /// Files that could not be read (each reported).
    pub unreadable: usize,
    pub markers: usize,
    pub stored: usize,
    pub stored_invalid: usize,
    pub present: usize,
    pub failed: usize,
    /// Sent to the OTLP collector (when the sink is on).
    pub otlp_events: u64,
    pub otlp_spans: u64,
    pub seconds: f64,
}

pub fn run(global: &GlobalArgs, args: &ReplayArgs) -> ExitCode {
    let config = resolve(global, args);
    let mut summary = Summary::default();
    let files = transcripts(&args.paths, &mut summary.unreadable, &mut say);
    let total: u64 = files.iter().map(|(_, size)| size).sum();
    let mut progress = Progress::new(
        "replay",
        total,
        !args.quiet && std::io::stderr().is_terminal(),
    );
    let mut publisher = Publisher::for_replay(&config);
    for (path, size) in &files {
        match publisher.replay(path, &mut |m| progress_say(&progress, m)) {
            Some(r) => {
                summary.files += 1;
                summary.bytes += r.bytes;
                summary.otlp_events += r.otlp_events;
                summary.otlp_spans += r.otlp_spans;
            }
            None => summary.unreadable += 1,
        }
        progress.advance(*size);
    }
    progress.finish();
    let report = publisher.finish();
    for e in &report.errors {
        say(e);
    }
    summary.markers = report.markers;
    summary.stored = report.stored;
    summary.stored_invalid = report.stored_invalid;
    summary.present = report.present;
    summary.failed = report.failed;
    summary.seconds = progress.elapsed().as_secs_f64();
    let mut out = super::reading::stdout();
    let r = if args.json {
        serde_json::to_writer_pretty(&mut out, &summary)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        writeln!(out, "{}", text(&summary, &config))
    };
    let r = r.and_then(|()| out.flush());
    match super::reading::written(r) {
        ExitCode::Success if summary.unreadable == 0 && summary.failed == 0 => ExitCode::Success,
        ExitCode::Success => ExitCode::Failure,
        code => code,
    }
}

/// The settings, with the OTLP flags as `publish` takes them.
fn resolve(global: &GlobalArgs, args: &ReplayArgs) -> Config {
    let sources = Sources::process();
    let project = config::project_dir(global.project_dir.as_deref(), sources.env, None);
    let mut warnings = Vec::new();
    let flags = global.settings().over(args.otlp.settings(&mut warnings));
    let config = Config::resolve(flags, project, &sources);
    for w in warnings.iter().chain(&config.warnings) {
        say(w);
    }
    config
}

fn text(s: &Summary, config: &Config) -> String {
    let events_dir = &config.events_dir;
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut t = format!(
        "replayed {} ({:.1} MB) in {:.2}s: {} stored in {} ({} invalid), {} already present",
        plural(s.files, "transcript", "transcripts"),
        s.bytes as f64 / 1e6,
        s.seconds,
        plural(s.stored, "event", "events"),
        events_dir.display(),
        s.stored_invalid,
        s.present
    );
    if s.failed > 0 {
        t += &format!(", {} not stored", s.failed);
    }
    if s.unreadable > 0 {
        t += &format!(", {} unreadable", plural(s.unreadable, "file", "files"));
    }
    if config.otlp.is_some() {
        t += &format!(
            "; otlp: sent {} event(s) and {} span(s)",
            s.otlp_events, s.otlp_spans
        );
    }
    t
}

/// A line on stderr that does not tangle with the progress bar.
fn progress_say(progress: &Progress, message: &str) {
    progress.finish();
    say(message);
}
