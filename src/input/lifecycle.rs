//! Claude Code's own lifecycle as records: which hook payload gives which
//! `claudeCode.*` record (schemas: `validate::lifecycle_schemas`).
//!
//! | hook | record | attributes |
//! |---|---|---|
//! | SessionStart | `claudeCode.sessionStarted` | `source` |
//! | SessionEnd | `claudeCode.sessionEnded` | `reason` |
//! | SubagentStart | `claudeCode.subagentStarted` | `agent_type` |
//! | SubagentStop | `claudeCode.subagentStopped` | `agent_type` |
//! | PostToolUseFailure | `claudeCode.toolFailed` | `tool_name`, `duration_ms`, `is_interrupt`, `error` (its first line) |
//!
//! Identity: origin `lifecycle/session`, `lifecycle/agent/<agent_id>` or
//! `lifecycle/tool/<tool_use_id>`, and the record's digest, so the same
//! hook input published again, in any order, is the same record. The
//! records carry no timestamp of their own: a record's time is when the
//! publisher first saw the hook, which is when Claude Code ran it.

use serde_json::{Map, Value};

use super::Payload;
use super::origin::Origin;
use super::source::Source;
use crate::ids;

/// The longest `error` line a `toolFailed` record keeps, in characters.
pub const MAX_ERROR_CHARS: usize = 1000;

/// A lifecycle record to store.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    pub origin: Origin,
    /// The event: `name` and `attributes`, as a marker would hold them.
    pub event: Map<String, Value>,
    pub source: Source,
}

impl Lifecycle {
    /// The record's id, as the pipeline computes it for this origin and
    /// event (first occurrence): known without reading anything, so a later
    /// hook can find the record (its time) by id.
    pub fn id(&self) -> uuid::Uuid {
        ids::event_id(
            self.source.session(),
            &self.origin.key(),
            &ids::object_digest(&self.event),
            0,
        )
    }

    /// The `subagentStarted` record of the run `source.agent_id` of type
    /// `source.agent_type`, as SubagentStart gave it.
    pub fn subagent_started(source: &Source) -> Option<Lifecycle> {
        Some(Lifecycle::new(
            "subagentStarted",
            format!("agent/{}", source.agent_id.as_deref()?),
            [("agent_type", source.agent_type.clone().map(Value::from))],
            source.clone(),
        ))
    }

    /// The `sessionStarted` records a session may have, one per SessionStart
    /// `source` Claude Code documents.
    pub fn sessions_started(source: &Source) -> Vec<Lifecycle> {
        ["startup", "resume", "clear", "compact"]
            .into_iter()
            .map(|s| {
                Lifecycle::new(
                    "sessionStarted",
                    "session".into(),
                    [("source", Some(Value::from(s)))],
                    source.clone(),
                )
            })
            .collect()
    }

    fn new<const N: usize>(
        name: &str,
        subject: String,
        attributes: [(&str, Option<Value>); N],
        source: Source,
    ) -> Lifecycle {
        let attributes: Map<String, Value> = attributes
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?)))
            .collect();
        let mut event = Map::new();
        event.insert("name".into(), format!("claudeCode.{name}").into());
        event.insert("attributes".into(), Value::Object(attributes));
        Lifecycle {
            origin: Origin::Lifecycle { subject },
            event,
            source,
        }
    }
}

/// The lifecycle record a hook payload gives, if any.
pub fn of(payload: &Payload) -> Option<Lifecycle> {
    const HOOKS: [&str; 5] = [
        "SessionStart",
        "SessionEnd",
        "SubagentStart",
        "SubagentStop",
        "PostToolUseFailure",
    ];
    // Most hook calls are tool calls: no source to build for them.
    if !HOOKS.contains(&payload.hook_event_name()?) {
        return None;
    }
    let source = payload.source();
    let mut attributes = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            attributes.insert(key.to_string(), v);
        }
    };
    let string = |key: &str| payload.str(key).map(|s| Value::String(s.to_string()));
    let agent_subject = || Some(format!("agent/{}", source.agent_id.as_deref()?));
    let (name, subject) = match payload.hook_event_name()? {
        "SessionStart" => {
            put("source", string("source"));
            ("sessionStarted", Some("session".to_string()))
        }
        "SessionEnd" => {
            put("reason", string("reason"));
            ("sessionEnded", Some("session".to_string()))
        }
        "SubagentStart" => {
            put("agent_type", string("agent_type"));
            ("subagentStarted", agent_subject())
        }
        "SubagentStop" => {
            put("agent_type", string("agent_type"));
            ("subagentStopped", agent_subject())
        }
        "PostToolUseFailure" => {
            put("tool_name", Some(string("tool_name").unwrap_or("".into())));
            put(
                "duration_ms",
                payload
                    .field("duration_ms")
                    .filter(|v| v.as_f64().is_some_and(|n| n >= 0.0))
                    .cloned(),
            );
            put(
                "is_interrupt",
                payload
                    .field("is_interrupt")
                    .filter(|v| v.is_boolean())
                    .cloned(),
            );
            put("error", payload.str("error").map(|e| first_line(e).into()));
            let subject = match source.tool_use_id.as_deref() {
                Some(id) => format!("tool/{id}"),
                None => format!("payload/{}", payload.digest()),
            };
            ("toolFailed", Some(subject))
        }
        _ => return None,
    };
    // A subagent record without its agent id cannot be told apart from
    // another run's: none is written.
    let subject = subject?;
    let mut l = Lifecycle::new(name, subject, [], source);
    l.event
        .insert("attributes".into(), Value::Object(attributes));
    Some(l)
}

