//! Spans: a subagent run (`invoke_agent {agent_type}`) or a tool call that
//! printed events (`execute_tool {tool_name}`), in the same trace and with
//! the same span ids as the records (see `ids`), so the events of a run sit
//! inside its span whichever hook call exported which.
//!
//! A run's time is known from:
//! - the `Agent`/`Task` PostToolUse of a foreground run: it ends when the
//!   hook runs and lasted `tool_response.totalDurationMs` (else the
//!   payload's `duration_ms`); a background launch (`async_launched`) says
//!   nothing about the run and gives no span;
//! - SubagentStop: the subagent transcript's first and last timestamps.
//!
//! With the lifecycle records, a run is timed from its SubagentStart to its
//! SubagentStop (the records' times), and the session's span (the parent
//! of the main agent's) from its SessionStart to its SessionEnd.
//!
//! A tool call's span ends when its PostToolUse (or PostToolUseFailure, then
//! with status error) hook runs and lasted `duration_ms`. Both kinds are INTERNAL; a run's parent is the main
//! agent's span (as in the records), a tool call's the span of the agent
//! that made it.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};

use super::enricher::parse_time;
use crate::ids;
use crate::input::payload::is_agent_tool;
use crate::input::{Payload, Source};

#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub attributes: Map<String, Value>,
    /// Set when the span failed (a failed tool call): its status is error,
    /// with this message.
    pub error: Option<String>,
}

