//! The schemas events are checked against: the envelope every event shares
//! (built in, the same as `schemas/event.schema.json`) and one schema per
//! event name, read from `<schemas dir>/<name>.schema.json` on first use and
//! compiled once per process. Only the schemas the events at hand name are
//! read, which keeps a hook call with one event cheap.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use jsonschema::Validator;
use serde_json::{Map, Value};

use super::lifecycle_schemas;
use super::problem::Problem;

/// The envelope schema's text (`schemas/event.schema.json`).
#[cfg(test)]
pub const ENVELOPE_SCHEMA: &str = include_str!("../../schemas/event.schema.json");

/// The envelope schema compiled at build time, less the name's `pattern`,
/// which `validate::is_safe_name` checks in code: a run-time regex compile
/// costs every hook process more than the rest of the envelope check. Tests
/// prove this is the published schema minus that keyword, and that the code
/// and the pattern agree.
#[jsonschema::validator(
    schema = r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"https://github.com/event-publisher/event-publisher/schemas/event.schema.json","title":"Event envelope","description":"What every <EVENT> marker holds. The name selects the event's own schema, <name>.schema.json.","type":"object","required":["name"],"properties":{"name":{"description":"Dotted event name, agent first: urlCacher.cacheRequested. Letters, digits and _ between the dots.","type":"string","maxLength":200},"timestamp":{"description":"When the event happened, RFC 3339. The publisher's observed time when absent.","type":"string","format":"date-time"},"attributes":{"description":"The event's data, checked by the event's own schema.","type":"object"},"id":{"description":"Optional idempotency key: markers with the same id in one session are one event.","type":"string","minLength":1,"maxLength":200}},"additionalProperties":false}"#,
    draft = Draft202012,
    validate_formats = true
)]
struct Envelope;

/// The envelope's name pattern, as published in `schemas/event.schema.json`.
pub const NAME_PATTERN: &str = r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$";

const MAX_SCHEMA_BYTES: u64 = 1 << 20;
const MAX_PROBLEMS: usize = 20;

/// What to do with an event whose name has no schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownEvents {
    /// Reject it as `unknown_event` (the default).
    Reject,
    /// Store it as valid, checked against the envelope only.
    Accept,
}

/// Compiled schemas, by event name.
pub struct SchemaSet {
    dir: Option<PathBuf>,
    unknown: UnknownEvents,
    events: HashMap<String, Result<Option<Validator>, String>>,
    /// One-line messages about unusable schema files, for stderr.
    pub warnings: Vec<String>,
}

impl SchemaSet {
    pub fn new(dir: Option<PathBuf>, unknown: UnknownEvents) -> Self {
        Self {
            dir,
            unknown,
            events: HashMap::new(),
            warnings: Vec::new(),
        }
    }

