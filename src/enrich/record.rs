//! The stored record: one per event, valid or not. Its contract is
//! `schemas/event-record.schema.json` (valid events) and
//! `schemas/dead-letter.schema.json` (invalid ones, under `.events/invalid/`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::input::Source;
use crate::validate::Problem;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: Uuid,
    /// The event's name; null in a dead letter whose marker had none.
    pub name: Option<String>,
    /// When the event happened (the agent's, else when it was written or
    /// seen), RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    /// When the publisher saw it.
    pub observed_timestamp: String,
    #[serde(default)]
    pub attributes: Map<String, Value>,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub source: Source,
    /// The `id` the agent gave the event, if any (its idempotency key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_id: Option<String>,
    /// Dead letters only: the marker text as printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// Dead letters only: every reason the event was rejected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Problem>,
    /// Events emitted by a subscriber (`bus`): the id of the event that
    /// triggered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caused_by: Option<Uuid>,
}

impl Record {
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}