impl Span {
    /// The run of subagent `source.agent_id`; `source.tool_use_id` is the
    /// call that launched it, if known. None without an agent id.
    pub fn agent_run(
        source: &Source,
        model: Option<&str>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Option<Span> {
        let agent = source.agent_id.as_deref()?;
        let session = source.session();
        let mut a = Map::new();
        put(&mut a, "gen_ai.operation.name", Some("invoke_agent"));
        put(&mut a, "gen_ai.provider.name", Some("anthropic"));
        context(&mut a, source);
        put(&mut a, "gen_ai.request.model", model);
        a.insert("duration_ms".into(), duration_ms(start, end).into());
        Some(Span {
            trace_id: ids::trace_id(session),
            span_id: ids::agent_span_id(session, agent),
            parent_span_id: Some(ids::main_span_id(session)),
            name: match source.agent_type.as_deref() {
                Some(t) => format!("invoke_agent {t}"),
                None => "invoke_agent".into(),
            },
            start,
            end: end.max(start),
            attributes: a,
            error: None,
        })
    }

    /// The same span over another time.
    pub fn retimed(mut self, start: DateTime<Utc>, end: DateTime<Utc>) -> Span {
        self.start = start;
        self.end = end.max(start);
        self.attributes
            .insert("duration_ms".into(), duration_ms(start, end).into());
        self
    }

    /// The session `source.session_id`, from its SessionStart to its
    /// SessionEnd: the root of the trace.
    pub fn session(source: &Source, start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Span> {
        let session = source.session_id.as_deref()?;
        let mut a = Map::new();
        put(&mut a, "session.id", Some(session));
        put(&mut a, "gen_ai.conversation.id", Some(session));
        a.insert("duration_ms".into(), duration_ms(start, end).into());
        Some(Span {
            trace_id: ids::trace_id(session),
            span_id: ids::session_span_id(session),
            parent_span_id: None,
            name: "session".into(),
            start,
            end: end.max(start),
            attributes: a,
            error: None,
        })
    }

    /// The main agent of session `source.session_id` over the same time:
    /// the span the main agent's events carry, child of the session's.
    pub fn main_agent(source: &Source, start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Span> {
        let mut s = Span::session(source, start, end)?;
        let session = source.session();
        put(
            &mut s.attributes,
            "gen_ai.operation.name",
            Some("invoke_agent"),
        );
        put(&mut s.attributes, "gen_ai.provider.name", Some("anthropic"));
        s.span_id = ids::main_span_id(session);
        s.parent_span_id = Some(ids::session_span_id(session));
        s.name = "invoke_agent main".into();
        Some(s)
    }

    /// Tool call `source.tool_use_id`, made by `source.agent_id` (or the
    /// main agent). None without a tool name and id.
    pub fn tool_call(source: &Source, start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Span> {
        let tool = source.tool_name.as_deref()?;
        let call = source.tool_use_id.as_deref()?;
        let session = source.session();
        let mut a = Map::new();
        put(&mut a, "gen_ai.operation.name", Some("execute_tool"));
        context(&mut a, source);
        a.insert("duration_ms".into(), duration_ms(start, end).into());
        Some(Span {
            trace_id: ids::trace_id(session),
            span_id: ids::tool_span_id(session, call),
            parent_span_id: Some(match source.agent_id.as_deref() {
                Some(agent) => ids::agent_span_id(session, agent),
                None => ids::main_span_id(session),
            }),
            name: format!("execute_tool {tool}"),
            start,
            end: end.max(start),
            attributes: a,
            error: None,
        })
    }

    /// The span a PostToolUse payload gives, seen at `now`: the run of a
    /// completed `Agent`/`Task` call, or the tool call itself when it
    /// `printed` events. A PostToolUseFailure gives its call's span, with
    /// status error and the first line of `error` as its message.
    pub fn from_post_tool_use(
        payload: &Payload,
        now: DateTime<Utc>,
        printed: bool,
    ) -> Option<Span> {
        if payload.hook_event_name() == Some("PostToolUseFailure") {
            let ms = payload.number("duration_ms").unwrap_or(0.0);
            let mut span = Span::tool_call(&payload.source(), before(now, ms), now)?;
            let message = payload.str("error").and_then(|e| e.lines().next());
            span.error = Some(message.unwrap_or("failed").chars().take(1000).collect());
            return Some(span);
        }
        if payload.hook_event_name() != Some("PostToolUse") {
            return None;
        }
        let tool = payload.str("tool_name")?;
        let response = payload.tool_response();
        let mut source = payload.source();
        if is_agent_tool(tool) {
            let (agent_id, agent_type) = payload.launched_agent()?;
            let status = response
                .and_then(|r| r.get("status"))
                .and_then(Value::as_str);
            if status.is_some_and(|s| s != "completed") {
                return None;
            }
            let ms = response
                .and_then(|r| r.get("totalDurationMs"))
                .and_then(Value::as_f64)
                .or_else(|| payload.number("duration_ms"))?;
            source.agent_id = Some(agent_id);
            source.agent_type = agent_type.or(source.agent_type);
            let model = response
                .and_then(|r| r.get("resolvedModel"))
                .and_then(Value::as_str);
            return Span::agent_run(&source, model, before(now, ms), now);
        }
        if !printed {
            return None;
        }
        let ms = payload.number("duration_ms")?;
        Span::tool_call(&source, before(now, ms), now)
    }

    /// The run a SubagentStop payload ends, timed by its transcript's first
    /// and last timestamps.
    pub fn from_subagent_stop(
        payload: &Payload,
        first: Option<&str>,
        last: Option<&str>,
        launched_by: Option<&str>,
        model: Option<&str>,
    ) -> Option<Span> {
        if payload.hook_event_name() != Some("SubagentStop") {
            return None;
        }
        let start = parse_time(first?)?;
        let end = parse_time(last?)?;
        let mut source = payload.source();
        source.tool_use_id = launched_by.map(str::to_string);
        source.tool_name = launched_by.map(|_| "Agent".to_string());
        Span::agent_run(&source, model, start, end)
    }
}

/// Claude Code's attribute keys, each followed by its GenAI twin.
fn context(a: &mut Map<String, Value>, s: &Source) {
    put(a, "session.id", s.session_id.as_deref());
    put(a, "gen_ai.conversation.id", s.session_id.as_deref());
    put(a, "prompt.id", s.prompt_id.as_deref());
    put(a, "agent_id", s.agent_id.as_deref());
    put(a, "gen_ai.agent.id", s.agent_id.as_deref());
    put(a, "agent_type", s.agent_type.as_deref());
    put(a, "gen_ai.agent.name", s.agent_type.as_deref());
    put(a, "tool_name", s.tool_name.as_deref());
    put(a, "gen_ai.tool.name", s.tool_name.as_deref());
    put(a, "tool_use_id", s.tool_use_id.as_deref());
    put(a, "gen_ai.tool.call.id", s.tool_use_id.as_deref());
}

fn put(a: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        a.insert(key.to_string(), Value::String(v.to_string()));
    }
}

fn before(end: DateTime<Utc>, ms: f64) -> DateTime<Utc> {
    let ms = if ms.is_finite() && ms > 0.0 { ms } else { 0.0 };
    end - TimeDelta::microseconds((ms * 1000.0).min(i64::MAX as f64 / 2.0) as i64)
}

fn duration_ms(start: DateTime<Utc>, end: DateTime<Utc>) -> i64 {
    (end - start).num_milliseconds().max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        parse_time("2026-01-01T00:00:10.000Z").unwrap()
    }

    #[test]
    fn a_completed_agent_call_gives_its_run() {
        let p = Payload::parse(
            br#"{"session_id":"s","prompt_id":"p","hook_event_name":"PostToolUse","tool_name":"Agent","tool_use_id":"t",
            "duration_ms": 300, "tool_input":{"subagent_type":"x"},
            "tool_response":{"status":"completed","agentId":"ag","totalDurationMs":290,"resolvedModel":"m"}}"#,
        )
        .unwrap();
        let s = Span::from_post_tool_use(&p, now(), false).unwrap();
        assert_eq!(s.name, "invoke_agent x");
        assert_eq!(s.span_id, ids::agent_span_id("s", "ag"));
        assert_eq!(s.parent_span_id, Some(ids::main_span_id("s")));
        assert_eq!((s.end - s.start).num_milliseconds(), 290);
        assert_eq!(s.attributes["gen_ai.tool.call.id"], "t");
        assert_eq!(s.attributes["gen_ai.agent.id"], "ag");
        assert_eq!(s.attributes["gen_ai.request.model"], "m");
        assert_eq!(s.attributes["prompt.id"], "p");
    }

    #[test]
    fn a_background_launch_gives_no_span() {
        let p = Payload::parse(
            br#"{"session_id":"s","hook_event_name":"PostToolUse","tool_name":"Agent","tool_use_id":"t","duration_ms": 24,
            "tool_response":{"status":"async_launched","agentId":"ag"}}"#,
        )
        .unwrap();
        assert!(Span::from_post_tool_use(&p, now(), true).is_none());
    }

