//! `check`'s use case, for agent authors: every marker of a text, a file
//! or a hook payload, with its verdict against the schemas. Nothing is
//! stored.

use crate::config::Config;
use crate::extract::Scanner;
use crate::input::Payload;
use crate::pipeline;
use crate::redact::Redactor;
use crate::validate::{Problem, SchemaSet};

/// One marker's verdict.
pub struct Verdict {
    /// Where it was read (`text`, `stdin`, a file's path).
    pub input: String,
    /// Redacted when it holds what looks like a secret.
    pub name: Option<String>,
    pub raw: String,
    /// Empty when valid.
    pub problems: Vec<Problem>,
}

/// The scanner, schemas and redaction rules of the settings, as `publish`
/// has them: a marker `check` finds valid is stored valid.
pub struct Checker {
    scanner: Scanner,
    schemas: SchemaSet,
    redactor: Redactor,
}

impl Checker {
    pub fn new(config: &Config) -> Checker {
        Checker {
            scanner: Scanner::new(config.limits.max_marker_bytes as usize),
            schemas: SchemaSet::new(Some(config.schemas_dir.clone()), config.unknown_events),
            redactor: Redactor::configured(&config.redaction),
        }
    }

    /// The verdict of every marker in `bytes`: a hook payload's texts, or
    /// the input itself when it is not one.
    pub fn check(&mut self, input: &str, bytes: &[u8]) -> Vec<Verdict> {
        let mut verdicts = Vec::new();
        for text in texts(bytes) {
            self.scanner.scan(&text, |m| {
                let problems = pipeline::problems(&mut self.schemas, &self.redactor, &m);
                let name = m
                    .event
                    .as_ref()
                    .ok()
                    .and_then(|e| e.get("name"))
                    .and_then(|n| n.as_str())
                    .map(|n| {
                        self.redactor
                            .redact_text(n)
                            .unwrap_or_else(|| n.to_string())
                    });
                verdicts.push(Verdict {
                    input: input.to_string(),
                    name,
                    raw: self.redactor.redact_text(&m.raw).unwrap_or(m.raw),
                    problems,
                });
                true
            });
        }
        verdicts
    }
}

fn texts(bytes: &[u8]) -> Vec<String> {
    if let Ok(p) = Payload::parse(bytes) {
        if p.hook_event_name().is_some() {
            return p.texts().into_iter().map(|t| t.body.into_owned()).collect();
        }
    }
    vec![String::from_utf8_lossy(bytes).into_owned()]
}
