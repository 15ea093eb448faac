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
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::publish;
use super::reading::say;
use crate::cli::{GlobalArgs, ReplayArgs};
use crate::config::{self, Config, Sources};
use crate::enrich::Span;
use crate::enrich::enricher::parse_time;
use crate::exit_code::ExitCode;
use crate::input::{Source, transcript};
use crate::sinks::otlp;
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
    let mut config = resolve(global, args);
    // A replay is one long run: the hook's per-call marker cap is not for it.
    config.limits.max_markers = u64::MAX;
    let mut summary = Summary::default();
    let files = transcripts(&args.paths, &mut summary.unreadable);
    let total: u64 = files.iter().map(|(_, size)| size).sum();
    let mut progress = Progress::new(
        "replay",
        total,
        !args.quiet && std::io::stderr().is_terminal(),
    );
    let limits = transcript::ReadLimits {
        max_bytes: u64::MAX,
        max_line_bytes: config.limits.max_marker_bytes.max(1 << 20) as usize * 4,
    };
    let mut pipeline = publish::pipeline(&config);
    pipeline.keep_new_records(config.otlp.is_some());
    for (path, size) in &files {
        let base = base_source(path);
        match transcript::read(path, &[], &limits, &base) {
            Ok(t) => {
                summary.files += 1;
                summary.bytes += t.bytes;
                for w in &t.warnings {
                    progress_say(&progress, w);
                }
                pipeline.begin_sighting();
                for e in &t.entries {
                    pipeline.process(&e.text);
                }
                if config.otlp.is_some() {
                    let spans: Vec<Span> = run_span(path, &base, &t).into_iter().collect();
                    let outcome = otlp::export(
                        config.otlp.as_ref(),
                        &config.events_dir,
                        &config.redaction,
                        &pipeline.report.new_records,
                        &spans,
                    );
                    summary.otlp_events += outcome.sent_events;
                    summary.otlp_spans += outcome.sent_spans;
                    for m in &outcome.messages {
                        progress_say(&progress, m);
                    }
                }
            }
            Err(e) => {
                summary.unreadable += 1;
                progress_say(&progress, e.message());
            }
        }
        pipeline.forget_seen();
        pipeline.report.rejected.clear();
        pipeline.report.new_records.clear();
        for e in pipeline.report.errors.drain(..) {
            progress_say(&progress, &e);
        }
        progress.advance(*size);
    }
    progress.finish();
    let report = pipeline.finish();
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

/// The span of the run a subagent transcript records, as SubagentStop
/// gives it: from its first to its last conversation line.
fn run_span(path: &Path, base: &Source, t: &transcript::Transcript) -> Option<Span> {
    base.agent_id.as_ref()?;
    let start = parse_time(t.first_timestamp.as_deref()?)?;
    let end = parse_time(t.last_timestamp.as_deref()?)?;
    let mut source = base.clone();
    // The lines know the session better than the path does.
    if let Some(s) = t
        .entries
        .iter()
        .find_map(|e| e.text.source.session_id.clone())
    {
        source.session_id = Some(s);
    }
    source.agent_type = t
        .entries
        .iter()
        .find_map(|e| e.text.source.agent_type.clone())
        .or_else(|| meta_agent_type(path));
    source.tool_use_id = t.launched_by.clone();
    source.tool_name = t.launched_by.as_ref().map(|_| "Agent".to_string());
    Span::agent_run(&source, t.model.as_deref(), start, end)
}

/// `agentType` from the `agent-<id>.meta.json` beside a subagent transcript.
fn meta_agent_type(path: &Path) -> Option<String> {
    let meta = path.with_extension("meta.json");
    let text = std::fs::read_to_string(meta).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(v.get("agentType")?.as_str()?.to_string())
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

/// The transcripts under `paths`, with their sizes, in path order: files
/// as named, and every `*.jsonl` below a directory (symlinks inside a tree
/// are not followed).
fn transcripts(paths: &[PathBuf], unreadable: &mut usize) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => walk(p, &mut out, unreadable),
            Ok(m) => out.push((p.clone(), m.len())),
            Err(e) => {
                *unreadable += 1;
                say(&format!("{}: {e}", p.display()));
            }
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64)>, unreadable: &mut usize) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            *unreadable += 1;
            say(&format!("{}: {e}", dir.display()));
            return;
        }
    };
    for e in entries.flatten() {
        let Ok(kind) = e.file_type() else { continue };
        let path = e.path();
        if kind.is_dir() {
            walk(&path, out, unreadable);
        } else if kind.is_file() && path.extension().is_some_and(|x| x == "jsonl") {
            let size = e.metadata().map(|m| m.len()).unwrap_or(0);
            out.push((path, size));
        }
    }
}

/// What a transcript's path says about it: `<session>.jsonl` is a main
/// transcript; `<session>/subagents/agent-<id>.jsonl` is subagent `<id>`'s
/// (as SubagentStop names it). The lines' own `sessionId`/`agentId` win.
pub fn base_source(path: &Path) -> Source {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let parent = path.parent();
    let in_subagents = parent
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "subagents");
    match stem.strip_prefix("agent-") {
        Some(agent) if !agent.is_empty() => {
            let session_dir = parent.filter(|_| in_subagents).and_then(Path::parent);
            Source {
                agent_id: Some(agent.to_string()),
                session_id: session_dir
                    .and_then(|d| d.file_name())
                    .and_then(|n| n.to_str())
                    .map(str::to_string),
                transcript_path: session_dir.map(|d| format!("{}.jsonl", d.display())),
                ..Source::default()
            }
        }
        _ => Source {
            session_id: Some(stem.to_string()).filter(|s| !s.is_empty()),
            transcript_path: Some(path.display().to_string()),
            ..Source::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_session_and_agent() {
        let s = base_source(Path::new("/p/-x/abc/subagents/agent-a123.jsonl"));
        assert_eq!(s.agent_id.as_deref(), Some("a123"));
        assert_eq!(s.session_id.as_deref(), Some("abc"));
        assert_eq!(s.transcript_path.as_deref(), Some("/p/-x/abc.jsonl"));
        let m = base_source(Path::new("/p/-x/abc.jsonl"));
        assert_eq!(m.agent_id, None);
        assert_eq!(m.session_id.as_deref(), Some("abc"));
    }
}
