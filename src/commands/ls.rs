//! `event-publisher ls` (alias `query`): the events that match, oldest
//! first, one line each: time, name, agent and attributes.

use std::io::Write;

use super::reading::{self, say};
use crate::cli::{GlobalArgs, LsArgs};
use crate::exit_code::ExitCode;
use crate::store::{Order, Scan, Scope};
use crate::view::{Format, JsonOut, Style, Table, event_row};

pub fn run(global: &GlobalArgs, args: &LsArgs) -> ExitCode {
    let (dir, filter) = match reading::open(global, &args.filter) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let format = args.output.format();
    let order = if args.reverse {
        Order::NewestFirst
    } else {
        Order::OldestFirst
    };
    let mut scan = Scan::new(&dir, &filter, filter.scope(Scope::Valid), order);
    let limit = args.limit.unwrap_or(usize::MAX);
    let mut out = reading::stdout();
    let result = (|| {
        if format.is_json() {
            let mut json = JsonOut::new(&mut out, format == Format::Jsonl);
            for found in scan.by_ref().take(limit) {
                json.item(&found.record)?;
            }
            json.finish()?;
            return Ok(());
        }
        let mut table = Table::new();
        for found in scan.by_ref().take(limit) {
            table.push(event_row(&found.record));
        }
        if table.is_empty() && format == Format::Terminal {
            say("no events match");
        }
        let style = Style::new(format == Format::Terminal);
        for line in table.lines(&style, format.width()) {
            writeln!(out, "{line}")?;
        }
        out.flush()
    })();
    scan.finish();
    reading::written(result)
}
