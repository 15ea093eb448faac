//! Redaction on arbitrary text: never panics, and redacting its own output
//! changes nothing more (markers are not secrets). The same text is also
//! used as an attribute key, a schema error's message and instance path,
//! and a source field: after `redact_object` and `redact_record`, every key
//! and string is a fixed point of redaction (nothing secret-shaped left),
//! and no key was lost.
#![no_main]

use event_publisher::Record;
use event_publisher::Redactor;
use event_publisher::Problem;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

thread_local! {
    // One per process, as in the hook: its regexes compile once.
    static REDACTOR: Redactor = Redactor::default();
}

/// Nothing left that redaction would change.
fn settled(r: &Redactor, text: &str) {
    if let Some(again) = r.redact_text(text) {
        assert_eq!(again, text, "not settled");
    }
}

fn all_settled(r: &Redactor, v: &Value) {
    match v {
        Value::String(s) => settled(r, s),
        Value::Array(items) => items.iter().for_each(|v| all_settled(r, v)),
        Value::Object(map) => {
            for (k, v) in map {
                settled(r, k);
                all_settled(r, v);
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| REDACTOR.with(|r| {
    let text = String::from_utf8_lossy(data).to_string();
    if let Some(once) = r.redact_text(&text) {
        assert!(once.contains("[REDACTED:"));
        if let Some(twice) = r.redact_text(&once) {
            assert_eq!(twice, once, "redaction is not idempotent");
        }
    }

    // Keys: the text as a key, next to a key it may redact into.
    let mut attributes = Map::new();
    attributes.insert(text.clone(), json!(text));
    attributes.insert("[REDACTED:secret]".into(), json!({ text.clone(): [text] }));
    let keys = attributes.len();
    r.redact_object(&mut attributes);
    assert_eq!(attributes.len(), keys, "a key was lost");
    all_settled(r, &Value::Object(attributes));

    // The strings of a record that are not the event's values: a schema
    // error quoting the text, the text as a path, in the source.
    let problem = Problem::new("schema", text.clone(), format!("{text:?} is not of type \"string\""));
    let mut record: Record = serde_json::from_value(json!({
        "id": "00000000-0000-0000-0000-000000000000", "name": null,
        "timestamp": "", "observed_timestamp": "", "attributes": {},
        "trace_id": "", "span_id": "", "parent_span_id": null,
        "source": {"hook_event_name": null, "session_id": null, "prompt_id": null,
                   "agent_id": null, "agent_type": text, "tool_name": null,
                   "tool_use_id": null, "cwd": text, "transcript_path": null},
        "errors": [problem],
    }))
    .expect("a record");
    r.redact_record(&mut record);
    let e = &record.errors[0];
    settled(r, &e.instance_path);
    settled(r, &e.message);
    settled(r, record.source.cwd.as_deref().unwrap_or_default());
    settled(r, record.source.agent_type.as_deref().unwrap_or_default());
}));
