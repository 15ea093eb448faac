//! `Redactor`: applies the built-in rules, the configured patterns and the
//! secret attribute names to an event's values and to a dead letter's text.

use std::cell::OnceCell;

use regex::{Captures, Regex};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::rule::{Probe, RULES, SECRET_NAMES, marker, secret_of};
use crate::enrich::{Record, Span};

/// A configured secret shape: a name (the marker's kind) and a regex; the
/// secret is its `secret` group when it has one, else the whole match.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    pub name: String,
    pub regex: String,
}

/// The `redaction` settings: patterns and attribute names add up across
/// the config files (a user's and a project's both apply).
#[derive(Clone, Debug, Default)]
pub struct RedactionSettings {
    /// `None`: on.
    pub enabled: Option<bool>,
    pub patterns: Vec<CustomPattern>,
    pub attributes: Vec<String>,
}

pub struct Redactor {
    enabled: bool,
    /// One slot per built-in rule, filled the first time its prefilter hits.
    builtin: Vec<OnceCell<Regex>>,
    custom: Vec<CustomPattern>,
    /// Compiled on the first string checked; bad patterns are skipped.
    custom_compiled: OnceCell<Vec<(String, Regex)>>,
    /// Extra secret attribute names, normalized (see `normalize`).
    attributes: Vec<(String, String)>,
    warnings: std::cell::RefCell<Vec<String>>,
}

impl Default for Redactor {
    /// The built-in rules only.
    fn default() -> Self {
        Redactor::new(true, Vec::new(), Vec::new())
    }
}

impl Redactor {
    pub fn new(enabled: bool, custom: Vec<CustomPattern>, attributes: Vec<String>) -> Self {
        Redactor {
            enabled,
            builtin: RULES.iter().map(|_| OnceCell::new()).collect(),
            custom,
            custom_compiled: OnceCell::new(),
            attributes: attributes.into_iter().map(|a| (normalize(&a), a)).collect(),
            warnings: Default::default(),
        }
    }

    /// The redactor the settings describe.
    pub fn configured(r: &RedactionSettings) -> Self {
        Redactor::new(
            r.enabled.unwrap_or(true),
            r.patterns.clone(),
            r.attributes.clone(),
        )
    }

    pub fn disabled() -> Self {
        Redactor::new(false, Vec::new(), Vec::new())
    }

