//! Starting the dispatcher without the user: `publish` and `emit` read the
//! subscribers of the config, give each new one its cursor ("now", before
//! the events of this call are stored, so they are not skipped), and, when
//! a new event is one a subscriber is on and no dispatcher holds the lock,
//! start one detached (`dispatch --idle-exit 60`) and return at once: the
//! hook never waits for delivery.
//!
//! `EVENT_PUBLISHER_AUTO_DISPATCH=0` turns the start off (then run
//! `event-publisher dispatch` yourself).

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use super::state::StateDir;
use super::subscriber::Subscribers;
use crate::config::Config;
use crate::enrich::Record;

/// How long a started dispatcher waits with nothing to do before it ends.
pub const IDLE_EXIT_SECS: u64 = 60;

/// The config's subscribers, each new one registered; `None` when there
/// are none. Problems are returned as lines for the caller to say.
pub fn prepare(config: &Config, warnings: &mut Vec<String>) -> Option<Subscribers> {
    if config.subscribers.is_empty() {
        return None;
    }
    let mut subs = Subscribers::parse(&config.subscribers);
    warnings.append(&mut subs.warnings);
    if subs.is_empty() {
        return None;
    }
    let names: Vec<&str> = subs.list.iter().map(|s| s.name.as_str()).collect();
    warnings.extend(StateDir::new(&config.events_dir).register(&names));
    Some(subs)
}

/// Starts a detached dispatcher when one of `new` is for a subscriber and
/// none runs. Returns what went wrong, if anything.
pub fn kick(config: &Config, subs: &Subscribers, new: &[Record]) -> Option<String> {
    if !config.auto_dispatch || !new.iter().any(|r| subs.any_on(r)) {
        return None;
    }
    if StateDir::new(&config.events_dir).is_locked() {
        return None;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return Some(format!("cannot start the dispatcher: {e}")),
    };
    let spawned = Command::new(exe)
        .arg("dispatch")
        .arg("--idle-exit")
        .arg(IDLE_EXIT_SECS.to_string())
        .arg("--project-dir")
        .arg(&config.project_dir)
        .arg("--events-dir")
        .arg(&config.events_dir)
        .arg("--schemas-dir")
        .arg(&config.schemas_dir)
        .env_remove("CLAUDECODE")
        .env_remove("CLAUDE_CODE_SESSION_ID")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    match spawned {
        Ok(_) => None,
        Err(e) => Some(format!("cannot start the dispatcher: {e}")),
    }
}
