//! Emitting an event without a marker: `event-publisher emit` and the
//! events an emit subscriber derives. The event goes through the same
//! stages as a marker's (validate, redact, enrich, the fs sink): an
//! invalid one is stored as a dead letter.
//!
//! Identity and trace:
//! - a valid event with its own `id`: `UUIDv5(NS, session + "\nid\n" + id + "\n0")`,
//!   as for markers; otherwise `UUIDv5(NS, session + "\n" + origin + "\n" + digest + "\n0")`,
//!   where a derived event's origin is `emit/<subscriber>/<trigger id>/<n>`,
//!   so delivering the same trigger again finds the event already stored;
//! - the trace: a parent's (`TRACEPARENT`, or the triggering event), with a
//!   child span `hex(SHA-256("event-publisher/span/emit/" + id)[0..8])`;
//!   else a session's (its trace and main span, as the main agent's events);
//!   else a new trace.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::config::Config;
use crate::enrich::{Enricher, Record};
use crate::ids;
use crate::input::Source;
use crate::redact::Redactor;
use crate::sinks::{FsSink, Stored};
use crate::store::{layout, reader};
use crate::validate::SchemaSet;

/// An event to emit.
#[derive(Clone, Debug, Default)]
pub struct NewEvent {
    pub name: String,
    pub attributes: Map<String, Value>,
    /// The caller's idempotency key.
    pub id: Option<String>,
    /// RFC 3339; now when absent.
    pub timestamp: Option<String>,
}

impl NewEvent {
    /// The event as an agent would print it.
    pub fn to_object(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("name".into(), Value::String(self.name.clone()));
        if let Some(t) = &self.timestamp {
            m.insert("timestamp".into(), Value::String(t.clone()));
        }
        m.insert("attributes".into(), Value::Object(self.attributes.clone()));
        if let Some(id) = &self.id {
            m.insert("id".into(), Value::String(id.clone()));
        }
        m
    }

    /// The `<EVENT>` marker of the event, on one line.
    pub fn marker(&self) -> String {
        format!("<EVENT>{}</EVENT>", Value::Object(self.to_object()))
    }
}

/// Where an emitted event sits in a trace.
#[derive(Clone, Debug, PartialEq)]
pub enum TraceContext {
    /// A parent span: a W3C `traceparent`, or the triggering event's span.
    Parent { trace_id: String, span_id: String },
    /// A session: its trace and its main span.
    Session(String),
    /// A trace of its own.
    New,
}

impl TraceContext {
    /// Parses a W3C `traceparent` (`00-<trace>-<span>-<flags>`).
    pub fn from_traceparent(tp: &str) -> Option<TraceContext> {
        let parts: Vec<&str> = tp.trim().split('-').collect();
        let hex = |s: &str, n: usize| {
            s.len() == n
                && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                && s.bytes().any(|b| b != b'0')
        };
        match parts.as_slice() {
            [v, t, s, f, ..]
                if v.len() == 2 && *v != "ff" && hex(t, 32) && hex(s, 16) && f.len() == 2 =>
            {
                Some(TraceContext::Parent {
                    trace_id: t.to_string(),
                    span_id: s.to_string(),
                })
            }
            _ => None,
        }
    }
}

/// How one event is emitted: its trace, its cause and its Claude Code source.
#[derive(Clone, Debug)]
pub struct EmitContext {
    pub trace: TraceContext,
    pub caused_by: Option<Uuid>,
    pub source: Source,
    /// Half of the event's identity (see the module comment).
    pub origin: String,
}

