//! `event-publisher install` / `uninstall`: placeholder replaced in this change.

use crate::cli::InstallArgs;
use crate::exit_code::ExitCode;

pub fn run(_args: &InstallArgs, _uninstall: bool) -> ExitCode {
    eprintln!("event-publisher: install is not built yet");
    ExitCode::Failure
}
