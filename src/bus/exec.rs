//! The exec subscriber: runs a command per event. The record JSON is on its
//! stdin; `EVENT_ID`, `EVENT_NAME`, `TRACEPARENT` (the event's trace and
//! span), `CLAUDE_PROJECT_DIR` and `EVENT_PUBLISHER_CAUSED_BY` (= the event
//! id, so an `event-publisher emit` run by the command is linked to it) are
//! in its environment; it runs in the project directory, in a process group
//! of its own that is killed whole at the timeout. Exit 0 is delivered; any
//! other end is tried again; a command that cannot be started is dead.
//!
//! `CLAUDECODE` and `CLAUDE_CODE_SESSION_ID` are removed from its
//! environment: it does not run inside a Claude Code tool call, even when
//! the dispatcher was started by a hook.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::{Action, Outcome};
use crate::enrich::Record;

/// How much of the command's stderr is kept for the error message.
const STDERR_KEPT: usize = 2048;

pub fn deliver(action: &Action, record: &Record, project: &Path, timeout: Duration) -> Outcome {
    let mut cmd = match action {
        Action::Exec { argv } => {
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        }
        Action::Shell { command } => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(command);
            c
        }
        _ => return Outcome::Dead("not an exec subscriber".into()),
    };
    let body = match serde_json::to_vec(record) {
        Ok(b) => b,
        Err(e) => return Outcome::Dead(format!("cannot write the record: {e}")),
    };
    cmd.env("EVENT_ID", record.id.to_string())
        .env("EVENT_NAME", record.name.as_deref().unwrap_or(""))
        .env("TRACEPARENT", super::traceparent(record))
        .env("CLAUDE_PROJECT_DIR", project)
        .env("EVENT_PUBLISHER_CAUSED_BY", record.id.to_string())
        .env_remove("CLAUDECODE")
        .env_remove("CLAUDE_CODE_SESSION_ID")
        .current_dir(project)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::Dead(format!("cannot run {}: {e}", shown(action))),
    };
    let pid = child.id() as i32;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its stdin must not stall us.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&body);
        });
    }
    let mut stderr = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.by_ref().take(STDERR_KEPT as u64).read_to_end(&mut kept);
            let _ = std::io::copy(s, &mut std::io::sink());
        }
        kept
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = match rx.recv_timeout(timeout) {
        Ok(s) => s,
        Err(_) => {
            // SAFETY: a plain kill(2) of the command's own process group.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let _ = rx.recv();
            return Outcome::Retry {
                why: format!(
                    "{} did not exit within {} ms; killed",
                    shown(action),
                    timeout.as_millis()
                ),
                after: None,
            };
        }
    };
    // Children the command left behind must not outlive it with our pipe.
    // SAFETY: as above.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let kept = err_reader.join().unwrap_or_default();
    match status {
        Ok(s) if s.success() => Outcome::Delivered,
        Ok(s) => {
            let how = match s.code() {
                Some(c) => format!("exited with {c}"),
                None => "was killed by a signal".to_string(),
            };
            let text = String::from_utf8_lossy(&kept);
            let tail = super::one_line(&text, 200);
            Outcome::Retry {
                why: if tail.is_empty() {
                    format!("{} {how}", shown(action))
                } else {
                    format!("{} {how}: {tail}", shown(action))
                },
                after: None,
            }
        }
        Err(e) => Outcome::Retry {
            why: format!("{}: {e}", shown(action)),
            after: None,
        },
    }
}

fn shown(action: &Action) -> String {
    match action {
        Action::Exec { argv } => super::one_line(&argv[0], 80),
        Action::Shell { .. } => "the shell command".to_string(),
        _ => String::new(),
    }
}
