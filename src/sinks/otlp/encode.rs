//! Records and spans as OTLP protobuf requests.
//!
//! A valid record becomes one log record, following the OpenTelemetry event
//! model and lining up with Claude Code's own telemetry:
//! - `event_name` = the event's name, also the `body` and (switchable) an
//!   `event.name` attribute, which is how Claude Code's records carry it;
//! - `time_unix_nano` = the event's timestamp, `observed_time_unix_nano` =
//!   when the publisher saw it; `trace_id`/`span_id` = the record's, flags
//!   sampled;
//! - severity INFO, or ERROR when the name ends in `Failed` or the event
//!   has an `error` attribute;
//! - attributes: `event.name`, `session.id`, `prompt.id`, `agent_id`,
//!   `agent_type`, `tool_name`, `tool_use_id`, their GenAI twins
//!   (`gen_ai.conversation.id`, `gen_ai.agent.id`, `gen_ai.agent.name`,
//!   `gen_ai.tool.name`, `gen_ai.tool.call.id`), `log.record.uid` = the
//!   event id; then the event's own attributes, which never overwrite
//!   these. Nested values become OTLP maps and arrays.
//!
//! A dead letter (an event that failed validation) is exported too, so a
//! backend sees agents printing bad events: an ERROR record named
//! `event_publisher.invalid_event` with `error.type` = `invalid_event`,
//! `event_publisher.invalid.name` (the name it gave, if any),
//! `event_publisher.invalid.errors` (each reason) and
//! `event_publisher.invalid.raw` (the marker text, at most 8 KiB), plus the
//! Claude Code keys above. Its own attributes are not copied.
//!
//! Resource: `service.name` and the configured resource attributes. Scope:
//! `event-publisher` and its version.

use chrono::{DateTime, Utc};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status, span, status};
use serde_json::{Map, Value};

use super::otlp_config::OtlpConfig;
use crate::enrich::enricher::parse_time;
use crate::enrich::{Record, Span};

/// The name under which dead letters are exported.
pub const INVALID_EVENT: &str = "event_publisher.invalid_event";
const SEVERITY_INFO: i32 = 9;
const SEVERITY_ERROR: i32 = 17;
const SAMPLED: u32 = 1;
const MAX_RAW: usize = 8 * 1024;

pub fn logs_request(cfg: &OtlpConfig, records: &[Record]) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource(cfg)),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope()),
                log_records: records.iter().map(|r| log_record(cfg, r)).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub fn traces_request(cfg: &OtlpConfig, spans: &[Span]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource(cfg)),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans: spans.iter().map(proto_span).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub fn log_record(cfg: &OtlpConfig, r: &Record) -> LogRecord {
    let valid = r.is_valid();
    let name = match (valid, &r.name) {
        (true, Some(n)) => n.clone(),
        _ => INVALID_EVENT.to_string(),
    };
    let mut attrs = Attributes::default();
    if cfg.event_name_attribute {
        attrs.put("event.name", string(&name));
    }
    let s = &r.source;
    for (keys, value) in [
        (["session.id", "gen_ai.conversation.id"], &s.session_id),
        (["prompt.id", ""], &s.prompt_id),
        (["agent_id", "gen_ai.agent.id"], &s.agent_id),
        (["agent_type", "gen_ai.agent.name"], &s.agent_type),
        (["tool_name", "gen_ai.tool.name"], &s.tool_name),
        (["tool_use_id", "gen_ai.tool.call.id"], &s.tool_use_id),
    ] {
        if let Some(v) = value {
            for k in keys.into_iter().filter(|k| !k.is_empty()) {
                attrs.put(k, string(v));
            }
        }
    }
    attrs.put("log.record.uid", string(&r.id.to_string()));
    let error = if valid {
        for (k, v) in &r.attributes {
            attrs.put(k, any(v));
        }
        name.ends_with("Failed") || r.attributes.contains_key("error")
    } else {
        attrs.put("error.type", string("invalid_event"));
        if let Some(n) = &r.name {
            attrs.put("event_publisher.invalid.name", string(n));
        }
        let reasons: Vec<Value> = r
            .errors
            .iter()
            .map(|p| Value::String(p.to_string()))
            .collect();
        attrs.put(
            "event_publisher.invalid.errors",
            any(&Value::Array(reasons)),
        );
        if let Some(raw) = &r.raw {
            attrs.put(
                "event_publisher.invalid.raw",
                string(truncate(raw, MAX_RAW)),
            );
        }
        true
    };
    LogRecord {
        time_unix_nano: nanos(&r.timestamp),
        observed_time_unix_nano: nanos(&r.observed_timestamp),
        severity_number: if error { SEVERITY_ERROR } else { SEVERITY_INFO },
        body: Some(string(&name)),
        attributes: attrs.0,
        flags: SAMPLED,
        trace_id: unhex(&r.trace_id),
        span_id: unhex(&r.span_id),
        event_name: name,
        ..Default::default()
    }
}