/// The first line of an error, at most `MAX_ERROR_CHARS` characters.
fn first_line(error: &str) -> String {
    error
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(MAX_ERROR_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of_json(text: &str) -> Option<Lifecycle> {
        of(&Payload::parse(text.as_bytes()).unwrap())
    }

    #[test]
    fn each_lifecycle_hook_gives_its_record() {
        let cases = [
            (
                r#"{"session_id":"s","hook_event_name":"SessionStart","source":"startup"}"#,
                "claudeCode.sessionStarted",
                "lifecycle/session",
            ),
            (
                r#"{"session_id":"s","hook_event_name":"SessionEnd","reason":"other"}"#,
                "claudeCode.sessionEnded",
                "lifecycle/session",
            ),
            (
                r#"{"session_id":"s","hook_event_name":"SubagentStart","agent_id":"a","agent_type":"x"}"#,
                "claudeCode.subagentStarted",
                "lifecycle/agent/a",
            ),
            (
                r#"{"session_id":"s","hook_event_name":"SubagentStop","agent_id":"a","agent_type":"x"}"#,
                "claudeCode.subagentStopped",
                "lifecycle/agent/a",
            ),
        ];
        for (payload, name, origin) in cases {
            let l = of_json(payload).unwrap();
            assert_eq!(l.event["name"], name);
            assert_eq!(l.origin.key(), origin);
        }
        assert!(of_json(r#"{"hook_event_name":"UserPromptSubmit"}"#).is_none());
        assert!(of_json(r#"{"hook_event_name":"SubagentStop"}"#).is_none());
    }

    #[test]
    fn a_stop_knows_the_id_of_its_start() {
        let start = of_json(
            r#"{"session_id":"s","hook_event_name":"SubagentStart","agent_id":"a","agent_type":"x"}"#,
        )
        .unwrap();
        let stop = of_json(
            r#"{"session_id":"s","hook_event_name":"SubagentStop","agent_id":"a","agent_type":"x","prompt_id":"p"}"#,
        )
        .unwrap();
        let derived = Lifecycle::subagent_started(&stop.source).unwrap();
        assert_eq!(derived.id(), start.id());
        let session =
            of_json(r#"{"session_id":"s","hook_event_name":"SessionStart","source":"resume"}"#)
                .unwrap();
        assert!(
            Lifecycle::sessions_started(&stop.source)
                .iter()
                .any(|l| l.id() == session.id())
        );
    }

    #[test]
    fn a_failed_call_keeps_the_first_line_of_its_error() {
        let l = of_json(
            r#"{"session_id":"s","hook_event_name":"PostToolUseFailure","tool_name":"Bash","tool_use_id":"t",
            "error":"Exit code 3\nsecret output","is_interrupt":false,"duration_ms":80}"#,
        )
        .unwrap();
        assert_eq!(l.origin.key(), "lifecycle/tool/t");
        assert_eq!(
            Value::Object(l.event["attributes"].as_object().unwrap().clone()),
            serde_json::json!({"tool_name": "Bash", "duration_ms": 80, "is_interrupt": false, "error": "Exit code 3"})
        );
        let long = format!(
            r#"{{"hook_event_name":"PostToolUseFailure","tool_use_id":"t","error":"{}"}}"#,
            "x".repeat(5000)
        );
        let l = of_json(&long).unwrap();
        assert_eq!(
            l.event["attributes"]["error"].as_str().unwrap().len(),
            MAX_ERROR_CHARS
        );
    }
}
