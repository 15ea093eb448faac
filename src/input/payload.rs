//! The hook payload Claude Code writes to a hook's stdin, and the texts in it
//! that may hold markers.
//!
//! Which texts count depends on the hook event:
//! - PostToolUse: every string inside `tool_response` (never `tool_input`:
//!   a Bash command that echoes a marker contains the marker too). For the
//!   `Agent`/`Task` tool, `tool_response.prompt` is an echo of the input and
//!   is skipped too.
//! - PostToolUseFailure (a tool call that failed, e.g. Bash exiting
//!   non-zero): `error`, which holds the output, and any `tool_response`;
//!   the same origin and ids as PostToolUse.
//! - SubagentStop: `last_assistant_message` (the transcript is read by the
//!   publish command, see `input::transcript`).
//! - Stop: `last_assistant_message`.

use std::borrow::Cow;

use memchr::memmem;
use serde_json::{Map, Value};

use super::origin::Origin;
use super::{source::Source, text::Text};
use crate::error::{Error, Result};
use crate::ids;

/// The subagent tool's names: `Agent` since Claude Code 2.1.63, `Task` before.
pub fn is_agent_tool(name: &str) -> bool {
    matches!(name, "Agent" | "Task")
}

/// The hooks that matter even without a marker in the payload: they give a
/// lifecycle record (`input::lifecycle`) or have transcripts to read.
const WITHOUT_MARKERS: [&[u8]; 6] = [
    b"Stop",
    b"SessionStart",
    b"SessionEnd",
    b"SubagentStart",
    b"SubagentStop",
    b"PostToolUseFailure",
];

