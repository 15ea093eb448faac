//! Reads a Claude Code transcript (`<session>.jsonl`, or a subagent's
//! `subagents/agent-<id>.jsonl`) and yields the texts that hold markers:
//! assistant text and tool results, never tool inputs or user prompts.
//!
//! Transcripts hold many line types; all but `assistant` and `user` are
//! skipped, and a line is only looked into when the raw bytes say it can
//! matter, so reading costs about one pass over the file.
//!
//! Identity follows `input::Origin`: a tool result is `Tool` (its
//! `tool_use_id`), or `Report` of the subagent when the result carries an
//! `agentId`; the last assistant text message of a subagent's transcript (of
//! each prompt, in a main transcript) is that agent's `Report`; any other
//! assistant message is `Message`.
//!
//! `read_incremental` reads from a `Resume` point (a byte offset kept by
//! `store::cursor`) to the last complete line, so that a hook reads only what
//! Claude Code wrote since the last one, with the same ids as a whole read:
//! a line without its newline is left for next time, and the latest text
//! message, which may or may not be its agent's final one, is handed back
//! apart (`pending`) with the point before it, for the caller to settle.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use memchr::memmem;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::origin::Origin;
use super::payload::{collect_strings, is_agent_tool};
use super::{source::Source, text::Text};
use crate::error::{Context, Error, Result};

/// Bounds on what one read may cost.
#[derive(Clone, Debug)]
pub struct ReadLimits {
    /// Stop reading after this many bytes (the rest is reported, not read).
    pub max_bytes: u64,
    /// Lines longer than this are skipped (and reported).
    pub max_line_bytes: usize,
}

/// A text found in a transcript.
#[derive(Debug)]
pub struct Entry {
    pub text: Text<'static>,
    /// Set on the texts of a final message (which got a `Report` origin): the
    /// message's id, so a caller that knows better can demote it to
    /// `Origin::Message`.
    pub final_message: Option<String>,
}

/// What reading a transcript gave.
#[derive(Debug, Default)]
pub struct Transcript {
    pub entries: Vec<Entry>,
    /// Lines read, and problems met (each one line, for stderr).
    pub lines: u64,
    pub bytes: u64,
    pub warnings: Vec<String>,
    /// The timestamps of the first and last user or assistant line: the
    /// span of a subagent run.
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
    /// From a subagent's `agent-<id>.meta.json`: the `Agent` call that
    /// launched it (`toolUseId`) and its model.
    pub launched_by: Option<String>,
    pub model: Option<String>,
}

/// Where an incremental read starts: a line's byte offset, its line number
/// (message ids fall back to it) and the prompt in force there.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resume {
    pub offset: u64,
    pub line: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_id: Option<String>,
}

/// What an incremental read gave.
#[derive(Debug, Default)]
pub struct Incremental {
    /// The texts of settled lines (everything before `pending`).
    pub transcript: Transcript,
    /// The latest text message's texts, as its agent's `Report`: final only
    /// if nothing follows it, which the caller may know (the hook's
    /// `last_assistant_message`, or the session's end).
    pub pending: Vec<Entry>,
    /// Where to resume if `pending` is not taken: its first line.
    pub before_pending: Resume,
    /// Where to resume if it is: after the last complete line.
    pub end: Resume,
}