    /// Problems met (patterns that do not compile), one line each.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut self.warnings.borrow_mut())
    }

    /// Redacts every value of an event (strings, recursively): values of
    /// secret-named keys whole, secrets inside other strings by shape.
    pub fn redact_object(&self, map: &mut Map<String, Value>) {
        if !self.enabled {
            return;
        }
        self.redact_keys(map);
        for (key, value) in map.iter_mut() {
            match self.secret_name(key) {
                Some(kind) => self.redact_named(value, &kind),
                None => self.redact_value(value),
            }
        }
    }

    /// Keys are text an agent chose too (`{"xoxb-…": 1}`): a secret-shaped
    /// key is renamed, keeping its place; two keys that redact alike both
    /// stay (`#2` is appended to the second).
    fn redact_keys(&self, map: &mut Map<String, Value>) {
        if !map.keys().any(|k| self.redact_text(k).is_some()) {
            return;
        }
        let old = std::mem::take(map);
        for (key, value) in old {
            let mut key = self.redact_text(&key).unwrap_or(key);
            let base = key.clone();
            let mut n = 1;
            while map.contains_key(&key) {
                n += 1;
                key = format!("{base}#{n}");
            }
            map.insert(key, value);
        }
    }

    /// The strings of a record that do not come from the event's values:
    /// the problems (schema messages quote the value they reject, paths
    /// name keys) and the Claude Code source. The event's own strings and
    /// keys went through `redact_object` before the record was built.
    pub fn redact_record(&self, record: &mut Record) {
        if !self.enabled {
            return;
        }
        let text = |s: &mut String| {
            if let Some(r) = self.redact_text(s) {
                *s = r;
            }
        };
        for p in &mut record.errors {
            text(&mut p.message);
            text(&mut p.instance_path);
        }
        let src = &mut record.source;
        for field in [
            &mut src.hook_event_name,
            &mut src.session_id,
            &mut src.prompt_id,
            &mut src.agent_id,
            &mut src.agent_type,
            &mut src.tool_name,
            &mut src.tool_use_id,
            &mut src.cwd,
            &mut src.transcript_path,
        ]
        .into_iter()
        .flatten()
        {
            text(field);
        }
    }

    /// A span's name (`invoke_agent {agent_type}`) and attributes.
    pub fn redact_span(&self, span: &mut Span) {
        if !self.enabled {
            return;
        }
        if let Some(r) = self.redact_text(&span.name) {
            span.name = r;
        }
        self.redact_object(&mut span.attributes);
    }

    fn redact_value(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                if let Some(r) = self.redact_text(s) {
                    *s = r;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v)),
            Value::Object(map) => self.redact_object(map),
            _ => {}
        }
    }

    /// Every string under a secret-named key becomes the marker.
    fn redact_named(&self, value: &mut Value, kind: &str) {
        match value {
            Value::String(s) if !s.is_empty() => *s = marker(kind),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_named(v, kind)),
            Value::Object(map) => self.redact_object(map),
            _ => {}
        }
    }

    /// The kind of secret a key names, if it names one.
    fn secret_name(&self, key: &str) -> Option<String> {
        let n = normalize(key);
        if let Some((_, kind)) = SECRET_NAMES.iter().find(|(s, _)| n.ends_with(s)) {
            return Some(kind.to_string());
        }
        self.attributes
            .iter()
            .find(|(a, _)| *a == n)
            .map(|(_, name)| name.clone())
    }

    /// `text` with its secrets replaced, or `None` when it holds none.
    pub fn redact_text(&self, text: &str) -> Option<String> {
        if !self.enabled || text.is_empty() {
            return None;
        }
        let mut out: Option<String> = None;
        for (rule, slot) in RULES.iter().zip(&self.builtin) {
            let current = out.as_deref().unwrap_or(text);
            if !(rule.prefilter)(&Probe::new(current)) {
                continue;
            }
            let re = slot.get_or_init(|| Regex::new(rule.pattern).expect("built-in pattern"));
            if let Some(r) = replace(re, current, rule.kind, rule.check) {
                out = Some(r);
            }
        }
        for (kind, re) in self.custom() {
            let current = out.as_deref().unwrap_or(text);
            if let Some(r) = replace(re, current, kind, |_| true) {
                out = Some(r);
            }
        }
        out
    }

    fn custom(&self) -> &[(String, Regex)] {
        self.custom_compiled.get_or_init(|| {
            self.custom
                .iter()
                .filter_map(|p| match Regex::new(&p.regex) {
                    // It would match everywhere: nothing to redact, and a
                    // long text would count as dense with secrets.
                    Ok(re) if re.is_match("") => {
                        self.warnings.borrow_mut().push(format!(
                            "redaction pattern {:?} matches the empty string; skipped",
                            p.name
                        ));
                        None
                    }
                    Ok(re) => Some((p.name.clone(), re)),
                    Err(e) => {
                        let first = e.to_string().lines().last().unwrap_or("").to_string();
                        self.warnings.borrow_mut().push(format!(
                            "redaction pattern {:?} does not compile ({}); skipped",
                            p.name,
                            first.trim()
                        ));
                        None
                    }
                })
                .collect()
        })
    }
}

/// More secrets than this in one string, and the whole string is replaced:
/// a text built to be slow to redact costs a bounded amount of work.
const MAX_SECRETS: usize = 1000;