impl EmitContext {
    /// A one-off origin for an event emitted by a script.
    pub fn fresh_origin() -> String {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!(
            "emit/{nanos}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// Validates, redacts, enriches and stores emitted events.
pub struct Emitter {
    schemas: SchemaSet,
    redactor: Redactor,
    sink: FsSink,
    events_dir: PathBuf,
}

impl Emitter {
    pub fn open(config: &Config) -> crate::error::Result<Emitter> {
        let r = &config.redaction;
        Ok(Emitter {
            schemas: SchemaSet::new(Some(config.schemas_dir.clone()), config.unknown_events),
            redactor: Redactor::new(
                r.enabled.unwrap_or(true),
                r.patterns.clone(),
                r.attributes.clone(),
            ),
            sink: FsSink::open(&config.events_dir)?,
            events_dir: config.events_dir.clone(),
        })
    }

    /// The schema problems of `event`; empty when valid.
    pub fn check(&mut self, event: &NewEvent) -> Vec<crate::validate::Problem> {
        self.schemas.check(&event.to_object())
    }

    /// Builds the record of `event` and stores it (once per id).
    pub fn emit(
        &mut self,
        event: &NewEvent,
        ctx: &EmitContext,
    ) -> crate::error::Result<(Record, Stored)> {
        let mut object = event.to_object();
        let problems = self.schemas.check(&object);
        let session = ctx.source.session().to_string();
        let id = match (&event.id, problems.is_empty()) {
            (Some(given), true) => ids::event_id(&session, "id", given, 0),
            _ => ids::event_id(&session, &ctx.origin, &ids::object_digest(&object), 0),
        };
        self.redactor.redact_object(&mut object);
        let raw = Value::Object(object.clone()).to_string();
        let raw = self.redactor.redact_text(&raw).unwrap_or(raw);
        let mut record =
            Enricher::new(Utc::now()).record(id, Some(&object), &raw, problems, &ctx.source, None);
        match &ctx.trace {
            TraceContext::Parent { trace_id, span_id } => {
                record.trace_id = trace_id.clone();
                record.parent_span_id = Some(span_id.clone());
                record.span_id = child_span_id(&id);
            }
            TraceContext::Session(_) => {}
            TraceContext::New => {
                record.trace_id = new_trace_id(&ctx.origin);
                record.span_id = child_span_id(&id);
                record.parent_span_id = None;
            }
        }
        record.caused_by = ctx.caused_by;
        let stored = self.sink.store(&record)?;
        Ok((record, stored))
    }

    /// How many events lead to `id` through `caused_by` (0: none).
    pub fn depth(&self, id: Uuid) -> usize {
        chain_depth(&self.events_dir, id)
    }

    pub fn take_warnings(&mut self) -> Vec<String> {
        let mut w = std::mem::take(&mut self.schemas.warnings);
        w.extend(self.redactor.take_warnings());
        w
    }
}

/// The number of `caused_by` links above the record `id`, read through
/// the id index, stopping at `MAX_DEPTH + 1`.
pub fn chain_depth(events_dir: &Path, id: Uuid) -> usize {
    let Ok(Some(root)) = reader::open_root(events_dir) else {
        return 0;
    };
    let mut depth = 0;
    let mut at = id;
    while depth <= super::subscriber::MAX_DEPTH {
        let text = at.to_string();
        let Ok(bucket) = reader::open_dir(&root, layout::id_bucket(&text)) else {
            break;
        };
        match reader::load_record(&bucket, layout::id_entry(&text)) {
            Ok(Record {
                caused_by: Some(parent),
                ..
            }) => {
                depth += 1;
                at = parent;
            }
            _ => break,
        }
    }
    depth
}

/// The span of an emitted event, a child of its parent's.
pub fn child_span_id(id: &Uuid) -> String {
    nonzero(&ids::text_digest(&format!("event-publisher/span/emit/{id}"))[..16])
}

fn new_trace_id(origin: &str) -> String {
    nonzero(&ids::text_digest(&format!("event-publisher/trace/{origin}"))[..32])
}

fn nonzero(hex: &str) -> String {
    if hex.bytes().all(|b| b == b'0') {
        format!("{}1", &hex[..hex.len() - 1])
    } else {
        hex.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_are_checked() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        assert_eq!(
            TraceContext::from_traceparent(tp),
            Some(TraceContext::Parent {
                trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
                span_id: "b7ad6b7169203331".into()
            })
        );
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        ] {
            assert_eq!(TraceContext::from_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn markers_are_one_line_and_carry_the_id() {
        let e = NewEvent {
            name: "a.b".into(),
            attributes: serde_json::json!({"x": "line\nbreak"})
                .as_object()
                .unwrap()
                .clone(),
            id: Some("k".into()),
            timestamp: None,
        };
        let m = e.marker();
        assert!(!m.contains('\n'));
        assert_eq!(
            m,
            r#"<EVENT>{"name":"a.b","attributes":{"x":"line\nbreak"},"id":"k"}</EVENT>"#
        );
    }
}