/// Opens a transcript safely: it must be a regular file (not a FIFO, a
/// device or a directory), opened without blocking, and lie under one of
/// `roots` when roots are given.
pub fn open(path: &Path, roots: &[PathBuf]) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let shown = path.display();
    if !roots.is_empty() {
        let real = path
            .canonicalize()
            .with_context(|| format!("transcript {shown}"))?;
        let inside = roots
            .iter()
            .filter_map(|r| r.canonicalize().ok())
            .any(|r| real.starts_with(&r));
        if !inside {
            return Err(Error::new(format!(
                "transcript {shown} is outside the transcript roots ({}); not read",
                roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_flags())
        .open(path)
        .with_context(|| format!("opening transcript {shown}"))?;
    let meta = file
        .metadata()
        .with_context(|| format!("transcript {shown}"))?;
    if !meta.is_file() {
        return Err(Error::new(format!(
            "transcript {shown} is not a regular file; not read"
        )));
    }
    Ok(file)
}

fn libc_flags() -> i32 {
    (rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY).bits() as i32
}

/// Reads the transcript at `path`; `base` supplies what the lines lack.
pub fn read(
    path: &Path,
    roots: &[PathBuf],
    limits: &ReadLimits,
    base: &Source,
) -> Result<Transcript> {
    let file = open(path, roots)?;
    let mut out = read_from(file, limits, base)?;
    annotate(path, base, &mut out, &mut []);
    Ok(out)
}

/// Reads `path` from `from` up to its last complete line (see the module
/// doc). A file shorter than `from` was replaced: it is read from the start.
pub fn read_incremental(
    path: &Path,
    roots: &[PathBuf],
    limits: &ReadLimits,
    base: &Source,
    from: &Resume,
) -> Result<Incremental> {
    use std::io::{Seek, SeekFrom};
    let mut file = open(path, roots)?;
    let size = file
        .metadata()
        .with_context(|| format!("transcript {}", path.display()))?
        .len();
    let from = if size < from.offset {
        Resume::default()
    } else {
        from.clone()
    };
    file.seek(SeekFrom::Start(from.offset))
        .with_context(|| format!("transcript {}", path.display()))?;
    let mut out = read_lines(file, limits, base, &from, true)?;
    let (t, pending) = (&mut out.transcript, &mut out.pending);
    annotate(path, base, t, pending);
    Ok(out)
}

/// Prefixes the warnings with the path, and adds what
/// `agent-<id>.meta.json` beside a subagent transcript says: its type and
/// the call that launched it.
fn annotate(path: &Path, base: &Source, out: &mut Transcript, more: &mut [Entry]) {
    let shown = path.display().to_string();
    for w in &mut out.warnings {
        *w = format!("transcript {shown}: {w}");
    }
    if let Some(meta) = read_meta(path) {
        let field = |k: &str| meta.get(k).and_then(Value::as_str).map(str::to_string);
        if let (None, Some(kind)) = (&base.agent_type, field("agentType")) {
            for e in out.entries.iter_mut().chain(more.iter_mut()) {
                e.text.source.agent_type.get_or_insert_with(|| kind.clone());
            }
        }
        out.launched_by = field("toolUseId");
        out.model = field("model");
    }
}

fn read_meta(path: &Path) -> Option<Value> {
    let name = path.file_name()?.to_str()?.strip_suffix(".jsonl")?;
    let meta = path.with_file_name(format!("{name}.meta.json"));
    let mut text = String::new();
    File::open(meta)
        .ok()?
        .take(64 * 1024)
        .read_to_string(&mut text)
        .ok()?;
    serde_json::from_str::<Value>(&text)
        .ok()
        .filter(Value::is_object)
}

pub fn read_from(reader: impl Read, limits: &ReadLimits, base: &Source) -> Result<Transcript> {
    let mut r = read_lines(reader, limits, base, &Resume::default(), false)?;
    r.transcript.entries.append(&mut r.pending);
    Ok(r.transcript)
}

/// The reading loop. `incremental`: a last line without its newline is not
/// read (Claude Code is still writing it).
fn read_lines(
    reader: impl Read,
    limits: &ReadLimits,
    base: &Source,
    from: &Resume,
    incremental: bool,
) -> Result<Incremental> {
    let mut reader =
        BufReader::with_capacity(256 * 1024, reader.take(limits.max_bytes.saturating_add(1)));
    let mut state = State::new(base.clone());
    state.prompt = from.prompt_id.clone();
    let mut line = Vec::new();
    let mut out = Transcript {
        lines: from.line,
        ..Transcript::default()
    };
    let mut offset = from.offset;
    loop {
        line.clear();
        let (n, too_long, complete) = read_line(&mut reader, &mut line, limits.max_line_bytes)
            .context("reading transcript")?;
        if n == 0 {
            break;
        }
        if out.bytes + n as u64 > limits.max_bytes {
            out.warnings.push(format!(
                "larger than {} bytes (max_transcript_bytes); the rest was not read",
                limits.max_bytes
            ));
            break;
        }
        if incremental && !complete {
            break;
        }
        out.bytes += n as u64;
        state.at = Resume {
            offset,
            line: out.lines,
            prompt_id: state.prompt.clone(),
        };
        offset += n as u64;
        out.lines += 1;
        if too_long {
            out.warnings.push(format!(
                "line {} is longer than {} bytes; skipped",
                out.lines, limits.max_line_bytes
            ));
            continue;
        }
        state.line(&line, &mut out);
    }
    let end = Resume {
        offset,
        line: out.lines,
        prompt_id: state.prompt.clone(),
    };
    let before_pending = state.last_at.clone().unwrap_or_else(|| end.clone());
    let mut pending = Transcript::default();
    state.finish(&mut pending);
    Ok(Incremental {
        transcript: out,
        pending: pending.entries,
        before_pending,
        end,
    })
}

/// Reads one line (without its newline) into `buf`, keeping at most `max`
/// bytes; returns the bytes consumed, whether the line was cut, and whether
/// it ended with its newline.
fn read_line(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(usize, bool, bool)> {
    let mut consumed = 0;
    let mut too_long = false;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok((consumed, too_long, false));
        }
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let body = if done {
            &chunk[..take - 1]
        } else {
            &chunk[..take]
        };
        if !too_long {
            if buf.len() + body.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(body);
            }
        }
        r.consume(take);
        consumed += take;
        if done {
            return Ok((consumed, too_long, true));
        }
    }
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(rename = "promptId", borrow, default)]
    prompt_id: Option<Cow<'a, str>>,
    #[serde(rename = "agentId", borrow, default)]
    agent_id: Option<Cow<'a, str>>,
    #[serde(rename = "sessionId", borrow, default)]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    cwd: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<&'a RawValue>,
    #[serde(rename = "toolUseResult", borrow, default)]
    tool_use_result: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Block<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tool_use_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
}

