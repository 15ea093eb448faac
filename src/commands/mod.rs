//! One module per subcommand; each takes its parsed arguments and returns
//! the process exit code. `reading` holds what the commands that read
//! `.events/` share. `run_command_line` parses and dispatches.

pub mod check;
pub mod dispatch;
pub mod emit;
pub mod flush;
pub mod gc;
pub mod install;
pub mod ls;
pub mod publish;
pub mod reading;
pub mod replay;
pub mod serve;
pub mod show;
pub mod stats;
pub mod subscribers;
pub mod tail;
pub mod trace;

use clap::Parser;

use crate::cli::{Cli, Command, PublishCli};
use crate::exit_code::ExitCode;

/// Runs the command line `args` (program name first): parses it, runs the
/// command, and returns how the process ends.
pub fn run_command_line(args: Vec<std::ffi::OsString>) -> ExitCode {
    // The hook's own command line is parsed without the other commands'.
    let is_hook = args.get(1).is_some_and(|a| a == "publish");
    let parsed = if is_hook {
        PublishCli::try_parse_hook(args.into_iter())
    } else {
        Cli::try_parse_from(args)
    };
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::Success
                }
                // A hook with a mistyped flag must still not block the agent.
                _ if is_hook => ExitCode::Success,
                _ => ExitCode::Usage,
            };
        }
    };
    // A panic is a bug; for the hook it must still end in exit 0 with one line.
    if matches!(cli.command, Command::Publish(_)) {
        std::panic::set_hook(Box::new(|info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            eprintln!(
                "event-publisher: internal error (please report): {msg} at {}",
                info.location().map(|l| l.to_string()).unwrap_or_default()
            );
        }));
    }
    std::panic::catch_unwind(|| run(&cli)).unwrap_or(match cli.command {
        Command::Publish(_) => ExitCode::Success,
        _ => ExitCode::Failure,
    })
}

fn run(cli: &Cli) -> ExitCode {
    match &cli.command {
        Command::Publish(a) => publish::run(&cli.global, a),
        Command::Check(a) => check::run(&cli.global, a),
        Command::Install(a) => install::run(&cli.global, a, false),
        Command::Uninstall(a) => install::run(&cli.global, a, true),
        Command::Flush(a) => flush::run(&cli.global, a),
        Command::Ls(a) => ls::run(&cli.global, a),
        Command::Show(a) => show::run(&cli.global, a),
        Command::Tail(a) => tail::run(&cli.global, a),
        Command::Stats(a) => stats::run(&cli.global, a),
        Command::Trace(a) => trace::run(&cli.global, a),
        Command::Replay(a) => replay::run(&cli.global, a),
        Command::Gc(a) => gc::run(&cli.global, a),
        Command::Serve(a) => serve::run(&cli.global, a),
        Command::Emit(a) => emit::run(&cli.global, a),
        Command::Dispatch(a) => dispatch::run(&cli.global, a),
        Command::Subscribers(a) => subscribers::run(&cli.global, a),
    }
}
