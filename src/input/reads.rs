//! Which transcripts a hook reads, and how it settles their latest message.
//!
//! | hook | transcripts | the latest text message is final when |
//! |---|---|---|
//! | SubagentStop | the subagent's (`agent_transcript_path`) | it holds the markers of `last_assistant_message` |
//! | Stop | the main one (`transcript_path`) | it holds the markers of `last_assistant_message` |
//! | Stop | every `<session>/subagents/agent-*.jsonl` | never (its SubagentStop says) |
//! | SessionEnd | the main one and every subagent's | always: the session is over |
//!
//! Each is read from its cursor (`store::cursor`), so a line Claude Code
//! wrote after one hook is read by the next. Stop and SessionEnd read only
//! for payloads with a `prompt_id` (Claude Code 2.x): the tool outputs of
//! 1.0.x payloads have no `tool_use_id`, so the transcript's copy of them
//! would have another identity.

use std::path::{Path, PathBuf};

use super::{Payload, Source};

/// When the latest text message of a transcript counts as its agent's
/// final one (see the module doc).
#[derive(Clone, Debug, PartialEq)]
pub enum Settle {
    /// When its markers are those of this message (the hook's
    /// `last_assistant_message`); with none, always.
    IfMatches(Option<String>),
    Never,
    Always,
}

/// One transcript to read.
#[derive(Clone, Debug)]
pub struct Read {
    pub path: PathBuf,
    /// What the lines lack.
    pub base: Source,
    pub settle: Settle,
}

/// The transcripts `payload`'s hook reads.
pub fn of(payload: &Payload) -> Vec<Read> {
    if !matches!(
        payload.hook_event_name(),
        Some("SubagentStop" | "Stop" | "SessionEnd")
    ) {
        return Vec::new();
    }
    let source = payload.source();
    let last = payload.str("last_assistant_message").map(str::to_string);
    match payload.hook_event_name() {
        Some("SubagentStop") => match payload.agent_transcript_path() {
            Some(p) => vec![Read {
                path: PathBuf::from(p),
                base: source,
                settle: Settle::IfMatches(last),
            }],
            None => Vec::new(),
        },
        Some(hook @ ("Stop" | "SessionEnd")) if source.prompt_id.is_some() => {
            let Some(main) = source.transcript_path.as_deref().map(PathBuf::from) else {
                return Vec::new();
            };
            let settle = |subagent: bool| match (hook, subagent) {
                ("SessionEnd", _) => Settle::Always,
                (_, true) => Settle::Never,
                _ => Settle::IfMatches(last.clone()),
            };
            let base = Source {
                hook_event_name: source.hook_event_name.clone(),
                session_id: source.session_id.clone(),
                cwd: source.cwd.clone(),
                transcript_path: source.transcript_path.clone(),
                ..Source::default()
            };
            let mut reads = vec![Read {
                path: main.clone(),
                base: base.clone(),
                settle: settle(false),
            }];
            for path in subagent_transcripts(&main) {
                let agent = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.strip_prefix("agent-"))
                    .map(str::to_string);
                reads.push(Read {
                    path,
                    base: Source {
                        agent_id: agent,
                        ..base.clone()
                    },
                    settle: settle(true),
                });
            }
            reads
        }
        _ => Vec::new(),
    }
}

/// `<session>/subagents/agent-*.jsonl` beside a main transcript
/// `<session>.jsonl`, in name order.
fn subagent_transcripts(main: &Path) -> Vec<PathBuf> {
    let Some(dir) = main.to_str().and_then(|m| m.strip_suffix(".jsonl")) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(Path::new(dir).join("subagents")) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("agent-") && name.ends_with(".jsonl")
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reads_the_main_and_subagent_transcripts_of_2x_payloads_only() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("s.jsonl");
        std::fs::create_dir_all(dir.path().join("s/subagents")).unwrap();
        for f in ["agent-a1.jsonl", "agent-a1.meta.json", "other.jsonl"] {
            std::fs::write(dir.path().join("s/subagents").join(f), "").unwrap();
        }
        let payload = |hook: &str, prompt: bool| {
            let mut v = serde_json::json!({"session_id": "s", "hook_event_name": hook,
                "transcript_path": main, "last_assistant_message": "m"});
            if prompt {
                v["prompt_id"] = "p".into();
            }
            Payload::parse(v.to_string().as_bytes()).unwrap()
        };
        let reads = of(&payload("Stop", true));
        assert_eq!(reads.len(), 2);
        assert_eq!(reads[0].settle, Settle::IfMatches(Some("m".into())));
        assert_eq!(reads[1].base.agent_id.as_deref(), Some("a1"));
        assert_eq!(reads[1].settle, Settle::Never);
        let end = of(&payload("SessionEnd", true));
        assert!(end.iter().all(|r| r.settle == Settle::Always));
        assert!(of(&payload("Stop", false)).is_empty(), "1.0.x");
        assert!(of(&payload("PostToolUse", true)).is_empty());
    }
}