/// The reader's memory between lines.
struct State {
    base: Source,
    open: memmem::Finder<'static>,
    prompt: Option<String>,
    /// tool_use id → tool name, from the assistant's tool_use blocks.
    tools: HashMap<String, String>,
    /// The latest assistant message with text: its id and its texts.
    last: Option<(String, Vec<Entry>)>,
    /// Where the line being read starts, and where `last` started.
    at: Resume,
    last_at: Option<Resume>,
    subagent: bool,
}

impl State {
    fn new(base: Source) -> Self {
        Self {
            subagent: base.agent_id.is_some(),
            base,
            open: memmem::Finder::new(b"<EVENT>"),
            prompt: None,
            tools: HashMap::new(),
            last: None,
            at: Resume::default(),
            last_at: None,
        }
    }

    fn line(&mut self, raw: &[u8], out: &mut Transcript) {
        let has_marker = self.open.find(raw).is_some();
        // Only user and assistant lines matter; the test on raw bytes spares
        // parsing the many other kinds.
        if memmem::find(raw, b"\"user\"").is_none() && memmem::find(raw, b"\"assistant\"").is_none()
        {
            return;
        }
        let Ok(text) = std::str::from_utf8(raw) else {
            return;
        };
        let Ok(line) = serde_json::from_str::<Line>(text) else {
            return;
        };
        if let (Some("user" | "assistant"), Some(ts)) = (line.kind.as_deref(), &line.timestamp) {
            if out.first_timestamp.is_none() {
                out.first_timestamp = Some(ts.to_string());
            }
            out.last_timestamp = Some(ts.to_string());
        }
        match line.kind.as_deref() {
            Some("user") => self.user(&line, has_marker, out),
            Some("assistant") => self.assistant(&line, has_marker, out),
            _ => {}
        }
    }