    #[test]
    fn a_tool_call_span_needs_printed_events_and_a_duration() {
        let p = Payload::parse(
            br#"{"session_id":"s","agent_id":"ag","hook_event_name":"PostToolUse","tool_name":"Bash","tool_use_id":"t","duration_ms": 45,
            "tool_response":{"stdout":""}}"#,
        )
        .unwrap();
        assert!(Span::from_post_tool_use(&p, now(), false).is_none());
        let s = Span::from_post_tool_use(&p, now(), true).unwrap();
        assert_eq!(s.name, "execute_tool Bash");
        assert_eq!(s.span_id, ids::tool_span_id("s", "t"));
        assert_eq!(s.parent_span_id, Some(ids::agent_span_id("s", "ag")));
        assert_eq!(s.start, parse_time("2026-01-01T00:00:09.955Z").unwrap());
    }

    #[test]
    fn a_failed_call_is_an_error_span_even_without_events() {
        let p = Payload::parse(
            br#"{"session_id":"s","hook_event_name":"PostToolUseFailure","tool_name":"Bash","tool_use_id":"t","duration_ms": 80,
            "error":"Exit code 3\nmore"}"#,
        )
        .unwrap();
        let s = Span::from_post_tool_use(&p, now(), false).unwrap();
        assert_eq!(s.error.as_deref(), Some("Exit code 3"));
        assert_eq!((s.end - s.start).num_milliseconds(), 80);
        assert_eq!(s.parent_span_id, Some(ids::main_span_id("s")));
    }

    #[test]
    fn the_session_is_the_main_agents_parent() {
        let src = Source {
            session_id: Some("s".into()),
            ..Source::default()
        };
        let m = Span::main_agent(&src, now(), now()).unwrap();
        let s = Span::session(&src, now(), now()).unwrap();
        assert_eq!(m.parent_span_id.as_deref(), Some(s.span_id.as_str()));
        assert_eq!(m.span_id, ids::main_span_id("s"));
        assert_eq!(s.parent_span_id, None);
    }

    #[test]
    fn subagent_stop_uses_the_transcript_times() {
        let p = Payload::parse(
            br#"{"session_id":"s","agent_id":"ag","agent_type":"x","hook_event_name":"SubagentStop","agent_transcript_path":"/t"}"#,
        )
        .unwrap();
        let s = Span::from_subagent_stop(
            &p,
            Some("2026-01-01T00:00:01.000Z"),
            Some("2026-01-01T00:00:01.250Z"),
            Some("t"),
            None,
        )
        .unwrap();
        assert_eq!(s.attributes["duration_ms"], 250);
        assert_eq!(s.attributes["tool_use_id"], "t");
        assert!(Span::from_subagent_stop(&p, None, None, None, None).is_none());
    }
}
