//! What `replay` needs to know about transcripts on disk: which files to
//! read under the paths named (`transcripts`), what a transcript's path
//! says about its session and agent (`base_source`), and the span of the
//! run a subagent transcript records (`run_span`).

use std::path::{Path, PathBuf};

use super::Say;
use crate::enrich::Span;
use crate::enrich::enricher::parse_time;
use crate::input::{Source, transcript};

/// The transcripts under `paths`, with their sizes, in path order: files
/// as named, and every `*.jsonl` below a directory (symlinks inside a tree
/// are not followed).
pub fn transcripts(paths: &[PathBuf], unreadable: &mut usize, say: Say) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => walk(p, &mut out, unreadable, say),
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

fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64)>, unreadable: &mut usize, say: Say) {
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
            walk(&path, out, unreadable, say);
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

/// The span of the run a subagent transcript records, as SubagentStop
/// gives it: from its first to its last conversation line.
pub fn run_span(path: &Path, base: &Source, t: &transcript::Transcript) -> Option<Span> {
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