    fn source(&self, line: &Line) -> Source {
        let mut s = self.base.clone();
        if let Some(v) = &line.session_id {
            s.session_id = Some(v.to_string());
        }
        if let Some(v) = &line.agent_id {
            s.agent_id = Some(v.to_string());
        }
        if let Some(v) = &line.cwd {
            s.cwd.get_or_insert_with(|| v.to_string());
        }
        if self.prompt.is_some() {
            s.prompt_id = self.prompt.clone();
        }
        s.tool_name = None;
        s.tool_use_id = None;
        s
    }

    fn user(&mut self, line: &Line, has_marker: bool, out: &mut Transcript) {
        if let Some(p) = &line.prompt_id {
            if self.prompt.as_deref() != Some(p) {
                // A new prompt ends the main agent's turn: its last message
                // was final. A subagent's report is its transcript's end.
                if !self.subagent && line.agent_id.is_none() {
                    self.close_turn(out);
                }
                self.prompt = Some(p.to_string());
            }
        }
        if line.agent_id.is_some() {
            self.subagent = true;
        }
        if !has_marker {
            return;
        }
        let Some(message) = line
            .message
            .and_then(|m| serde_json::from_str::<Message>(m.get()).ok())
        else {
            return;
        };
        let Some(blocks) = message
            .content
            .and_then(|c| serde_json::from_str::<Vec<Block>>(c.get()).ok())
        else {
            return;
        };
        let results: Vec<&Block> = blocks
            .iter()
            .filter(|b| b.kind.as_deref() == Some("tool_result"))
            .collect();
        // With one result per line, `toolUseResult` is the hook's
        // `tool_response`: scanning it gives the same texts in the same order.
        let tool_use_result: Option<Value> = if results.len() == 1 {
            line.tool_use_result
                .and_then(|r| serde_json::from_str(r.get()).ok())
                .filter(Value::is_object)
        } else {
            None
        };
        for block in results {
            let Some(tool_use_id) = block.tool_use_id.as_deref() else {
                continue;
            };
            let mut source = self.source(line);
            source.tool_use_id = Some(tool_use_id.to_string());
            source.tool_name = self.tools.get(tool_use_id).cloned();
            let agent_tool = source.tool_name.as_deref().is_some_and(is_agent_tool);
            let (origin, value) = match &tool_use_result {
                Some(r) => {
                    let launched = r.get("agentId").and_then(Value::as_str);
                    let origin = match launched {
                        Some(agent) => {
                            source.agent_id = Some(agent.to_string());
                            source.agent_type = r
                                .get("agentType")
                                .and_then(Value::as_str)
                                .map(str::to_string);
                            Origin::Report {
                                agent_id: Some(agent.to_string()),
                                prompt_id: None,
                            }
                        }
                        None => Origin::Tool {
                            tool_use_id: tool_use_id.to_string(),
                        },
                    };
                    let mut v = r.clone();
                    if agent_tool || launched.is_some() {
                        if let Some(map) = v.as_object_mut() {
                            map.shift_remove("prompt");
                        }
                    }
                    (origin, v)
                }
                None => {
                    let v = block
                        .content
                        .and_then(|c| serde_json::from_str::<Value>(c.get()).ok())
                        .unwrap_or(Value::Null);
                    (
                        Origin::Tool {
                            tool_use_id: tool_use_id.to_string(),
                        },
                        v,
                    )
                }
            };
            let mut strings = Vec::new();
            collect_strings(&value, &mut strings);
            for s in strings
                .into_iter()
                .filter(|s| self.open.find(s.as_bytes()).is_some())
            {
                out.entries.push(Entry {
                    text: Text {
                        origin: origin.clone(),
                        body: Cow::Owned(s.to_string()),
                        source: source.clone(),
                        written_at: line.timestamp.as_deref().map(str::to_string),
                    },
                    final_message: None,
                });
            }
        }
    }