/// Replaces each checked match's secret; `None` when nothing changed.
fn replace(re: &Regex, text: &str, kind: &str, check: fn(&Captures) -> bool) -> Option<String> {
    let mut out = String::new();
    let mut last = 0;
    let mut n = 0;
    for c in re.captures_iter(text) {
        // Empty matches (`\b`) are not secrets and do not count.
        if c.get(0).is_none_or(|m| m.is_empty()) {
            continue;
        }
        n += 1;
        if n > MAX_SECRETS {
            return Some(marker("too_many_secrets"));
        }
        if !check(&c) {
            continue;
        }
        let Some(m) = secret_of(&c) else {
            continue;
        };
        if m.is_empty() {
            continue;
        }
        out.push_str(&text[last..m.start()]);
        out.push_str(&marker(kind));
        last = m.end();
    }
    if last == 0 {
        return None;
    }
    out.push_str(&text[last..]);
    Some(out)
}

/// Lowercase, without `_` and `-`: `API-Key`, `api_key` and `apiKey` are one name.
fn normalize(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Real-looking secrets in the contexts agents print them, each with the
    /// kind its marker must name.
    const SECRETS: &[(&str, &str, &str)] = &[
        (
            "key: sk-ant-api03-Xk9vQ2mP7rT4wZ8yB1nC5dF6gH3jL0aS-eR2tY7uI9oP_kJ4hG6fD8sA1zX3cV5bN7mQ-AbCdEfAA",
            "sk-ant-api03",
            "anthropic_key",
        ),
        (
            "OPENAI_API_KEY=sk-proj-4fG7hJ9kL2mN5pQ8rS1tU3vW6xY0zA2bC4dE6fG8hJ0kL2mN",
            "sk-proj-4fG7",
            "openai_key",
        ),
        (
            "using sk-9aB8cD7eF6gH5iJ4kL3mN2oP1qR0sT9uV8wX7yZ6aB5cD4e now",
            "sk-9aB8",
            "openai_key",
        ),
        (
            "git clone https://ghp_R4nd0mT0k3nV4lu3Xy9Zq8Wv7Ut6Sr5Qp4On3@github.com/o/r",
            "ghp_R4nd0m",
            "github_token",
        ),
        (
            "token gho_16C7e42F292c6912E7710c838347Ae178B4a in env",
            "gho_16C7",
            "github_token",
        ),
        (
            "GH_TOKEN=github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
            "github_pat_11",
            "github_token",
        ),
        (
            "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
            "AKIAIOSFODNN7EXAMPLE",
            "aws_access_key_id",
        ),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI",
            "aws_secret_key",
        ),
        (
            "curl -H 'Authorization: Bearer abc123def456ghi789jkl' https://api.example.com",
            "abc123def456",
            "authorization",
        ),
        (
            "Authorization: Basic dXNlcjpwYXNzd29yZA==",
            "dXNlcjpwYXNz",
            "authorization",
        ),
        (
            "sent bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0 to the proxy",
            "9f8e7d6c5b4a",
            "bearer_token",
        ),
        (
            "https://api.example.com/v1/items?page=2&api_key=7hG5fD3sA1qW9eR7&sort=asc",
            "7hG5fD3sA1qW",
            "secret",
        ),
        (
            "https://example.com/login?user=bob&password=hunter2",
            "hunter2",
            "secret",
        ),
        ("https://example.com/cb?token=abcdef", "abcdef", "secret"),
        ("client_secret=Zm9vYmFyYmF6cXV4", "Zm9vYmFyYmF6", "secret"),
        (r#"{"db_password": "correct horse"}"#, "correct", "secret"),
        (
            "postgres://admin:s3cr3tP4ss@db.internal:5432/app",
            "s3cr3tP4ss",
            "url_password",
        ),
        (
            "SLACK=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            "xoxb-1234",
            "slack_token",
        ),
        (
            "maps key AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY here",
            "AIzaSyD-9tS",
            "google_api_key",
        ),
        (
            "cookie eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "eyJhbGci",
            "jwt",
        ),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----",
            "MIIEpAIBAAKCAQEA7",
            "private_key",
        ),
        // Shapes that slipped past word boundaries (issue 13, finding 4).
        (
            r"line one\nsk-ant-api03-Xk9vQ2mP7rT4wZ8yB1nC5dF6gH3jL0aS in JSON text",
            "Xk9vQ2mP7rT4",
            "anthropic_key",
        ),
        (
            "export token_ghp_R4nd0mT0k3nV4lu3Xy9Zq8Wv7Ut6Sr5Qp4On3",
            "R4nd0mT0k3n",
            "github_token",
        ),
        (
            "prefix_sk-ant-api03-Xk9vQ2mP7rT4wZ8yB1nC5dF6gH3jL0aS",
            "Xk9vQ2mP7rT4",
            "anthropic_key",
        ),
        (
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGXyz0kBCADk4\n-----END PGP PRIVATE KEY BLOCK-----",
            "lQOYBGXyz0kBCADk4",
            "private_key",
        ),
        (
            "REDIS_URL=redis://:s3cr3tP4ss@cache.internal:6379/0",
            "s3cr3tP4ss",
            "url_password",
        ),
        (
            "https://x.test/search?q=tok%3Dghp_R4nd0mT0k3nV4lu3Xy9Zq8Wv7Ut6Sr5Qp4On3",
            "R4nd0mT0k3n",
            "github_token",
        ),
        (
            "AKIAIOSFODNN7EXAMPLE.sent",
            "AKIAIOSFODNN7EXAMPLE",
            "aws_access_key_id",
        ),
    ];

    /// Text that resembles a secret but is not one: left byte for byte.
    const LOOKALIKES: &[&str] = &[
        "Update the task-list and ask-user flows",
        "pip install sk-learn-compatible-transformers-pipeline",
        "the ghp prefix and ghost_writer module; gho and ghs are prefixes",
        "commit 9f8e7d6 fixed it; sha 3f2a9c1b",
        "https://example.com/docs/page?id=42&lang=en",
        "https://github.com/anthropics/claude-code/issues/1234",
        "max_tokens=4096 and tokens_used: 17",
        "token_count: 12",
        "The password: required field must be set",
        "Use Bearer authentication for the API",
        "Basic usage: run the tool",
        "AKIA is the prefix of AWS access key ids",
        "author: Jane Doe; design: minimal",
        "email bob@example.com about http://example.com",
        "BEGIN and END markers",
        "the secret: patience",
        "",
        r"a\nsk-learn and ask-anthropic-questions-about-everything",
        "tokens_ghost_writer and prefix_sk-short",
        "-----BEGIN PGP PUBLIC KEY BLOCK-----",
        "redis://cache.internal:6379/0 and mailto:bob@example.com",
        "https://example.com/?q=100%25%20done",
    ];

    #[test]
    fn real_looking_secrets_are_redacted_with_their_kind() {
        let r = Redactor::default();
        for (text, secret, kind) in SECRETS {
            let out = r
                .redact_text(text)
                .unwrap_or_else(|| panic!("not redacted: {text}"));
            assert!(!out.contains(secret), "{kind}: {secret} left in {out}");
            assert!(
                out.contains(&marker(kind)),
                "expected [REDACTED:{kind}] in {out}"
            );
        }
    }

    #[test]
    fn look_alikes_are_left_alone() {
        let r = Redactor::default();
        for text in LOOKALIKES {
            assert_eq!(r.redact_text(text), None, "touched: {text}");
        }
    }

    #[test]
    fn context_around_a_secret_is_kept() {
        let r = Redactor::default();
        assert_eq!(
            r.redact_text("https://example.com/login?user=bob&password=hunter2&x=1")
                .unwrap(),
            "https://example.com/login?user=bob&password=[REDACTED:secret]&x=1"
        );
        assert_eq!(
            r.redact_text("Authorization: Bearer abc123def456ghi789jkl")
                .unwrap(),
            "Authorization: Bearer [REDACTED:authorization]"
        );
    }

    #[test]
    fn secret_named_attributes_are_redacted_whatever_their_value() {
        let r = Redactor::new(true, Vec::new(), vec!["pin".into()]);
        let mut v = json!({
            "url": "https://example.com",
            "password": "x",
            "GitHub-Token": "plain",
            "apiKey": "plain",
            "nested": {"client_secret": "plain", "list": ["ghp_R4nd0mT0k3nV4lu3Xy9Zq8Wv7Ut6Sr5Qp4On3"]},
            "tokens": 12,
            "max_tokens": "4096",
            "pin": "1234",
            "token": 5,
        });
        r.redact_object(v.as_object_mut().unwrap());
        assert_eq!(
            v,
            json!({
                "url": "https://example.com",
                "password": "[REDACTED:password]",
                "GitHub-Token": "[REDACTED:token]",
                "apiKey": "[REDACTED:api_key]",
                "nested": {"client_secret": "[REDACTED:secret]", "list": ["[REDACTED:github_token]"]},
                "tokens": 12,
                "max_tokens": "4096",
                "pin": "[REDACTED:pin]",
                "token": 5,
            })
        );
    }

    #[test]
    fn configured_patterns_apply_and_bad_ones_are_reported() {
        let r = Redactor::new(
            true,
            vec![
                CustomPattern {
                    name: "employee_id".into(),
                    regex: r"\bEMP-(?P<secret>\d{6})\b".into(),
                },
                CustomPattern {
                    name: "broken".into(),
                    regex: "(unclosed".into(),
                },
            ],
            Vec::new(),
        );
        assert_eq!(
            r.redact_text("ask EMP-123456 today").unwrap(),
            "ask EMP-[REDACTED:employee_id] today"
        );
        let w = r.take_warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("broken"), "{w:?}");
    }

    #[test]
    fn a_pattern_matching_the_empty_string_is_refused() {
        let r = Redactor::new(
            true,
            vec![
                CustomPattern {
                    name: "anything".into(),
                    regex: r"x*".into(),
                },
                CustomPattern {
                    name: "boundaries".into(),
                    regex: r"\b".into(),
                },
            ],
            Vec::new(),
        );
        let long = "plain words ".repeat(200);
        assert_eq!(r.redact_text(&long), None);
        let w = r.take_warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("\"anything\" matches the empty string"),
            "{w:?}"
        );
    }

    #[test]
    fn a_text_dense_with_secrets_is_replaced_whole() {
        let r = Redactor::default();
        let text = "password=a&".repeat(MAX_SECRETS + 1);
        assert_eq!(r.redact_text(&text).unwrap(), "[REDACTED:too_many_secrets]");
        let text = "password=a&".repeat(10);
        assert_eq!(
            r.redact_text(&text)
                .unwrap()
                .matches("[REDACTED:secret]")
                .count(),
            10
        );
    }

    #[test]
    fn disabled_touches_nothing() {
        let r = Redactor::disabled();
        assert_eq!(r.redact_text(SECRETS[0].0), None);
        let mut v = json!({"password": "x"});
        r.redact_object(v.as_object_mut().unwrap());
        assert_eq!(v, json!({"password": "x"}));
    }

    #[test]
    fn no_regex_is_compiled_for_plain_text() {
        let r = Redactor::default();
        let mut v = json!({"url": "https://example.com/a", "cache_path": "/tmp/x", "hit": true, "bytes": 12});
        r.redact_object(v.as_object_mut().unwrap());
        assert!(r.builtin.iter().all(|c| c.get().is_none()));
    }
    #[test]
    fn secret_keys_are_renamed_in_place_and_collisions_kept() {
        let r = Redactor::default();
        let gh = "ghp_R4nd0mT0k3nV4lu3Xy9Zq8Wv7Ut6Sr5Qp4On3";
        let gh2 = "ghp_Z4nd0mT0k3nV4lu3Xy9Zq8Wv7Ut6Sr5Qp4On3";
        let mut v = json!({"a": 1, gh: 2, gh2: {"x": gh}, "z": 3});
        r.redact_object(v.as_object_mut().unwrap());
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "a",
                "[REDACTED:github_token]",
                "[REDACTED:github_token]#2",
                "z"
            ]
        );
        assert_eq!(
            v["[REDACTED:github_token]#2"]["x"],
            "[REDACTED:github_token]"
        );
    }
}
