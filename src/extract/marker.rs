//! One `<EVENT>…</EVENT>` marker found in a text: its raw text and what its
//! JSON turned out to be.

use serde_json::{Map, Value};

/// Why a marker could not be read as an event object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MarkerError {
    /// No `</EVENT>` after the JSON value (or none at all).
    Unclosed,
    /// The text after `<EVENT>` is not one JSON value.
    MalformedJson(String),
    /// The JSON value is not an object.
    NotAnObject,
    /// Longer than the marker size cap.
    TooLarge { limit: usize },
}

impl MarkerError {
    /// The stable machine name used in dead letters and `check` output.
    pub fn kind(&self) -> &'static str {
        match self {
            MarkerError::Unclosed => "unclosed_marker",
            MarkerError::MalformedJson(_) => "malformed_json",
            MarkerError::NotAnObject => "not_an_object",
            MarkerError::TooLarge { .. } => "marker_too_large",
        }
    }

    pub fn message(&self) -> String {
        match self {
            MarkerError::Unclosed => "no </EVENT> after the event's JSON".into(),
            MarkerError::MalformedJson(e) => format!("not valid JSON: {e}"),
            MarkerError::NotAnObject => "the event is not a JSON object".into(),
            MarkerError::TooLarge { limit } => {
                format!("the marker is longer than {limit} bytes (max_marker_bytes)")
            }
        }
    }
}

/// A marker as found by the scanner.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    /// The marker's text from `<EVENT>` through `</EVENT>` (or as far as it
    /// could be read, capped at the marker size limit).
    pub raw: String,
    /// Byte offset of `<EVENT>` in the scanned text.
    pub offset: usize,
    /// The event object, or why there is none.
    pub event: Result<Map<String, Value>, MarkerError>,
}