/// The value of the payload's first `"hook_event_name"` key, read from the
/// raw bytes without parsing the payload (Claude Code writes the key near
/// the start). None when it is not a plain string.
pub fn hook_event_name_of(bytes: &[u8]) -> Option<&[u8]> {
    const KEY: &[u8] = b"\"hook_event_name\"";
    let rest = &bytes[memmem::find(bytes, KEY)? + KEY.len()..];
    let skip = |b: &[u8]| {
        b.iter()
            .position(|c| !c.is_ascii_whitespace())
            .unwrap_or(b.len())
    };
    let rest = &rest[skip(rest)..];
    let rest = rest.strip_prefix(b":")?;
    let rest = &rest[skip(rest)..];
    let rest = rest.strip_prefix(b"\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    (rest[end] == b'"').then(|| &rest[..end])
}

/// A parsed hook payload.
#[derive(Debug)]
pub struct Payload {
    fields: Map<String, Value>,
    /// SHA-256 of the payload bytes: the identity of texts that have no
    /// Claude Code id to go by (1.0.x payloads); empty when every text has one.
    digest: String,
}

impl Payload {
    /// Parses stdin bytes. Invalid UTF-8 is replaced rather than refused, so
    /// the markers in an output with a stray byte are not lost.
    pub fn parse(bytes: &[u8]) -> Result<Payload> {
        let value: Value = match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(e) if std::str::from_utf8(bytes).is_err() => {
                let text = String::from_utf8_lossy(bytes);
                serde_json::from_str(&text).map_err(|_| Error::new(e.to_string()))?
            }
            Err(e) => return Err(Error::new(e.to_string())),
        };
        let Value::Object(fields) = value else {
            return Err(Error::new(format!(
                "expected a JSON object, got {}",
                kind_of(&value)
            )));
        };
        // Hashing a large payload is not free: only payloads without ids need it.
        let id = |k: &str| fields.get(k).is_some_and(Value::is_string);
        let needs_digest = match fields.get("hook_event_name").and_then(Value::as_str) {
            Some("PostToolUse" | "PostToolUseFailure") => !id("tool_use_id"),
            Some("SubagentStop") => !id("agent_id"),
            _ => false,
        };
        let digest = match needs_digest {
            true => ids::text_digest(&String::from_utf8_lossy(bytes)),
            false => String::new(),
        };
        Ok(Payload { fields, digest })
    }

    /// Cheap test on the raw bytes: can this payload produce any event?
    /// Lets the hook return without parsing the common Bash call that
    /// printed no marker.
    pub fn may_hold_events(bytes: &[u8]) -> bool {
        memmem::find(bytes, b"<EVENT>").is_some()
            || memmem::find(bytes, b"\"agent_transcript_path\"").is_some()
            || hook_event_name_of(bytes).is_some_and(|h| WITHOUT_MARKERS.contains(&h))
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    fn string(&self, key: &str) -> Option<String> {
        self.str(key).map(str::to_string)
    }

    pub fn hook_event_name(&self) -> Option<&str> {
        self.str("hook_event_name")
    }

    pub fn tool_response(&self) -> Option<&Value> {
        self.fields.get("tool_response")
    }

    pub fn field(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// SHA-256 of the payload, when it has no id to go by (else empty).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    pub fn number(&self, key: &str) -> Option<f64> {
        self.fields.get(key).and_then(Value::as_f64)
    }

    pub fn cwd(&self) -> Option<&str> {
        self.str("cwd")
    }

    pub fn agent_transcript_path(&self) -> Option<&str> {
        self.str("agent_transcript_path")
    }

    /// The context every event of this payload shares.
    pub fn source(&self) -> Source {
        Source {
            hook_event_name: self.string("hook_event_name"),
            session_id: self.string("session_id"),
            prompt_id: self.string("prompt_id"),
            agent_id: self.string("agent_id"),
            agent_type: self.string("agent_type"),
            tool_name: self.string("tool_name"),
            tool_use_id: self.string("tool_use_id"),
            cwd: self.string("cwd"),
            transcript_path: self.string("transcript_path"),
        }
    }

    /// For an `Agent`/`Task` PostToolUse, the subagent it ran:
    /// `tool_response.agentId` and its type.
    pub fn launched_agent(&self) -> Option<(String, Option<String>)> {
        let tool = self.str("tool_name")?;
        if !is_agent_tool(tool) {
            return None;
        }
        let response = self.tool_response()?;
        let id = response.get("agentId")?.as_str()?.to_string();
        let kind = response
            .get("agentType")
            .and_then(Value::as_str)
            .or_else(|| {
                self.fields
                    .get("tool_input")?
                    .get("subagent_type")?
                    .as_str()
            })
            .map(str::to_string);
        Some((id, kind))
    }

    /// The texts of this payload that hold an `<EVENT>` opening tag, in
    /// document order, each with its origin.
    pub fn texts(&self) -> Vec<Text<'_>> {
        let finder = memmem::Finder::new(b"<EVENT>");
        let has = |s: &str| finder.find(s.as_bytes()).is_some();
        let mut source = self.source();
        let mut out = Vec::new();
        match self.hook_event_name() {
            Some("PostToolUseFailure") => {
                // The output of a failed call is in `error`; a response, if
                // any, is read as PostToolUse reads it.
                let mut strings = Vec::new();
                if let Some(e) = self.fields.get("error") {
                    collect_strings(e, &mut strings);
                }
                if let Some(r) = self.tool_response() {
                    collect_strings(r, &mut strings);
                }
                for s in strings.into_iter().filter(|s| has(s)) {
                    out.push(self.text(self.tool_origin(), s, source.clone()));
                }
            }
            Some("PostToolUse") => {
                let Some(Value::Object(response)) = self.tool_response() else {
                    if let Some(Value::String(s)) = self.tool_response() {
                        if has(s) {
                            out.push(self.text(self.tool_origin(), s, source));
                        }
                    }
                    return out;
                };
                let agent_tool = self.str("tool_name").is_some_and(is_agent_tool);
                let origin = match self.launched_agent() {
                    Some((agent_id, agent_type)) => {
                        // The report belongs to the subagent, as it does when
                        // SubagentStop delivers it.
                        source.agent_id = Some(agent_id.clone());
                        source.agent_type = agent_type.or(source.agent_type);
                        Origin::Report {
                            agent_id: Some(agent_id),
                            prompt_id: None,
                        }
                    }
                    None => self.tool_origin(),
                };
                let mut strings = Vec::new();
                for (key, value) in response {
                    if agent_tool && key == "prompt" {
                        continue;
                    }
                    collect_strings(value, &mut strings);
                }
                for s in strings.into_iter().filter(|s| has(s)) {
                    out.push(self.text(origin.clone(), s, source.clone()));
                }
            }
            Some("SubagentStop") => {
                if let Some(msg) = self.str("last_assistant_message").filter(|s| has(s)) {
                    let origin = match &source.agent_id {
                        Some(a) => Origin::Report {
                            agent_id: Some(a.clone()),
                            prompt_id: None,
                        },
                        None => Origin::Payload {
                            digest: self.digest.clone(),
                        },
                    };
                    out.push(self.text(origin, msg, source));
                }
            }
            Some("Stop") => {
                if let Some(msg) = self.str("last_assistant_message").filter(|s| has(s)) {
                    let origin = Origin::Report {
                        agent_id: None,
                        prompt_id: source.prompt_id.clone(),
                    };
                    out.push(self.text(origin, msg, source));
                }
            }
            _ => {}
        }
        out
    }

    fn tool_origin(&self) -> Origin {
        match self.str("tool_use_id") {
            Some(id) => Origin::Tool {
                tool_use_id: id.to_string(),
            },
            None => Origin::Payload {
                digest: self.digest.clone(),
            },
        }
    }

    fn text<'a>(&self, origin: Origin, body: &'a str, source: Source) -> Text<'a> {
        Text {
            origin,
            body: Cow::Borrowed(body),
            source,
            written_at: None,
        }
    }
}

