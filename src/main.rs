//! The `event-publisher` binary: parse the command line, run the command,
//! turn the outcome into an exit code.

use clap::Parser;
use event_publisher::cli::{Cli, Command, PublishCli};
use event_publisher::commands;
use event_publisher::exit_code::ExitCode;

fn main() -> std::process::ExitCode {
    // The hook's own command line is parsed without the other commands'.
    let is_hook = std::env::args_os().nth(1).is_some_and(|a| a == "publish");
    let parsed = if is_hook {
        PublishCli::try_parse_hook(std::env::args_os())
    } else {
        Cli::try_parse()
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
            }
            .into();
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
    let code = std::panic::catch_unwind(|| run(&cli)).unwrap_or(match cli.command {
        Command::Publish(_) => ExitCode::Success,
        _ => ExitCode::Failure,
    });
    code.into()
}

fn run(cli: &Cli) -> ExitCode {
    match &cli.command {
        Command::Publish(a) => commands::publish::run(&cli.global, a),
        Command::Check(a) => commands::check::run(&cli.global, a),
        Command::Install(a) => commands::install::run(&cli.global, a, false),
        Command::Uninstall(a) => commands::install::run(&cli.global, a, true),
        Command::Flush(a) => commands::flush::run(&cli.global, a),
        Command::Ls(a) => commands::ls::run(&cli.global, a),
        Command::Show(a) => commands::show::run(&cli.global, a),
        Command::Tail(a) => commands::tail::run(&cli.global, a),
        Command::Stats(a) => commands::stats::run(&cli.global, a),
        Command::Trace(a) => commands::trace::run(&cli.global, a),
        Command::Replay(a) => commands::replay::run(&cli.global, a),
        Command::Gc(a) => commands::gc::run(&cli.global, a),
    }
}
