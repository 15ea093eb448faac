//! One reason an event was rejected.

use serde::{Deserialize, Serialize};

/// A validation error: what kind, where in the event, and what is wrong.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// `schema` (a schema said no), `invalid_envelope`, `unknown_event`,
    /// `schema_unusable`, `reserved_name` (an agent's marker in the
    /// `claudeCode.` name space), or a marker error (`malformed_json`,
    /// `unclosed_marker`, `not_an_object`, `marker_too_large`).
    pub kind: String,
    /// JSON Pointer into the event (`/attributes/url`); empty for the whole.
    pub instance_path: String,
    pub message: String,
}

impl Problem {
    pub fn new(kind: &str, instance_path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.to_string(),
            instance_path: instance_path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.instance_path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.instance_path, self.message)
        }
    }
}
