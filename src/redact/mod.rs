//! Redaction: secrets an agent saw (API keys, tokens, passwords) are
//! replaced by `[REDACTED:<kind>]` before a record reaches any sink.
//!
//! It runs after validation, so schemas see the real values, and after the
//! event's id is computed, so ids do not depend on the redaction settings.

mod redactor;
mod rule;

pub use redactor::{CustomPattern, RedactionSettings, Redactor};