pub fn proto_span(s: &Span) -> opentelemetry_proto::tonic::trace::v1::Span {
    let mut attrs = Attributes::default();
    for (k, v) in &s.attributes {
        attrs.put(k, any(v));
    }
    opentelemetry_proto::tonic::trace::v1::Span {
        trace_id: unhex(&s.trace_id),
        span_id: unhex(&s.span_id),
        parent_span_id: s.parent_span_id.as_deref().map(unhex).unwrap_or_default(),
        flags: SAMPLED,
        name: s.name.clone(),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: time_nanos(s.start),
        end_time_unix_nano: time_nanos(s.end),
        attributes: attrs.0,
        status: s.error.as_ref().map(|m| Status {
            code: status::StatusCode::Error as i32,
            message: m.clone(),
        }),
        ..Default::default()
    }
}

fn resource(cfg: &OtlpConfig) -> Resource {
    Resource {
        attributes: cfg
            .resource
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.clone(),
                value: Some(string(v)),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: env!("CARGO_PKG_NAME").into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

/// Attributes in insertion order; the first value of a key wins.
#[derive(Default)]
struct Attributes(Vec<KeyValue>);

impl Attributes {
    fn put(&mut self, key: &str, value: AnyValue) {
        if !self.0.iter().any(|kv| kv.key == key) {
            self.0.push(KeyValue {
                key: key.to_string(),
                value: Some(value),
                ..Default::default()
            });
        }
    }
}

fn string(s: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s.to_string())),
    }
}

/// A JSON value as an OTLP value: integers that fit i64 stay integers,
/// other numbers become doubles, null an empty value.
pub fn any(v: &Value) -> AnyValue {
    use any_value::Value as V;
    let value = match v {
        Value::Null => None,
        Value::Bool(b) => Some(V::BoolValue(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => V::IntValue(i),
            None => V::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(s) => Some(V::StringValue(s.clone())),
        Value::Array(items) => Some(V::ArrayValue(ArrayValue {
            values: items.iter().map(any).collect(),
        })),
        Value::Object(map) => Some(V::KvlistValue(kvlist(map))),
    };
    AnyValue { value }
}

fn kvlist(map: &Map<String, Value>) -> KeyValueList {
    KeyValueList {
        values: map
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.clone(),
                value: Some(any(v)),
                ..Default::default()
            })
            .collect(),
    }
}

fn nanos(ts: &str) -> u64 {
    parse_time(ts).map(time_nanos).unwrap_or(0)
}

fn time_nanos(t: DateTime<Utc>) -> u64 {
    t.timestamp_nanos_opt()
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0)
}