/// Every string inside a JSON value, depth first in document order.
pub fn collect_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASH: &str = r#"{"session_id":"s","hook_event_name":"PostToolUse","tool_name":"Bash","tool_use_id":"t1",
        "tool_input":{"command":"echo '<EVENT>{}</EVENT>'"},
        "tool_response":{"stdout":"<EVENT>{\"name\":\"a.b\"}</EVENT>","stderr":"<EVENT>{\"name\":\"a.c\"}</EVENT>"}}"#;

    #[test]
    fn post_tool_use_scans_response_not_input() {
        let p = Payload::parse(BASH.as_bytes()).unwrap();
        let texts = p.texts();
        assert_eq!(texts.len(), 2);
        assert!(texts.iter().all(|t| t.origin
            == Origin::Tool {
                tool_use_id: "t1".into()
            }));
        assert!(texts[0].body.contains("a.b") && texts[1].body.contains("a.c"));
    }

    #[test]
    fn agent_report_belongs_to_the_subagent_and_skips_the_prompt_echo() {
        let p = Payload::parse(
            br#"{"session_id":"s","hook_event_name":"PostToolUse","tool_name":"Agent","tool_use_id":"t",
            "tool_input":{"subagent_type":"url-cacher"},
            "tool_response":{"prompt":"<EVENT>{}</EVENT>","agentId":"ag","content":[{"type":"text","text":"<EVENT>{}</EVENT>"}]}}"#,
        )
        .unwrap();
        let texts = p.texts();
        assert_eq!(texts.len(), 1);
        assert_eq!(
            texts[0].origin,
            Origin::Report {
                agent_id: Some("ag".into()),
                prompt_id: None
            }
        );
        assert_eq!(texts[0].source.agent_id.as_deref(), Some("ag"));
        assert_eq!(texts[0].source.agent_type.as_deref(), Some("url-cacher"));
    }

    #[test]
    fn no_tool_use_id_falls_back_to_the_payload_digest() {
        let p = Payload::parse(
            br#"{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_response":{"stdout":"<EVENT>{}</EVENT>"}}"#,
        )
        .unwrap();
        assert!(matches!(p.texts()[0].origin, Origin::Payload { .. }));
    }

    #[test]
    fn rejects_non_objects_with_a_clear_message() {
        assert_eq!(
            Payload::parse(b"[1]").unwrap_err().to_string(),
            "expected a JSON object, got an array"
        );
        assert!(Payload::parse(b"").is_err());
    }

    #[test]
    fn invalid_utf8_is_replaced_not_refused() {
        let mut bytes = br#"{"hook_event_name":"Stop","last_assistant_message":"x "#.to_vec();
        bytes.push(0xff);
        bytes.extend_from_slice(br#" <EVENT>{}</EVENT>"}"#);
        let p = Payload::parse(&bytes).unwrap();
        assert_eq!(p.texts().len(), 1);
    }

    #[test]
    fn a_failed_call_scans_error_and_response_not_input() {
        let p = Payload::parse(
            br#"{"session_id":"s","hook_event_name":"PostToolUseFailure","tool_name":"Bash","tool_use_id":"t1",
            "tool_input":{"command":"echo '<EVENT>{}</EVENT>'; exit 1"},
            "error":"Exit code 1\n<EVENT>{\"name\":\"a.b\"}</EVENT>","tool_response":{"stderr":"<EVENT>{\"name\":\"a.c\"}</EVENT>"}}"#,
        )
        .unwrap();
        let texts = p.texts();
        assert_eq!(texts.len(), 2);
        assert!(texts[0].body.contains("a.b") && texts[1].body.contains("a.c"));
        assert!(texts.iter().all(|t| t.origin.key() == "tool/t1"));
    }

    #[test]
    fn the_hook_name_is_read_from_the_raw_bytes() {
        assert_eq!(
            hook_event_name_of(br#"{"a":1, "hook_event_name" :  "SessionEnd","x":2}"#),
            Some(&b"SessionEnd"[..])
        );
        assert_eq!(hook_event_name_of(br#"{"hook_event_name":3}"#), None);
        assert_eq!(hook_event_name_of(br#"{"hook_event_name":"a\"b"}"#), None);
        assert_eq!(hook_event_name_of(br#"{"hook_event_name":"abc"#), None);
        assert!(Payload::may_hold_events(
            br#"{"hook_event_name": "SubagentStart"}"#
        ));
        assert!(!Payload::may_hold_events(
            br#"{"hook_event_name": "UserPromptSubmit", "prompt": "SessionStart"}"#
        ));
    }

    #[test]
    fn unknown_hook_events_have_no_texts() {
        let p = Payload::parse(
            br#"{"hook_event_name":"PreToolUse","tool_input":{"x":"<EVENT>{}</EVENT>"}}"#,
        )
        .unwrap();
        assert!(p.texts().is_empty());
    }
}
