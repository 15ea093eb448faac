//! `event-publisher show ID`: one record in full, found by its id or a
//! prefix only it has. A dead letter shows its raw marker and every error.

use std::io::Write;
use std::path::Path;

use serde_json::Value;

use super::reading::{self, say};
use crate::cli::{GlobalArgs, ShowArgs};
use crate::enrich::Record;
use crate::exit_code::ExitCode;
use crate::view::Style;
use crate::view::style::Paint;

pub fn run(global: &GlobalArgs, args: &ShowArgs) -> ExitCode {
    let config = reading::config(global);
    let dir = match reading::events_dir(&config) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let prefix = args.id.trim().to_ascii_lowercase();
    if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        say(&format!(
            "{:?} is not a record id (or the start of one)",
            args.id
        ));
        return ExitCode::Usage;
    }
    let found = dir.find(&prefix);
    let at = match found.as_slice() {
        [] => {
            say(&format!("no record has an id starting with {prefix}"));
            return ExitCode::Failure;
        }
        [(_, at)] => at.clone(),
        many => {
            say(&format!(
                "{} records have an id starting with {prefix}; give more of it:",
                many.len()
            ));
            for (id, _) in many.iter().take(10) {
                eprintln!("  {id}");
            }
            return ExitCode::Failure;
        }
    };
    let record = match dir.load(&at) {
        Ok(r) => r,
        Err(e) => {
            say(&format!("{}: {e}", dir.shown(&at).display()));
            return ExitCode::Failure;
        }
    };
    let dated = dir.dated_path(&record);
    let mut out = reading::stdout();
    let result = if args.json {
        serde_json::to_writer_pretty(&mut out, &record)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
            .and_then(|()| out.flush())
    } else {
        let text = pretty(&record, dated.as_deref(), &Style::stdout());
        out.write_all(text.as_bytes()).and_then(|()| out.flush())
    };
    reading::written(result)
}

/// The record as a person reads it.
pub fn pretty(r: &Record, path: Option<&Path>, style: &Style) -> String {
    let mut s = String::new();
    let key = |k: &str| style.paint(Paint::Dim, &format!("{k:<11}"));
    let name = r.name.as_deref().unwrap_or("(no name)");
    let verdict = if r.is_valid() {
        style.paint(Paint::Green, "valid")
    } else {
        style.paint(Paint::Red, "dead letter (rejected)")
    };
    s += &format!(
        "{}  {verdict}\n",
        style.paint(Paint::Bold, &style.paint(Paint::Cyan, name))
    );
    s += &format!("{}{}\n", key("id"), r.id);
    s += &format!("{}{}\n", key("time"), r.timestamp);
    s += &format!("{}{}\n", key("observed"), r.observed_timestamp);
    s += &format!("{}{}\n", key("trace"), r.trace_id);
    s += &format!(
        "{}{}{}\n",
        key("span"),
        r.span_id,
        r.parent_span_id
            .as_deref()
            .map(|p| format!("  (parent {p})"))
            .unwrap_or_default()
    );
    if let Some(g) = &r.given_id {
        s += &format!("{}{g}\n", key("given id"));
    }
    if let Some(p) = path {
        s += &format!("{}{}\n", key("file"), p.display());
    }
    s += &style.paint(Paint::Bold, "attributes");
    s.push('\n');
    if r.attributes.is_empty() {
        s += "  (none)\n";
    }
    let width = r
        .attributes
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0);
    for (k, v) in &r.attributes {
        let text = match v {
            Value::String(t) => t.clone(),
            v => v.to_string(),
        };
        s += &format!(
            "  {}  {text}\n",
            style.paint(Paint::Dim, &format!("{k:<width$}"))
        );
    }
    s += &style.paint(Paint::Bold, "source");
    s.push('\n');
    let src = &r.source;
    let agent = match (&src.agent_id, &src.agent_type) {
        (None, _) => "main".to_string(),
        (Some(id), Some(t)) => format!("{id} ({t})"),
        (Some(id), None) => id.clone(),
    };
    let tool = match (&src.tool_name, &src.tool_use_id) {
        (Some(n), Some(id)) => Some(format!("{n} {id}")),
        (Some(n), None) => Some(n.clone()),
        (None, Some(id)) => Some(id.clone()),
        (None, None) => None,
    };
    for (k, v) in [
        ("session", src.session_id.clone()),
        ("prompt", src.prompt_id.clone()),
        ("agent", Some(agent)),
        ("hook", src.hook_event_name.clone()),
        ("tool", tool),
        ("cwd", src.cwd.clone()),
        ("transcript", src.transcript_path.clone()),
    ] {
        if let Some(v) = v {
            s += &format!("  {}  {v}\n", style.paint(Paint::Dim, &format!("{k:<10}")));
        }
    }
    if let Some(raw) = &r.raw {
        s += &style.paint(Paint::Bold, "raw");
        s.push('\n');
        for line in raw.lines() {
            s += &format!("  {line}\n");
        }
    }
    if !r.errors.is_empty() {
        s += &style.paint(Paint::Bold, &style.paint(Paint::Red, "errors"));
        s.push('\n');
        for e in &r.errors {
            s += &format!("  - [{}] {e}\n", e.kind);
        }
    }
    s
}
