//! The id formulas. Every id is a pure function of Claude Code's own ids and
//! of the marker, so each hook call, a later `replay` and any other tool
//! compute the same ids with no shared state:
//!
//! ```text
//! trace_id       = hex(SHA-256("event-publisher/trace/" + session_id)[0..16])
//! span_id (run)  = hex(SHA-256("event-publisher/span/" + session_id + "/agent/" + agent_id)[0..8])
//! span_id (main) = hex(SHA-256("event-publisher/span/" + session_id + "/main")[0..8])
//! span_id (session) = hex(SHA-256("event-publisher/span/" + session_id + "/session")[0..8])
//! span_id (tool) = hex(SHA-256("event-publisher/span/" + session_id + "/tool/" + tool_use_id)[0..8])
//! event id       = UUIDv5(EVENT_NAMESPACE, session_id + "\n" + origin + "\n" + digest + "\n" + occurrence)
//! ```
//!
//! An all-zero id (invalid in W3C Trace Context) gets its last byte set to 1.
//! `digest` is SHA-256 (hex) of the event's canonical JSON (keys sorted,
//! no white space), or of the raw marker text when it is not JSON; when the
//! event carries its own `id` and is valid, origin is `id` and digest is that
//! id, so the agent's id is an idempotency key within the session (a rejected
//! event keeps its positional id, so its corrected reprint is not taken for it).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The UUIDv5 namespace of event ids: UUIDv5(NAMESPACE_URL, "https://github.com/event-publisher/event-publisher/event").
pub const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0xbc2e_3384_5316_55a7_a5a3_3a59_734c_a4d5);

pub fn trace_id(session_id: &str) -> String {
    hex_id::<16>(&["event-publisher/trace/", session_id])
}

/// The span of the main agent of a session: the parent of every subagent run.
pub fn main_span_id(session_id: &str) -> String {
    hex_id::<8>(&["event-publisher/span/", session_id, "/main"])
}

/// The span of a whole session: the parent of the main agent's span in the
/// exported trace.
pub fn session_span_id(session_id: &str) -> String {
    hex_id::<8>(&["event-publisher/span/", session_id, "/session"])
}

/// The span of one subagent run.
pub fn agent_span_id(session_id: &str, agent_id: &str) -> String {
    hex_id::<8>(&["event-publisher/span/", session_id, "/agent/", agent_id])
}

/// The span of one tool call.
pub fn tool_span_id(session_id: &str, tool_use_id: &str) -> String {
    hex_id::<8>(&["event-publisher/span/", session_id, "/tool/", tool_use_id])
}

pub fn event_id(session_id: &str, origin: &str, digest: &str, occurrence: usize) -> Uuid {
    let name = format!("{session_id}\n{origin}\n{digest}\n{occurrence}");
    Uuid::new_v5(&EVENT_NAMESPACE, name.as_bytes())
}

/// SHA-256 of the canonical form of a JSON value.
pub fn value_digest(value: &Value) -> String {
    let mut h = Sha256::new();
    canonical(value, &mut h);
    hex(&h.finalize())
}

/// SHA-256 of the canonical form of a JSON object, without building a `Value`.
pub fn object_digest(map: &Map<String, Value>) -> String {
    let mut h = Sha256::new();
    canonical_object(map, &mut h);
    hex(&h.finalize())
}

pub fn text_digest(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// Feeds the canonical JSON of `value` to the hasher: object keys sorted,
/// no white space, so `{"b":1, "a":2}` and `{"a":2,"b":1}` are one event.
fn canonical(value: &Value, h: &mut Sha256) {
    match value {
        Value::Object(map) => canonical_object(map, h),
        Value::Array(items) => {
            h.update(b"[");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    h.update(b",");
                }
                canonical(v, h);
            }
            h.update(b"]");
        }
        scalar => h.update(scalar.to_string().as_bytes()),
    }
}

fn canonical_object(map: &Map<String, Value>, h: &mut Sha256) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    h.update(b"{");
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            h.update(b",");
        }
        h.update(Value::String(k.clone()).to_string().as_bytes());
        h.update(b":");
        canonical(&map[k], h);
    }
    h.update(b"}");
}

fn hex_id<const N: usize>(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut id = [0u8; N];
    id.copy_from_slice(&digest[..N]);
    if id.iter().all(|b| *b == 0) {
        id[N - 1] = 1;
    }
    hex(&id)
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_is_the_documented_uuid5() {
        let url = Uuid::new_v5(
            &Uuid::NAMESPACE_URL,
            b"https://github.com/event-publisher/event-publisher/event",
        );
        assert_eq!(url, EVENT_NAMESPACE, "update EVENT_NAMESPACE to {url:#x}");
    }

    #[test]
    fn trace_id_matches_the_formula() {
        // printf 'event-publisher/trace/s1' | sha256sum | cut -c1-32
        let expected = hex(&Sha256::digest(b"event-publisher/trace/s1")[..16]);
        assert_eq!(trace_id("s1"), expected);
        assert_eq!(trace_id("s1").len(), 32);
        assert_eq!(main_span_id("s1").len(), 16);
    }

    #[test]
    fn ids_differ_by_input() {
        assert_ne!(agent_span_id("s", "a"), agent_span_id("s", "b"));
        assert_ne!(agent_span_id("s", "a"), tool_span_id("s", "a"));
        assert_ne!(event_id("s", "o", "d", 0), event_id("s", "o", "d", 1));
    }

    #[test]
    fn digest_ignores_key_order_and_white_space() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": "s"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":"s","y":[1,2]},"b":1}"#).unwrap();
        assert_eq!(value_digest(&a), value_digest(&b));
        let c: Value = serde_json::from_str(r#"{"a":{"x":"s","y":[2,1]},"b":1}"#).unwrap();
        assert_ne!(value_digest(&a), value_digest(&c));
        assert_eq!(object_digest(a.as_object().unwrap()), value_digest(&a));
    }

    #[test]
    fn digest_escapes_keys() {
        let a: Value = serde_json::from_str(r#"{"a\":1,\"b": 2}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a": 1, "b": 2}"#).unwrap();
        assert_ne!(value_digest(&a), value_digest(&b));
    }
}
