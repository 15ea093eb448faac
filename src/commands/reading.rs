//! What the reading commands share: finding `.events/` (as `publish`
//! does), building the filter, and writing to stdout without failing when
//! the reader goes away (`ls | head`).

use std::io::{self, BufWriter, StdoutLock};

use chrono::Utc;

use crate::cli::{FilterArgs, GlobalArgs};
use crate::config::{self, Config, Sources};
use crate::exit_code::ExitCode;
use crate::store::{EventsDir, Filter};

/// The resolved settings; their warnings go to stderr.
pub fn config(global: &GlobalArgs) -> Config {
    let config = config_quietly(global);
    for w in &config.warnings {
        say(w);
    }
    config
}

/// The resolved settings, their warnings kept in `Config::warnings`.
pub fn config_quietly(global: &GlobalArgs) -> Config {
    let sources = Sources::process();
    let project = config::project_dir(global.project_dir.as_deref(), sources.env, None);
    Config::resolve(global.settings(), project, &sources)
}

/// The events directory, or the exit code to end with: success when there
/// is none yet (nothing stored is not an error).
pub fn events_dir(config: &Config) -> Result<EventsDir, ExitCode> {
    match EventsDir::open(&config.events_dir) {
        Ok(Some(dir)) => Ok(dir),
        Ok(None) => {
            say(&format!(
                "no events yet: {} does not exist",
                config.events_dir.display()
            ));
            Err(ExitCode::Success)
        }
        Err(e) => {
            say(e.message());
            Err(ExitCode::Failure)
        }
    }
}

/// The events directory and the parsed filters: what every reading command
/// starts from. An error has already been said.
pub fn open(global: &GlobalArgs, args: &FilterArgs) -> Result<(EventsDir, Filter), ExitCode> {
    let dir = events_dir(&config(global))?;
    Ok((dir, filter(args)?))
}

pub fn filter(args: &FilterArgs) -> Result<Filter, ExitCode> {
    Filter::new(&args.query(), Utc::now()).map_err(|e| {
        say(e.message());
        ExitCode::Usage
    })
}

pub fn stdout() -> BufWriter<StdoutLock<'static>> {
    BufWriter::with_capacity(64 * 1024, io::stdout().lock())
}

/// The exit code for how writing went: a closed pipe is a normal end.
pub fn written(r: io::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::Success,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::Success,
        Err(e) => {
            say(&format!("writing the output: {e}"));
            ExitCode::Failure
        }
    }
}

pub use crate::view::say;
