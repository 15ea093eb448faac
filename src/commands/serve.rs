//! `event-publisher serve`: resolves the events directory, says where it
//! listens, and runs the server (see `serve`).

use super::reading::{self, say};
use crate::cli::{GlobalArgs, ServeArgs};
use crate::exit_code::ExitCode;
use crate::serve::{Options, serve};

pub fn run(global: &GlobalArgs, args: &ServeArgs) -> ExitCode {
    let config = reading::config(global);
    if !args.bind.is_loopback() {
        say(&format!(
            "warning: listening on {}, reachable from other machines: anyone who can reach it reads every event",
            args.bind
        ));
    }
    let options = Options {
        bind: args.bind,
        port: args.port,
    };
    let open = args.open;
    let result = serve(config.events_dir.clone(), options, |addr| {
        let host = match addr.ip() {
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let url = format!("http://{host}:{}/", addr.port());
        println!("listening on {url}");
        if open {
            let opener = if cfg!(target_os = "macos") {
                "open"
            } else {
                "xdg-open"
            };
            if let Err(e) = std::process::Command::new(opener).arg(&url).spawn() {
                say(&format!(
                    "cannot open a browser ({opener}: {e}); open {url}"
                ));
            }
        }
    });
    match result {
        Ok(()) => ExitCode::Success,
        Err(e) => {
            say(e.message());
            ExitCode::Failure
        }
    }
}