    fn assistant(&mut self, line: &Line, has_marker: bool, out: &mut Transcript) {
        let Some(message) = line
            .message
            .and_then(|m| serde_json::from_str::<Message>(m.get()).ok())
        else {
            return;
        };
        let blocks: Vec<Block> = match message.content {
            Some(c) if c.get().trim_start().starts_with('[') => {
                serde_json::from_str(c.get()).unwrap_or_default()
            }
            Some(c) => match serde_json::from_str::<Cow<str>>(c.get()) {
                Ok(s) => vec![Block {
                    kind: Some("text".into()),
                    text: Some(s),
                    id: None,
                    name: None,
                    tool_use_id: None,
                    content: None,
                }],
                Err(_) => Vec::new(),
            },
            None => Vec::new(),
        };
        for b in &blocks {
            if let (Some("tool_use"), Some(id), Some(name)) = (b.kind.as_deref(), &b.id, &b.name) {
                self.tools.insert(id.to_string(), name.to_string());
            }
        }
        let texts: Vec<&str> = blocks
            .iter()
            .filter(|b| b.kind.as_deref() == Some("text"))
            .filter_map(|b| b.text.as_deref())
            .collect();
        if texts.is_empty() {
            return;
        }
        let agent = line
            .agent_id
            .as_deref()
            .map(str::to_string)
            .or_else(|| self.base.agent_id.clone());
        if agent.is_some() {
            self.subagent = true;
        }
        let message_id = message
            .id
            .as_deref()
            .map(str::to_string)
            .unwrap_or_else(|| format!("line-{}", out.lines));
        // A message spread over several lines shares one id.
        let same = matches!(&self.last, Some((id, _)) if *id == message_id);
        if !same {
            self.flush_last(out);
            self.last = Some((message_id.clone(), Vec::new()));
            self.last_at = Some(self.at.clone());
        }
        if !has_marker {
            return;
        }
        let mut source = self.source(line);
        source.agent_id = agent.clone();
        let origin = Origin::Message {
            agent_id: agent,
            message_id,
        };
        let entries = &mut self.last.as_mut().expect("set above").1;
        for t in texts
            .into_iter()
            .filter(|t| self.open.find(t.as_bytes()).is_some())
        {
            entries.push(Entry {
                text: Text {
                    origin: origin.clone(),
                    body: Cow::Owned(t.to_string()),
                    source: source.clone(),
                    written_at: line.timestamp.as_deref().map(str::to_string),
                },
                final_message: None,
            });
        }
    }

    /// The latest text message was not the last: its texts keep `Message`.
    fn flush_last(&mut self, out: &mut Transcript) {
        self.last_at = None;
        if let Some((_, entries)) = self.last.take() {
            out.entries.extend(entries);
        }
    }

    /// The latest text message was the agent's final one: its texts become
    /// the agent's `Report`.
    fn close_turn(&mut self, out: &mut Transcript) {
        self.last_at = None;
        if let Some((id, entries)) = self.last.take() {
            for mut e in entries {
                if let Origin::Message { agent_id, .. } = &e.text.origin {
                    e.text.origin = Origin::Report {
                        agent_id: agent_id.clone(),
                        prompt_id: if agent_id.is_none() {
                            e.text.source.prompt_id.clone()
                        } else {
                            None
                        },
                    };
                }
                e.final_message = Some(id.clone());
                out.entries.push(e);
            }
        }
    }

