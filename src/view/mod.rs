//! How the commands show things: colour on a terminal only (and never
//! with `NO_COLOR`), aligned columns, JSON and JSON Lines for scripts, a
//! progress bar for long runs, the short forms of a record's parts that
//! every listing uses, and `say`, the one way a line goes to stderr.
//!
//! Times are shown in UTC, exactly as stored (`2025-08-12T16:30:00.000Z`):
//! the same form `--since`/`--until` accept, and the same on every machine.

pub mod escape;
pub mod format;
pub mod json_out;
pub mod progress;
pub mod style;
pub mod table;

pub use escape::safe;
pub use format::Format;
pub use json_out::JsonOut;
pub use progress::Progress;
pub use style::Style;
pub use table::Table;

use serde_json::{Map, Value};

use crate::enrich::Record;
use style::Paint;

/// One line on stderr, prefixed with the tool's name and made safe for a
/// terminal: how every command, the hook and the dispatcher say things.
pub fn say(message: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "event-publisher: {}",
        safe(message)
    );
}

/// The columns of one event in a listing: time, name, agent, and the
/// attributes (or, for a dead letter, why it was rejected), each made safe
/// for a terminal (`safe`).
pub fn event_row(r: &Record) -> Vec<(String, Paint)> {
    let valid = r.is_valid();
    let name = r.name.clone().unwrap_or_else(|| "(no name)".to_string());
    let row = vec![
        (r.timestamp.clone(), Paint::Dim),
        (name, if valid { Paint::Cyan } else { Paint::Red }),
        (agent_label(r), Paint::Magenta),
        if valid {
            (attributes_text(&r.attributes), Paint::None)
        } else {
            (format!("✗ {}", errors_text(r)), Paint::Red)
        },
    ];
    row.into_iter()
        .map(|(text, paint)| (safe(&text).into_owned(), paint))
        .collect()
}

/// `main`, or the agent type and the start of the agent id.
pub fn agent_label(r: &Record) -> String {
    match (&r.source.agent_id, &r.source.agent_type) {
        (None, _) => "main".to_string(),
        (Some(id), Some(kind)) => format!("{kind}/{}", short(id, 8)),
        (Some(id), None) => format!("agent/{}", short(id, 8)),
    }
}

/// `key=value` pairs, strings bare unless they hold spaces or quotes.
pub fn attributes_text(attributes: &Map<String, Value>) -> String {
    let mut out = String::new();
    for (k, v) in attributes {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(k);
        out.push('=');
        match v {
            Value::String(s) if !s.is_empty() && !s.contains([' ', '"', '\n', '\t', '\r']) => {
                out.push_str(s)
            }
            v => out.push_str(&v.to_string()),
        }
    }
    out
}

/// For a dead letter: its first error, and how many more there are.
pub fn errors_text(r: &Record) -> String {
    match r.errors.split_first() {
        None => String::new(),
        Some((first, [])) => first.to_string(),
        Some((first, rest)) => format!("{first} (+{} more)", rest.len()),
    }
}

/// The first `n` characters.
pub fn short(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `0.250s`, `12.5s`, `3m05s`, `2h03m`, `3d04h`.
pub fn duration_text(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let s = ms / 1000;
    let text = if ms < 10_000 {
        format!("{}.{:03}s", s, ms % 1000)
    } else if s < 60 {
        format!("{}.{}s", s, (ms % 1000) / 100)
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600)
    };
    format!("{sign}{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration_text(250), "0.250s");
        assert_eq!(duration_text(12_500), "12.5s");
        assert_eq!(duration_text(185_000), "3m05s");
        assert_eq!(duration_text(7_380_000), "2h03m");
        assert_eq!(duration_text(-1500), "-1.500s");
    }

    #[test]
    fn attributes_are_compact() {
        let a = serde_json::json!({"url": "https://x/", "hit": true, "note": "a b"});
        assert_eq!(
            attributes_text(a.as_object().unwrap()),
            r#"url=https://x/ hit=true note="a b""#
        );
    }
}
