//! `${...}` references in an emit subscriber's attributes, filled from the
//! triggering record: `${attributes.url}`, `${name}`, `${id}`,
//! `${source.agent_type}`, any dotted path into the record. A string that
//! is one reference whole takes the referenced value with its type; a
//! reference inside a longer string is written as text. A missing value is
//! null (whole) or empty (inside).

use serde_json::{Map, Value};

/// `attributes` with every reference filled from `record` (the record as JSON).
pub fn fill(attributes: &Map<String, Value>, record: &Value) -> Map<String, Value> {
    attributes
        .iter()
        .map(|(k, v)| (k.clone(), fill_value(v, record)))
        .collect()
}

fn fill_value(v: &Value, record: &Value) -> Value {
    match v {
        Value::String(s) => fill_string(s, record),
        Value::Array(items) => Value::Array(items.iter().map(|i| fill_value(i, record)).collect()),
        Value::Object(map) => Value::Object(fill(map, record)),
        other => other.clone(),
    }
}

fn fill_string(s: &str, record: &Value) -> Value {
    if let Some(path) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        if !path.contains("${") && !path.contains('}') {
            return lookup(record, path).cloned().unwrap_or(Value::Null);
        }
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                match lookup(record, &after[..end]) {
                    Some(Value::String(text)) => out.push_str(text),
                    Some(Value::Null) | None => {}
                    Some(other) => out.push_str(&other.to_string()),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    Value::String(out)
}

fn lookup<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    let mut at = record;
    for part in path.trim().split('.') {
        at = at.get(part)?;
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_references_keep_their_type_inner_ones_are_text() {
        let record = json!({"name": "a.b", "attributes": {"url": "u", "n": 3, "o": {"k": true}},
                            "source": {"agent_type": "t"}});
        let attrs = json!({"url": "${attributes.url}", "n": "${attributes.n}",
                           "o": "${attributes.o}", "s": "from ${name} by ${source.agent_type} (${attributes.n})",
                           "missing": "${attributes.nope}", "open": "x ${name", "list": ["${name}"]});
        let got = fill(attrs.as_object().unwrap(), &record);
        assert_eq!(
            Value::Object(got),
            json!({"url": "u", "n": 3, "o": {"k": true}, "s": "from a.b by t (3)",
                   "missing": null, "open": "x ${name", "list": ["a.b"]})
        );
    }
}
