//! The schemas of the lifecycle records event-publisher writes itself
//! (`claudeCode.*`), built into the binary so that a project need not copy
//! them. `schemas/claudeCode.*.schema.json` are the same bytes, shipped as
//! documentation; a test proves the two sets are identical.
//!
//! The `claudeCode.` name space is reserved: an agent's marker using it is
//! rejected (`reserved_name`), so that a record with such a name always
//! comes from Claude Code's own hooks, never from what an agent printed.

/// Names starting with this are the publisher's own.
pub const RESERVED_PREFIX: &str = "claudeCode.";

/// Every lifecycle record's name and schema text.
pub const SCHEMAS: [(&str, &str); 5] = [
    (
        "claudeCode.sessionStarted",
        include_str!("../../schemas/claudeCode.sessionStarted.schema.json"),
    ),
    (
        "claudeCode.sessionEnded",
        include_str!("../../schemas/claudeCode.sessionEnded.schema.json"),
    ),
    (
        "claudeCode.subagentStarted",
        include_str!("../../schemas/claudeCode.subagentStarted.schema.json"),
    ),
    (
        "claudeCode.subagentStopped",
        include_str!("../../schemas/claudeCode.subagentStopped.schema.json"),
    ),
    (
        "claudeCode.toolFailed",
        include_str!("../../schemas/claudeCode.toolFailed.schema.json"),
    ),
];

pub fn is_reserved(name: &str) -> bool {
    name.starts_with(RESERVED_PREFIX)
}

/// The built-in schema of a lifecycle record.
pub fn schema(name: &str) -> Option<&'static str> {
    SCHEMAS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in schemas are exactly the `claudeCode.*` files under
    /// `schemas/`: none missing, none extra, byte for byte.
    #[test]
    fn built_in_schemas_are_the_shipped_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
        let mut shipped: Vec<(String, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                let event = name.strip_suffix(".schema.json")?.to_string();
                is_reserved(&event)
                    .then(|| (event, std::fs::read_to_string(dir.join(&name)).unwrap()))
            })
            .collect();
        shipped.sort();
        let mut built: Vec<(String, String)> = SCHEMAS
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        built.sort();
        assert_eq!(built, shipped);
    }

    #[test]
    fn each_schema_compiles_and_names_itself() {
        for (name, text) in SCHEMAS {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(v["properties"]["name"]["const"], name);
            assert!(crate::validate::schema_set::compile(v).is_ok(), "{name}");
        }
    }
}