    /// Checks an event; an empty list means valid.
    pub fn check(&mut self, event: &Map<String, Value>) -> Vec<Problem> {
        let value = Value::Object(event.clone());
        let mut problems: Vec<Problem> = Envelope::iter_errors(&value)
            .take(MAX_PROBLEMS)
            .map(|e| {
                Problem::new(
                    "invalid_envelope",
                    e.instance_path().as_str(),
                    e.to_string(),
                )
            })
            .collect();
        if let Some(name) = event.get("name").and_then(Value::as_str) {
            if !super::is_safe_name(name) && problems.len() < MAX_PROBLEMS {
                problems.push(Problem::new(
                    "invalid_envelope",
                    "/name",
                    format!(
                        "{} does not match \"{NAME_PATTERN}\"",
                        Value::String(name.to_string())
                    ),
                ));
            }
        }
        if problems.is_empty() {
            if let Some(ts) = event.get("timestamp").and_then(Value::as_str) {
                if chrono::DateTime::parse_from_rfc3339(ts).is_err() {
                    problems.push(Problem::new(
                        "invalid_envelope",
                        "/timestamp",
                        format!("{ts:?} is not an RFC 3339 date-time"),
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return problems;
        }
        // The envelope's name pattern has passed: the name is safe as part of a path.
        let name = event["name"].as_str().unwrap_or_default().to_string();
        if lifecycle_schemas::is_reserved(&name) {
            return vec![Problem::new(
                "reserved_name",
                "/name",
                format!(
                    "{name:?}: the name space {:?} is reserved for the Claude Code lifecycle records event-publisher writes itself; give the event your agent's own prefix",
                    lifecycle_schemas::RESERVED_PREFIX
                ),
            )];
        }
        self.check_named(&name, &value)
    }

    /// Checks a lifecycle record (`claudeCode.*`) against its built-in
    /// schema; only the publisher itself writes those names.
    pub fn check_lifecycle(&mut self, event: &Map<String, Value>) -> Vec<Problem> {
        let value = Value::Object(event.clone());
        let name = event
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match lifecycle_schemas::schema(name) {
            Some(_) => self.check_named(name, &value),
            None => vec![Problem::new(
                "unknown_event",
                "/name",
                format!("{name:?} is not a lifecycle record"),
            )],
        }
    }

    fn check_named(&mut self, name: &str, value: &Value) -> Vec<Problem> {
        let name = name.to_string();
        let unknown = self.unknown;
        let dir = self.dir.clone();
        match self.event_schema(&name) {
            Ok(Some(v)) => errors("schema", v, value),
            Ok(None) if unknown == UnknownEvents::Accept => Vec::new(),
            Ok(None) => vec![Problem::new(
                "unknown_event",
                "/name",
                match &dir {
                    Some(d) => format!(
                        "no schema for {name:?} (looked for {})",
                        d.join(schema_file(&name)).display()
                    ),
                    None => format!("no schema for {name:?} (no schemas directory)"),
                },
            )],
            Err(e) => vec![Problem::new("schema_unusable", "", e.clone())],
        }
    }

    fn event_schema(&mut self, name: &str) -> &Result<Option<Validator>, String> {
        if !self.events.contains_key(name) {
            let loaded = self.load(name);
            if let Err(e) = &loaded {
                self.warnings.push(e.clone());
            }
            self.events.insert(name.to_string(), loaded);
        }
        &self.events[name]
    }

    fn load(&self, name: &str) -> Result<Option<Validator>, String> {
        if let Some(text) = lifecycle_schemas::schema(name) {
            let schema: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
            return compile(schema).map(Some);
        }
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        let path = dir.join(schema_file(name));
        let text = match read_schema_file(&path) {
            Ok(Some(t)) => t,
            Ok(None) => return Ok(None),
            Err(e) => return Err(format!("schema {}: {e}", path.display())),
        };
        let schema: Value = serde_json::from_str(&text)
            .map_err(|e| format!("schema {} is not JSON: {e}", path.display()))?;
        compile(schema)
            .map(Some)
            .map_err(|e| format!("schema {} does not compile: {e}", path.display()))
    }
}

/// The file name of an event's schema.
pub fn schema_file(name: &str) -> String {
    format!("{name}.schema.json")
}

/// The draft 2020-12 meta-schema's rule for `$id`.
const ID_PATTERN: &str = "^[^#]*#?$";

/// Compiles an event schema: draft 2020-12, formats asserted.
///
/// An absolute root `$id` is taken out of the document and given to the
/// compiler as its base URI, which is all it does there, after its one
/// meta-schema rule (no fragment but an empty one) is checked here.
/// jsonschema checks that rule with a regex compiled in every process,
/// which cost a hook call more than the rest of its work on the schemas
/// (0.45 ms of 2.2 ms). Tests prove both ways give the same validator and
/// the same error.
pub fn compile(mut schema: Value) -> Result<Validator, String> {
    let options = jsonschema::draft202012::options().should_validate_formats(true);
    let id = schema
        .get("$id")
        .and_then(Value::as_str)
        .filter(|id| is_absolute_uri(id));
    let Some(id) = id else {
        return options.build(&schema).map_err(|e| e.to_string());
    };
    let base = match id.split_once('#') {
        None => id,
        Some((base, "")) => base,
        Some(_) => {
            let id = Value::String(id.to_string());
            return Err(format!("{id} does not match \"{ID_PATTERN}\""));
        }
    }
    .to_string();
    if let Some(object) = schema.as_object_mut() {
        object.remove("$id");
    }
    options
        .with_base_uri(base)
        .build(&schema)
        .map_err(|e| e.to_string())
}

/// Whether `uri` starts with a scheme (RFC 3986: a letter, then letters,
/// digits, `+`, `-` or `.`, then `:`), so it needs no base to resolve.
fn is_absolute_uri(uri: &str) -> bool {
    match uri.split_once(':') {
        Some((scheme, _)) => {
            let mut chars = scheme.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => false,
    }
}

/// Reads a schema file: `Ok(None)` when there is none; a directory, FIFO or
/// oversized file is an error rather than a hang.
fn read_schema_file(path: &Path) -> Result<Option<String>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_SCHEMA_BYTES {
        return Err(format!("larger than {MAX_SCHEMA_BYTES} bytes"));
    }
    // Sized from the file: one read instead of a doubling series of them.
    let mut text = String::with_capacity(meta.len() as usize + 1);
    file.take(MAX_SCHEMA_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    Ok(Some(text))
}

fn errors(kind: &str, validator: &Validator, value: &Value) -> Vec<Problem> {
    validator
        .iter_errors(value)
        .take(MAX_PROBLEMS)
        .map(|e| Problem::new(kind, e.instance_path().as_str(), e.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn set(unknown: UnknownEvents) -> SchemaSet {
        SchemaSet::new(
            Some(PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/schemas"
            ))),
            unknown,
        )
    }

    #[test]
    fn compiled_envelope_is_the_published_schema_less_the_name_pattern() {
        let mut published: Value = serde_json::from_str(ENVELOPE_SCHEMA).unwrap();
        let pattern = published["properties"]["name"]
            .as_object_mut()
            .unwrap()
            .remove("pattern");
        assert_eq!(pattern.as_ref().and_then(Value::as_str), Some(NAME_PATTERN));
        let source = include_str!("schema_set.rs");
        let start = source.find("schema = r#\"").unwrap() + "schema = r#\"".len();
        let end = start + source[start..].find("\"#").unwrap();
        let inline: Value = serde_json::from_str(&source[start..end]).unwrap();
        assert_eq!(inline, published);
    }

    #[test]
    fn envelope_check_agrees_with_the_published_schema() {
        let published = compile(serde_json::from_str(ENVELOPE_SCHEMA).unwrap()).unwrap();
        let mut s = set(UnknownEvents::Accept);
        for e in [
            json!({"name": "a.b"}),
            json!({"name": "../x"}),
            json!({"name": "a.b", "extra": 1}),
            json!({"name": 5}),
            json!({"name": "a.b", "timestamp": "nope"}),
            json!({"name": "a.b", "attributes": []}),
            json!({"name": "x y.z", "id": ""}),
            json!({}),
        ] {
            let ours = s
                .check(e.as_object().unwrap())
                .iter()
                .all(|p| p.kind != "invalid_envelope");
            assert_eq!(ours, published.is_valid(&e), "{e}");
        }
    }

    #[test]
    fn valid_event_passes() {
        let mut s = set(UnknownEvents::Reject);
        let e =
            event(json!({"name": "urlCacher.urlValidated", "attributes": {"url": "https://x"}}));
        assert_eq!(s.check(&e), vec![]);
    }

    #[test]
    fn schema_errors_carry_instance_paths() {
        let mut s = set(UnknownEvents::Reject);
        let e = event(
            json!({"name": "urlCacher.contentFetched", "attributes": {"url": "u", "status_code": 42, "bytes": 1}}),
        );
        let p = s.check(&e);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].instance_path, "/attributes/status_code");
        assert_eq!(p[0].kind, "schema");
    }

    #[test]
    fn unsafe_names_fail_the_envelope_before_any_path_is_built() {
        let mut s = set(UnknownEvents::Accept);
        for name in [
            "../../x", "a/b.c", "a.b\\c", "", "nodot", "a..b", "a.b\u{0}",
        ] {
            let p = s.check(&event(json!({"name": name})));
            assert_eq!(
                p.first().map(|p| p.kind.as_str()),
                Some("invalid_envelope"),
                "{name:?}"
            );
        }
    }

    #[test]
    fn unknown_events_rejected_or_accepted() {
        let e = event(json!({"name": "other.thing", "attributes": {}}));
        assert_eq!(
            set(UnknownEvents::Reject).check(&e)[0].kind,
            "unknown_event"
        );
        assert!(set(UnknownEvents::Accept).check(&e).is_empty());
    }

    #[test]
    fn timestamps_must_be_rfc3339() {
        let mut s = set(UnknownEvents::Accept);
        for ts in ["10000-01-01T00:00:00Z", "yesterday", "2025-13-01T00:00:00Z"] {
            let p = s.check(&event(json!({"name": "a.b", "timestamp": ts})));
            assert!(!p.is_empty(), "{ts}");
        }
        assert!(
            s.check(&event(
                json!({"name": "a.b", "timestamp": "1960-01-01T00:00:00.5+02:00"})
            ))
            .is_empty()
        );
    }

    /// jsonschema's own way: `$id` left in, checked by the meta-schema.
    fn compile_as_published(schema: &Value) -> Result<Validator, String> {
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(schema)
            .map_err(|e| e.to_string())
    }

    fn verdicts(v: &Validator, instances: &[Value]) -> Vec<Vec<String>> {
        instances
            .iter()
            .map(|i| v.iter_errors(i).map(|e| e.to_string()).collect())
            .collect()
    }

    #[test]
    fn root_id_as_base_uri_compiles_to_the_same_validator() {
        let defs = json!({"n": {"type": "integer", "minimum": 1}});
        let schemas = [
            json!({"$id": "https://example.com/s.json", "type": "object",
                   "properties": {"a": {"$ref": "https://example.com/s.json#/$defs/n"}},
                   "$defs": defs}),
            json!({"$id": "https://example.com/s.json#", "type": "object",
                   "properties": {"a": {"$ref": "#/$defs/n"}}, "$defs": defs}),
            json!({"$id": "urn:example:s", "properties": {"a": {"$ref": "urn:example:s#/$defs/n"}},
                   "$defs": defs}),
            json!({"$id": "https://example.com/dir/s.json",
                   "properties": {"a": {"$ref": "s.json#/$defs/n"}}, "$defs": defs}),
            json!({"$id": "relative/s.json", "properties": {"a": {"$ref": "#/$defs/n"}},
                   "$defs": defs}),
        ];
        let instances = [
            json!({"a": 2}),
            json!({"a": 0}),
            json!({"a": "x"}),
            json!({}),
            json!(3),
        ];
        for schema in &schemas {
            let ours = compile(schema.clone()).unwrap();
            let theirs = compile_as_published(schema).unwrap();
            assert_eq!(
                verdicts(&ours, &instances),
                verdicts(&theirs, &instances),
                "{schema}"
            );
            assert!(!ours.is_valid(&json!({"a": 0})), "{schema}");
        }
    }

    #[test]
    fn root_id_with_a_fragment_fails_as_the_meta_schema_says() {
        for id in [
            "https://example.com/s.json#frag",
            "urn:x#/a",
            "https://e.com/#a#",
        ] {
            let schema = json!({"$id": id, "type": "object"});
            let ours = compile(schema.clone()).expect_err(id);
            let theirs = compile_as_published(&schema).expect_err(id);
            assert_eq!(ours, theirs, "{id}");
        }
    }

    #[test]
    fn shipped_schemas_compile_the_same_either_way() {
        let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas"));
        let instances = [
            json!({"name": "urlCacher.cacheRequested", "attributes": {"url": "u", "cache_path": "p"}}),
            json!({"name": "urlCacher.contentFetched", "attributes": {"url": "u", "status_code": 99, "bytes": -1}}),
            json!({"name": "urlCacher.cacheFailed", "attributes": {"url": "u", "error": "e", "stage": "x"}}),
            json!({"name": "x", "attributes": {"extra": true}}),
        ];
        let mut compared = 0;
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let schema: Value =
                serde_json::from_str(&std::fs::read_to_string(entry.path()).unwrap()).unwrap();
            let ours = compile(schema.clone()).unwrap();
            let theirs = compile_as_published(&schema).unwrap();
            assert_eq!(
                verdicts(&ours, &instances),
                verdicts(&theirs, &instances),
                "{}",
                entry.path().display()
            );
            compared += 1;
        }
        assert!(compared >= 7);
    }

    #[test]
    fn unusable_schema_files_are_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.bad.schema.json"), "{ nope").unwrap();
        std::fs::write(dir.path().join("a.worse.schema.json"), r#"{"type": 12}"#).unwrap();
        let mut s = SchemaSet::new(Some(dir.path().into()), UnknownEvents::Reject);
        assert_eq!(
            s.check(&event(json!({"name": "a.bad"})))[0].kind,
            "schema_unusable"
        );
        assert_eq!(
            s.check(&event(json!({"name": "a.bad"})))[0].kind,
            "schema_unusable"
        );
        assert_eq!(
            s.check(&event(json!({"name": "a.worse"})))[0].kind,
            "schema_unusable"
        );
        assert_eq!(s.warnings.len(), 2);
    }
}
