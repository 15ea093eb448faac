//! The event bus: events emitted by scripts (`emit`), subscribers that act
//! on stored events (`exec`, `webhook`, `emit`), and the dispatcher that
//! delivers to them at least once, from a durable cursor per subscriber.
//!
//! The store is the bus: every event, hook-published or emitted, is stored
//! first, then each subscriber's dispatcher thread follows the store's
//! arrival journal (`store::follow`) from its own cursor. Nothing is held
//! only in memory, so a killed dispatcher repeats at most the events it
//! had in flight, with the same ids.

pub mod autostart;
pub mod dispatcher;
pub mod emitter;
pub mod exec;
pub mod run;
pub mod state;
pub mod subscriber;
pub mod template;
pub mod webhook;

pub use emitter::{Emitter, NewEvent, TraceContext};
pub use subscriber::{Action, Subscribers};

/// A subscriber's answer to one delivery attempt.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Delivered,
    /// Try again later: after the given time when the receiver said so
    /// (`Retry-After`), else after the subscriber's backoff.
    Retry {
        why: String,
        after: Option<std::time::Duration>,
    },
    /// Never going to work for this event: to the subscriber's dead letters.
    Dead(String),
    /// The receiver is gone for good (HTTP 410): the subscriber is disabled.
    Gone(String),
}

/// The W3C `traceparent` of a record: its trace and its span, sampled.
pub fn traceparent(record: &crate::enrich::Record) -> String {
    format!("00-{}-{}-01", record.trace_id, record.span_id)
}

/// A text for one line of a message or a state file: control characters
/// (terminal escapes included) become spaces, at most `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let mut s: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.trim().chars().count() > max {
        s.push('…');
    }
    s
}
