//! Turns a checked event into a stored record: ids, trace context,
//! timestamps and the Claude Code source.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::record::Record;
use crate::ids;
use crate::input::Source;
use crate::validate::Problem;

/// The fields every record of one text shares.
pub struct Enricher {
    observed: DateTime<Utc>,
}

impl Enricher {
    pub fn new(observed: DateTime<Utc>) -> Self {
        Self { observed }
    }

    /// Builds the record of one marker. `event` is the parsed object when
    /// there is one; `problems` empty means valid.
    pub fn record(
        &self,
        id: uuid::Uuid,
        event: Option<&Map<String, Value>>,
        raw: &str,
        problems: Vec<Problem>,
        source: &Source,
        written_at: Option<&str>,
    ) -> Record {
        let session = source.session();
        let trace_id = ids::trace_id(session);
        let main = ids::main_span_id(session);
        let (span_id, parent_span_id) = match &source.agent_id {
            Some(agent) => (ids::agent_span_id(session, agent), Some(main)),
            None => (main, None),
        };
        let get = |k: &str| event.and_then(|e| e.get(k));
        let given = get("timestamp")
            .and_then(Value::as_str)
            .and_then(parse_time);
        let fallback = written_at.and_then(parse_time).unwrap_or(self.observed);
        let valid = problems.is_empty();
        Record {
            id,
            name: get("name").and_then(Value::as_str).map(str::to_string),
            timestamp: format_time(given.unwrap_or(fallback)),
            observed_timestamp: format_time(self.observed),
            attributes: get("attributes")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            trace_id,
            span_id,
            parent_span_id,
            source: source.clone(),
            given_id: get("id").and_then(Value::as_str).map(str::to_string),
            raw: (!valid).then(|| raw.to_string()),
            errors: problems,
            caused_by: None,
        }
    }
}

pub fn parse_time(ts: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// RFC 3339, UTC, milliseconds: `2025-08-12T16:30:00.000Z`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn src(agent: Option<&str>) -> Source {
        Source {
            session_id: Some("s".into()),
            agent_id: agent.map(str::to_string),
            ..Source::default()
        }
    }

    #[test]
    fn subagent_events_sit_in_the_run_span_under_the_main_span() {
        let e = Enricher::new(Utc::now());
        let r = e.record(uuid::Uuid::nil(), None, "", vec![], &src(Some("a")), None);
        assert_eq!(r.span_id, ids::agent_span_id("s", "a"));
        assert_eq!(r.parent_span_id, Some(ids::main_span_id("s")));
        let m = e.record(uuid::Uuid::nil(), None, "", vec![], &src(None), None);
        assert_eq!(m.span_id, ids::main_span_id("s"));
        assert_eq!(m.parent_span_id, None);
    }

    #[test]
    fn timestamps_are_utc_millis_with_fallbacks() {
        let now = parse_time("2026-01-02T03:04:05.678Z").unwrap();
        let e = Enricher::new(now);
        let ev = json!({"name": "a.b", "timestamp": "2025-08-12T18:30:00+02:00"});
        let r = e.record(
            uuid::Uuid::nil(),
            ev.as_object(),
            "",
            vec![],
            &src(None),
            None,
        );
        assert_eq!(r.timestamp, "2025-08-12T16:30:00.000Z");
        assert_eq!(r.observed_timestamp, "2026-01-02T03:04:05.678Z");
        let ev = json!({"name": "a.b"});
        let r = e.record(
            uuid::Uuid::nil(),
            ev.as_object(),
            "",
            vec![],
            &src(None),
            Some("2026-01-01T00:00:00Z"),
        );
        assert_eq!(r.timestamp, "2026-01-01T00:00:00.000Z");
        let r = e.record(
            uuid::Uuid::nil(),
            ev.as_object(),
            "",
            vec![],
            &src(None),
            None,
        );
        assert_eq!(r.timestamp, r.observed_timestamp);
    }
}