/// Ids in records are lowercase hex of the documented length.
fn unhex(hex: &str) -> Vec<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let b = hex.as_bytes();
    if b.len() % 2 != 0 {
        return Vec::new();
    }
    b.chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect::<Option<Vec<u8>>>()
        .unwrap_or_default()
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Source;
    use crate::sinks::otlp::settings::OtlpSettings;
    use serde_json::json;

    fn cfg(event_name_attribute: bool) -> OtlpConfig {
        let s: OtlpSettings = serde_json::from_value(json!({
            "endpoint": "http://c", "event_name_attribute": event_name_attribute
        }))
        .unwrap();
        OtlpConfig::resolve(s, &mut Vec::new()).unwrap()
    }

    fn record(name: &str, attributes: Value) -> Record {
        Record {
            id: uuid::Uuid::from_u128(7),
            name: Some(name.into()),
            timestamp: "2025-08-12T16:30:00.000Z".into(),
            observed_timestamp: "2026-01-01T00:00:00.001Z".into(),
            attributes: attributes.as_object().unwrap().clone(),
            trace_id: "0123456789abcdef0123456789abcdef".into(),
            span_id: "0011223344556677".into(),
            parent_span_id: None,
            source: Source {
                session_id: Some("s".into()),
                tool_use_id: Some("t".into()),
                ..Source::default()
            },
            given_id: None,
            raw: None,
            errors: vec![],
            caused_by: None,
        }
    }

    fn attr<'a>(l: &'a LogRecord, key: &str) -> Option<&'a any_value::Value> {
        l.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
    }

    #[test]
    fn maps_a_record() {
        let r = record(
            "url.cached",
            json!({"session.id": "forged", "n": 3, "nested": {"a": [1, "x"]}}),
        );
        let l = log_record(&cfg(true), &r);
        assert_eq!(l.event_name, "url.cached");
        assert_eq!(l.time_unix_nano, 1_755_016_200_000_000_000);
        assert_eq!(l.observed_time_unix_nano, 1_767_225_600_001_000_000);
        assert_eq!(l.severity_number, SEVERITY_INFO);
        assert_eq!(l.trace_id.len(), 16);
        assert_eq!(l.span_id, vec![0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]);
        assert_eq!(
            attr(&l, "session.id"),
            Some(&any_value::Value::StringValue("s".into()))
        );
        assert_eq!(
            attr(&l, "gen_ai.tool.call.id"),
            Some(&any_value::Value::StringValue("t".into()))
        );
        assert_eq!(
            attr(&l, "log.record.uid"),
            Some(&any_value::Value::StringValue(
                "00000000-0000-0000-0000-000000000007".into()
            ))
        );
        assert_eq!(attr(&l, "n"), Some(&any_value::Value::IntValue(3)));
        assert!(matches!(
            attr(&l, "nested"),
            Some(any_value::Value::KvlistValue(_))
        ));
        assert_eq!(
            l.attributes
                .iter()
                .filter(|kv| kv.key == "session.id")
                .count(),
            1
        );
        assert!(attr(&l, "event.name").is_some());
        assert!(attr(&log_record(&cfg(false), &r), "event.name").is_none());
    }

    #[test]
    fn severity_error_for_failures() {
        let c = cfg(true);
        assert_eq!(
            log_record(&c, &record("a.bFailed", json!({}))).severity_number,
            SEVERITY_ERROR
        );
        assert_eq!(
            log_record(&c, &record("a.b", json!({"error": "x"}))).severity_number,
            SEVERITY_ERROR
        );
    }

    #[test]
    fn dead_letters_are_invalid_event_errors() {
        let mut r = record("a.b", json!({"x": 1}));
        r.errors = vec![crate::validate::Problem::new("schema", "/x", "bad")];
        r.raw = Some("{\"name\":\"a.b\"}".into());
        let l = log_record(&cfg(true), &r);
        assert_eq!(l.event_name, INVALID_EVENT);
        assert_eq!(l.severity_number, SEVERITY_ERROR);
        assert!(attr(&l, "x").is_none());
        assert_eq!(
            attr(&l, "event_publisher.invalid.name"),
            Some(&any_value::Value::StringValue("a.b".into()))
        );
    }
}
