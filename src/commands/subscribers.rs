//! `event-publisher subscribers`: each subscriber of the config files with
//! its cursor, lag (events it is on, stored after its cursor), delivered,
//! retried and dead counts, and its last error.

use std::io::Write;

use serde_json::json;

use crate::bus::Subscribers;
use crate::bus::dispatcher::pending;
use crate::bus::state::StateDir;
use crate::cli::{GlobalArgs, SubscribersArgs};
use crate::commands::reading::{self, say};
use crate::exit_code::ExitCode;

/// Lag is counted up to this many events.
const LAG_CAP: usize = 100_000;

pub fn run(global: &GlobalArgs, args: &SubscribersArgs) -> ExitCode {
    let config = reading::config(global);
    let subs = Subscribers::parse(&config.subscribers);
    for w in &subs.warnings {
        say(w);
    }
    let states = StateDir::new(&config.events_dir);
    let rows: Vec<serde_json::Value> = subs
        .list
        .iter()
        .map(|s| {
            let state = states.load(&s.name);
            let lag = state
                .as_ref()
                .map(|st| pending(&config.events_dir, s, st, LAG_CAP));
            let st = state.unwrap_or_default();
            json!({
                "name": s.name,
                "kind": s.action.kind(),
                "cursor": (!st.cursor.is_empty()).then_some(&st.cursor),
                "lag": lag,
                "delivered": st.delivered,
                "retried": st.retried,
                "dead": states.dead_letters(&s.name).len(),
                "disabled": states.disabled(&s.name),
                "last_error": st.last_error,
                "last_error_at": st.last_error_at,
            })
        })
        .collect();
    let mut out = reading::stdout();
    let r = if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        )
    } else if rows.is_empty() {
        say("no subscribers in the config files");
        Ok(())
    } else {
        table(&mut out, &rows)
    };
    reading::written(r.and_then(|()| out.flush()))
}

fn table(out: &mut impl Write, rows: &[serde_json::Value]) -> std::io::Result<()> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::String(s) => crate::bus::one_line(s, 120),
        other => other.to_string(),
    };
    let width = rows
        .iter()
        .map(|r| text(&r["name"]).chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(
        out,
        "{:width$}  {:7}  {:>6}  {:>9}  {:>7}  {:>4}  {:22}  LAST ERROR",
        "NAME", "KIND", "LAG", "DELIVERED", "RETRIED", "DEAD", "CURSOR"
    )?;
    for r in rows {
        let mut error = text(&r["last_error"]);
        if let Some(why) = r["disabled"].as_str() {
            error = format!("DISABLED ({})", crate::bus::one_line(why, 120));
        }
        writeln!(
            out,
            "{:width$}  {:7}  {:>6}  {:>9}  {:>7}  {:>4}  {:22}  {}",
            text(&r["name"]),
            text(&r["kind"]),
            text(&r["lag"]),
            text(&r["delivered"]),
            text(&r["retried"]),
            text(&r["dead"]),
            text(&r["cursor"]),
            error
        )?;
    }
    Ok(())
}
