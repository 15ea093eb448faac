//! The event name rule: what the envelope schema
//! (`schemas/event.schema.json`) allows as a name, in code, so that the
//! store can trust a name as part of a path without running a schema.

/// The envelope's name rule (`schemas/event.schema.json`), in code: only
/// such names ever become part of a path.
pub fn is_safe_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 200 {
        return false;
    }
    let mut parts = 0;
    for part in name.split('.') {
        parts += 1;
        let mut chars = part.chars();
        match chars.next() {
            Some(c) if c.is_ascii_alphabetic() => {}
            _ => return false,
        }
        if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return false;
        }
    }
    parts >= 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn safe_names_agree_with_the_envelope_schema() {
        let schema: Value =
            serde_json::from_str(super::super::schema_set::ENVELOPE_SCHEMA).unwrap();
        let v = super::super::schema_set::compile(schema.clone()).unwrap();
        for name in [
            "urlCacher.cacheRequested",
            "a.b.c",
            "a_1.B2",
            "../x",
            "a/b.c",
            "a..b",
            ".a.b",
            "a.b.",
            "nodot",
            "a.b\u{0}",
            "a.b-c",
            "а.b",
            "a.1b",
            "A.b_",
            "a.b c",
            "x.y\\z",
        ] {
            let by_schema = v.is_valid(&serde_json::json!({ "name": name }));
            assert_eq!(is_safe_name(name), by_schema, "{name:?}");
        }
        let long = format!("a.{}", "b".repeat(300));
        assert!(!is_safe_name(&long));
    }
}