    fn finish(&mut self, out: &mut Transcript) {
        self.close_turn(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ReadLimits {
        ReadLimits {
            max_bytes: 1 << 30,
            max_line_bytes: 1 << 20,
        }
    }

    fn sub(lines: &[&str]) -> Transcript {
        let base = Source {
            agent_id: Some("ag".into()),
            session_id: Some("s".into()),
            ..Source::default()
        };
        read_from(lines.join("\n").as_bytes(), &limits(), &base).unwrap()
    }

    const TOOL_USE: &str = r#"{"type":"assistant","agentId":"ag","message":{"id":"m1","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"echo '<EVENT>{}</EVENT>'"}}]}}"#;
    const RESULT: &str = r#"{"type":"user","agentId":"ag","promptId":"p","message":{"content":[{"type":"tool_result","tool_use_id":"t1","content":"<EVENT>{\"name\":\"a.b\"}</EVENT>"}]}}"#;
    const MID: &str = r#"{"type":"assistant","agentId":"ag","message":{"id":"m2","content":[{"type":"text","text":"<EVENT>{\"name\":\"a.mid\"}</EVENT>"}]}}"#;
    const LAST: &str = r#"{"type":"assistant","agentId":"ag","message":{"id":"m3","content":[{"type":"text","text":"done <EVENT>{\"name\":\"a.end\"}</EVENT>"}]}}"#;

    /// Reads `text` in two steps, cut at `cut` bytes, resuming as a hook
    /// does; returns the origins of both steps and the pending ones.
    fn in_two_steps(text: &str, cut: usize) -> (Vec<String>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent-ag.jsonl");
        let base = Source {
            agent_id: Some("ag".into()),
            session_id: Some("s".into()),
            ..Source::default()
        };
        let keys = |e: &[Entry]| e.iter().map(|e| e.text.origin.key()).collect::<Vec<_>>();
        std::fs::write(&path, &text[..cut]).unwrap();
        let first = read_incremental(&path, &[], &limits(), &base, &Resume::default()).unwrap();
        assert!(first.end.offset <= cut as u64);
        std::fs::write(&path, text).unwrap();
        let second = read_incremental(&path, &[], &limits(), &base, &first.before_pending).unwrap();
        assert_eq!(second.end.offset, text.len() as u64);
        let mut settled = keys(&first.transcript.entries);
        settled.extend(keys(&second.transcript.entries));
        (settled, keys(&second.pending))
    }

    #[test]
    fn an_incremental_read_gives_a_whole_reads_origins() {
        let text = [TOOL_USE, RESULT, MID, LAST]
            .map(|l| format!("{l}\n"))
            .concat();
        let whole = sub(&[TOOL_USE, RESULT, MID, LAST]);
        let whole: Vec<String> = whole.entries.iter().map(|e| e.text.origin.key()).collect();
        // Cut anywhere: inside a line (not read until complete), at a line's
        // end, inside the message that later turns out not to be the last.
        for cut in [
            10,
            TOOL_USE.len() + 1,
            TOOL_USE.len() + 30,
            text.len() - 5,
            text.len(),
        ] {
            let (settled, pending) = in_two_steps(&text, cut);
            assert_eq!(settled, whole[..2], "cut at {cut}");
            assert_eq!(pending, whole[2..], "cut at {cut}");
        }
    }

    #[test]
    fn a_line_without_its_newline_is_not_consumed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, format!("{TOOL_USE}\n{}", &RESULT[..20])).unwrap();
        let r = read_incremental(
            &path,
            &[],
            &limits(),
            &Source::default(),
            &Resume::default(),
        )
        .unwrap();
        assert_eq!(r.end.offset, TOOL_USE.len() as u64 + 1);
        assert_eq!(r.end.line, 1);
        assert!(r.transcript.warnings.is_empty());
    }

    #[test]
    fn first_and_last_timestamps_of_conversation_lines() {
        let t = sub(&[
            r#"{"type":"attachment","timestamp":"2026-01-01T00:00:00.000Z"}"#,
            r#"{"type":"user","agentId":"ag","timestamp":"2026-01-01T00:00:01.000Z","message":{"content":"go"}}"#,
            r#"{"type":"assistant","agentId":"ag","timestamp":"2026-01-01T00:00:02.500Z","message":{"id":"m","content":"ok"}}"#,
            r#"{"type":"system","timestamp":"2026-01-01T00:00:09.000Z"}"#,
        ]);
        assert_eq!(
            t.first_timestamp.as_deref(),
            Some("2026-01-01T00:00:01.000Z")
        );
        assert_eq!(
            t.last_timestamp.as_deref(),
            Some("2026-01-01T00:00:02.500Z")
        );
    }

