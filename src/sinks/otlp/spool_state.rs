//! What the spool remembers between processes (`.events/.spool/state.json`):
//! how much it holds, and the circuit breaker that spares every hook the
//! wait while the collector is down.
//!
//! The counters are kept up to date by every writer and sender under a
//! lock of the state file; a listing of the spool (every `flush`, and a
//! `publish` that sees the whole of a small spool) sets them to the truth.

use serde::{Deserialize, Serialize};

/// The first wait after a failed export, doubled on each further failure.
pub const BACKOFF_MIN_MS: u64 = 1_000;
pub const BACKOFF_MAX_MS: u64 = 60_000;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpoolState {
    /// Requests (files) in the spool and their bytes.
    pub files: u64,
    pub bytes: u64,
    /// Failed exports in a row; 0 when the collector last answered.
    pub failures: u32,
    /// No `publish` tries the collector before this time (Unix ms).
    pub retry_at_ms: u64,
    /// Why the last export failed (never holds a header value).
    pub last_error: Option<String>,
    /// Requests that could not be spooled because the spool was full, and
    /// the events and spans they held (their ids are in `dropped.jsonl`).
    pub dropped_requests: u64,
    pub dropped_items: u64,
}

impl SpoolState {
    /// Notes a failed export at `now_ms`; returns the wait before the next try.
    pub fn failed(&mut self, now_ms: u64, why: &str) -> u64 {
        self.failures = self.failures.saturating_add(1);
        let wait = BACKOFF_MIN_MS
            .saturating_mul(1u64 << (self.failures - 1).min(16))
            .min(BACKOFF_MAX_MS);
        self.retry_at_ms = now_ms.saturating_add(wait);
        self.last_error = Some(why.to_string());
        wait
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.retry_at_ms = 0;
        self.last_error = None;
    }

    /// True while the breaker is open: hooks only spool.
    pub fn waiting(&self, now_ms: u64) -> bool {
        now_ms < self.retry_at_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap_and_resets() {
        let mut s = SpoolState::default();
        assert_eq!(s.failed(0, "x"), 1_000);
        assert_eq!(s.failed(0, "x"), 2_000);
        for _ in 0..20 {
            s.failed(0, "x");
        }
        assert_eq!(s.failed(10, "x"), BACKOFF_MAX_MS);
        assert!(s.waiting(10 + BACKOFF_MAX_MS - 1));
        s.succeeded();
        assert!(!s.waiting(0));
    }
}
