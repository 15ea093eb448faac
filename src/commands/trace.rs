//! `event-publisher trace [SESSION|TRACE]`: a session as a tree: its agent
//! runs (the main agent and each subagent run, one span each) with their
//! type, start and duration, and under each run its events in time order,
//! with their offset from the run's start. Dead letters are marked. With no
//! id, the session of the latest event.
//!
//! With the lifecycle records, a run lasts from its `subagentStarted` to its
//! `subagentStopped` record (a run that started and has no stop is marked
//! "never stopped"), and the session from its `sessionStarted` to its
//! `sessionEnded` record; without them, from the first event to the last.

use std::io::Write;

use super::reading::{self, say};
use crate::analysis::trace::{SessionTree, belongs, build, latest_session};
use crate::cli::{GlobalArgs, TraceArgs};
use crate::exit_code::ExitCode;
use crate::store::{Found, Order, Scan, Scope};
use crate::view::style::Paint;
use crate::view::{Format, JsonOut, Style, attributes_text, duration_text, errors_text, table};

pub fn run(global: &GlobalArgs, args: &TraceArgs) -> ExitCode {
    let (dir, filter) = match reading::open(global, &args.filter) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let scope = filter.scope(Scope::Both);
    let id = match &args.id {
        Some(id) => id.trim().to_ascii_lowercase(),
        None => match latest_session(&dir, &filter, scope) {
            Some(id) => id,
            None => {
                say("no events match");
                return ExitCode::Success;
            }
        },
    };
    let filter = filter.with_needle(&id);
    let mut scan = Scan::new(&dir, &filter, scope, Order::OldestFirst);
    let found: Vec<Found> = scan.by_ref().filter(|f| belongs(&f.record, &id)).collect();
    scan.finish();
    if found.is_empty() {
        say(&format!("no events of a session or trace {id}"));
        return ExitCode::Failure;
    }
    let trees = build(found);
    let format = args.output.format();
    let mut out = reading::stdout();
    let result = (|| {
        if format.is_json() {
            let mut json = JsonOut::new(&mut out, format == Format::Jsonl);
            for t in &trees {
                json.item(t)?;
            }
            json.finish()?;
            return Ok(());
        }
        let style = Style::new(format == Format::Terminal);
        for t in &trees {
            out.write_all(text(t, &style, format.width()).as_bytes())?;
        }
        out.flush()
    })();
    reading::written(result)
}

fn text(t: &SessionTree, style: &Style, width: Option<usize>) -> String {
    let mut out = String::new();
    let invalid = if t.invalid > 0 {
        format!(
            ", {}",
            style.paint(Paint::Red, &format!("{} invalid", t.invalid))
        )
    } else {
        String::new()
    };
    out += &format!(
        "{} {}  {}\n",
        style.paint(Paint::Bold, "session"),
        style.paint(Paint::Bold, t.session_id.as_deref().unwrap_or("(unknown)")),
        style.paint(Paint::Dim, &format!("trace {}", t.trace_id)),
    );
    out += &format!(
        "  {}  {}  {} event{}{invalid}\n",
        t.start,
        duration_text(t.duration_ms),
        t.events,
        if t.events == 1 { "" } else { "s" }
    );
    for (i, run) in t.runs.iter().enumerate() {
        let last_run = i + 1 == t.runs.len();
        let (branch, stem) = if last_run {
            ("└─", "   ")
        } else {
            ("├─", "│  ")
        };
        let label = match (&run.agent_id, &run.agent_type) {
            (None, _) => "main agent".to_string(),
            (Some(id), Some(kind)) => format!("{kind} {id}"),
            (Some(id), None) => format!("agent {id}"),
        };
        let n = run.events.len();
        let row = [
            (branch.to_string(), Paint::None),
            (label, Paint::Magenta),
            (run.start.clone(), Paint::Dim),
            match run.never_stopped {
                true => ("never stopped".to_string(), Paint::Yellow),
                false => (duration_text(run.duration_ms), Paint::None),
            },
            (
                format!("{n} event{}", if n == 1 { "" } else { "s" }),
                Paint::None,
            ),
        ];
        out += &table::line(&row, &[], style, width);
        out.push('\n');
        let rows: Vec<[(String, Paint); 4]> = run
            .events
            .iter()
            .enumerate()
            .map(|(j, e)| {
                let twig = if j + 1 == n { "└─" } else { "├─" };
                let name = e.record.name.as_deref().unwrap_or("(no name)");
                let offset = format!("+{}", duration_text(e.offset_ms));
                if e.valid {
                    [
                        (format!("{stem}{twig}"), Paint::None),
                        (offset, Paint::Dim),
                        (name.to_string(), Paint::Cyan),
                        (attributes_text(&e.record.attributes), Paint::None),
                    ]
                } else {
                    [
                        (format!("{stem}{twig}"), Paint::None),
                        (offset, Paint::Dim),
                        (format!("✗ {name}"), Paint::Red),
                        (format!("invalid: {}", errors_text(&e.record)), Paint::Red),
                    ]
                }
            })
            .collect();
        let mut widths = vec![0; 3];
        for r in &rows {
            for (w, (text, _)) in widths.iter_mut().zip(r.iter()) {
                *w = (*w).max(text.chars().count());
            }
        }
        for r in &rows {
            out += &table::line(r, &widths, style, width);
            out.push('\n');
        }
    }
    out
}