    #[test]
    fn tool_results_count_tool_inputs_do_not() {
        let t = sub(&[TOOL_USE, RESULT]);
        assert_eq!(t.entries.len(), 1);
        let e = &t.entries[0].text;
        assert_eq!(
            e.origin,
            Origin::Tool {
                tool_use_id: "t1".into()
            }
        );
        assert_eq!(e.source.tool_name.as_deref(), Some("Bash"));
        assert_eq!(e.source.prompt_id.as_deref(), Some("p"));
    }

    #[test]
    fn last_text_message_is_the_report() {
        let t = sub(&[TOOL_USE, RESULT, MID, LAST]);
        let origins: Vec<_> = t.entries.iter().map(|e| e.text.origin.key()).collect();
        assert_eq!(origins, vec!["tool/t1", "message/ag/m2", "report/agent/ag"]);
        assert_eq!(t.entries[2].final_message.as_deref(), Some("m3"));
    }

    #[test]
    fn other_line_kinds_and_garbage_are_skipped() {
        let t = sub(&[
            r#"{"type":"attachment","x":"<EVENT>{}</EVENT>"}"#,
            "not json <EVENT>",
            "",
            LAST,
        ]);
        assert_eq!(t.entries.len(), 1);
        assert_eq!(t.lines, 4);
    }

    #[test]
    fn long_lines_are_skipped_and_reported() {
        let long = format!(
            r#"{{"type":"assistant","message":{{"content":"{}"}}}}"#,
            "x".repeat(2000)
        );
        let base = Source::default();
        let t = read_from(
            long.as_bytes(),
            &ReadLimits {
                max_bytes: 1 << 20,
                max_line_bytes: 100,
            },
            &base,
        )
        .unwrap();
        assert_eq!(t.warnings.len(), 1);
    }

    #[test]
    fn main_transcript_reports_per_prompt() {
        let lines = [
            r#"{"type":"user","promptId":"p1","message":{"content":"go"}}"#,
            r#"{"type":"assistant","message":{"id":"a1","content":[{"type":"text","text":"<EVENT>{\"name\":\"a.one\"}</EVENT>"}]}}"#,
            r#"{"type":"user","promptId":"p2","message":{"content":"again"}}"#,
            r#"{"type":"assistant","message":{"id":"a2","content":[{"type":"text","text":"<EVENT>{\"name\":\"a.two\"}</EVENT>"}]}}"#,
        ];
        let t = read_from(lines.join("\n").as_bytes(), &limits(), &Source::default()).unwrap();
        let origins: Vec<_> = t.entries.iter().map(|e| e.text.origin.key()).collect();
        assert_eq!(origins, vec!["report/main/p1", "report/main/p2"]);
    }

    #[test]
    fn agent_results_in_a_main_transcript_are_the_subagents_report() {
        let lines = [
            r#"{"type":"assistant","message":{"id":"a1","content":[{"type":"tool_use","id":"tA","name":"Agent","input":{"prompt":"<EVENT>{}</EVENT>"}}]}}"#,
            r#"{"type":"user","promptId":"p1","toolUseResult":{"agentId":"ag","prompt":"<EVENT>{}</EVENT>","content":[{"type":"text","text":"<EVENT>{\"name\":\"a.r\"}</EVENT>"}]},"message":{"content":[{"type":"tool_result","tool_use_id":"tA","content":[{"type":"text","text":"  <EVENT>{\"name\":\"a.r\"}</EVENT>"}]}]}}"#,
        ];
        let t = read_from(lines.join("\n").as_bytes(), &limits(), &Source::default()).unwrap();
        assert_eq!(t.entries.len(), 1);
        assert_eq!(t.entries[0].text.origin.key(), "report/agent/ag");
        assert_eq!(t.entries[0].text.source.agent_id.as_deref(), Some("ag"));
    }
}
