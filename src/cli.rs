//! The command line, as parsed by clap. Turning it into settings happens in
//! `config`; this module only describes what can be typed.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::store::Query;
use crate::validate::UnknownEvents;

/// Turns the <EVENT> markers Claude Code agents print into validated,
/// traceable events in .events/ (and an OTLP collector).
#[derive(Debug, Parser)]
#[command(name = "event-publisher", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// `event-publisher publish` parsed on its own. The hook runs on every tool
/// call, and building the whole command tree, every command's arguments,
/// cost it more than the parse itself. Tests prove it takes the same
/// arguments as `Cli`'s `publish`.
#[derive(Debug, Parser)]
#[command(max_term_width = 100)]
pub struct PublishCli {
    // The command's own arguments first, as `Cli` lists them.
    #[command(flatten)]
    pub args: PublishArgs,
    #[command(flatten)]
    pub global: GlobalArgs,
}

impl PublishCli {
    /// The doc line of `Command::Publish`, for `publish --help`.
    pub const ABOUT: &str = "The hook command: read one hook payload on stdin, store its events";

    /// Parses `<argv0> publish <args>`, as `Cli` would.
    pub fn try_parse_hook(
        mut args: impl Iterator<Item = std::ffi::OsString>,
    ) -> Result<Cli, clap::Error> {
        use clap::CommandFactory;
        let argv0 = args.next().unwrap_or_default();
        let name = std::path::Path::new(&argv0)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "event-publisher".into());
        let _publish = args.next();
        let mut command = Self::command()
            .name("publish")
            .bin_name(format!("{name} publish"))
            .about(Self::ABOUT);
        let matches = command.try_get_matches_from_mut(
            std::iter::once(std::ffi::OsString::from("publish")).chain(args),
        )?;
        let parsed = <Self as clap::FromArgMatches>::from_arg_matches(&matches)
            .map_err(|e| e.format(&mut command))?;
        Ok(Cli {
            global: parsed.global,
            command: Command::Publish(parsed.args),
        })
    }
}

/// Settings every command takes. Each overrides the environment and the
/// config files (see README, Configuration).
#[derive(Debug, Default, Args)]
pub struct GlobalArgs {
    /// The project directory [default: $CLAUDE_PROJECT_DIR, else the payload's cwd, else .]
    #[arg(long, global = true, value_name = "DIR")]
    pub project_dir: Option<PathBuf>,
    /// Where records are stored [default: <project>/.events]
    #[arg(long, global = true, value_name = "DIR")]
    pub events_dir: Option<PathBuf>,
    /// Where event schemas are read from [default: <project>/schemas]
    #[arg(long, global = true, value_name = "DIR")]
    pub schemas_dir: Option<PathBuf>,
    /// What to do with events whose name has no schema
    #[arg(long, global = true, value_enum, value_name = "POLICY")]
    pub unknown_events: Option<UnknownEvents>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The hook command: read one hook payload on stdin, store its events.
    Publish(PublishArgs),
    /// For agent authors: list every marker in texts or payloads, with each schema error.
    Check(CheckArgs),
    /// Add the event-publisher hooks to a project's (or the user's) .claude/settings.json.
    Install(InstallArgs),
    /// Remove exactly the hooks `install` added.
    Uninstall(InstallArgs),
    /// Send every OTLP request waiting in the spool; report what was sent and what is left.
    Flush(FlushArgs),
    /// List the stored events that match, oldest first, one line each.
    #[command(visible_alias = "query")]
    Ls(LsArgs),
    /// Show one record in full (an id, or a unique prefix of one).
    Show(ShowArgs),
    /// The last events; with -f, each new one as it lands.
    Tail(TailArgs),
    /// Counts by name, agent and validity; durations of start/finish pairs.
    Stats(StatsArgs),
    /// A session as a tree: subagent runs and their events [default: the latest session].
    Trace(TraceArgs),
    /// Extract events from Claude Code transcripts, as the hook would have.
    Replay(ReplayArgs),
    /// Delete old records and dead letters (a later replay stores them again).
    Gc(GcArgs),
    /// A live web view of the events (timeline, sessions, waterfall), a JSON API and /metrics.
    Serve(ServeArgs),
    /// Emit an event from a script: validated and stored like a marker's.
    Emit(EmitArgs),
    /// Deliver stored events to the subscribers of the config files.
    Dispatch(DispatchArgs),
    /// Each subscriber with its cursor, lag, counts and last error.
    Subscribers(SubscribersArgs),
}

/// The filters every reading command takes.
#[derive(Debug, Default, Clone, Args)]
#[command(next_help_heading = "Filters")]
pub struct FilterArgs {
    /// Event names matching this glob (e.g. 'urlCacher.cache*')
    #[arg(long, value_name = "GLOB")]
    pub name: Option<String>,
    /// Events of this agent: an agent id (or prefix), an agent type, or main
    #[arg(long, value_name = "ID|TYPE")]
    pub agent: Option<String>,
    /// Events of this session (an id or a prefix)
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Events of this trace (a trace id or a prefix)
    #[arg(long, value_name = "ID")]
    pub trace: Option<String>,
    /// Events at or after this time: 15m, 2h, 7d (ago), 2025-08-12, or RFC 3339
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Events before this time (same forms as --since)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// The dead letters (rejected events) instead of the valid events
    #[arg(long)]
    pub invalid: bool,
    /// Events whose attribute ATTR equals VALUE (repeatable; all must hold)
    #[arg(long = "where", value_name = "ATTR=VALUE")]
    pub wheres: Vec<String>,
}

/// Output for scripts instead of the text view.
#[derive(Debug, Default, Clone, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Print JSON (records as stored, in one array)
    #[arg(long, conflicts_with = "jsonl")]
    pub json: bool,
    /// Print JSON Lines (one record per line)
    #[arg(long)]
    pub jsonl: bool,
}

impl FilterArgs {
    pub fn query(&self) -> Query {
        Query {
            name: self.name.clone(),
            agent: self.agent.clone(),
            session: self.session.clone(),
            trace: self.trace.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
            invalid: self.invalid,
            wheres: self.wheres.clone(),
        }
    }
}

impl OutputArgs {
    pub fn format(&self) -> crate::view::Format {
        crate::view::Format::choose(self.json, self.jsonl)
    }
}

#[derive(Debug, Default, Args)]
pub struct LsArgs {
    /// Show at most N events
    #[arg(long, short = 'n', value_name = "N")]
    pub limit: Option<usize>,
    /// Newest first
    #[arg(long, short = 'r')]
    pub reverse: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Default, Args)]
pub struct ShowArgs {
    /// The record id, or a prefix of it that only one record has
    #[arg(value_name = "ID")]
    pub id: String,
    /// Print the record as stored (JSON)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Default, Args)]
pub struct TailArgs {
    /// How many of the latest events to show first
    #[arg(long, short = 'n', value_name = "N", default_value_t = 10)]
    pub lines: usize,
    /// Keep running and print each new event as it lands (Ctrl-C ends)
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// With -f: say "following" on stderr once every event stored from
    /// then on will be printed (for scripts and tests that wait for it)
    #[arg(long, requires = "follow", hide = true)]
    pub ready_line: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Default, Args)]
pub struct StatsArgs {
    /// Pair start and finish events on this attribute only [default: every attribute both carry]
    #[arg(long, value_name = "ATTR")]
    pub pair_key: Option<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Default, Args)]
pub struct TraceArgs {
    /// A session id or trace id (or a prefix) [default: the session of the latest event]
    #[arg(value_name = "SESSION|TRACE")]
    pub id: Option<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Default, Args)]
pub struct ReplayArgs {
    /// Transcripts (.jsonl) or directories holding them (e.g. ~/.claude/projects)
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// No progress bar, even on a terminal
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    pub otlp: OtlpArgs,
}

#[derive(Debug, Default, Args)]
pub struct GcArgs {
    /// Delete events older than this (e.g. 30d, 12h, 2w)
    #[arg(long, value_name = "AGE", required_unless_present = "keep")]
    pub older_than: Option<String>,
    /// Keep only the newest N events (valid and dead letters together)
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Say what would be deleted; delete nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Where and how the OTLP sink sends (see README, OTLP). Each overrides the
/// environment and the config files.
#[derive(Debug, Default, Clone, Args)]
pub struct OtlpArgs {
    /// OTLP collector base URL, e.g. http://localhost:4318 (turns the sink on)
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// OTLP transport
    #[arg(long, value_name = "PROTOCOL", value_parser = ["grpc", "http/protobuf"])]
    pub otlp_protocol: Option<String>,
    /// A header sent to the collector, NAME=VALUE (repeatable)
    #[arg(long = "otlp-header", value_name = "NAME=VALUE")]
    pub otlp_headers: Vec<String>,
    /// Export deadline in milliseconds [default: 300]
    #[arg(long, value_name = "MS")]
    pub otlp_timeout_ms: Option<u64>,
    /// Turn the OTLP sink off for this run
    #[arg(long)]
    pub no_otlp: bool,
}

#[derive(Debug, Default, Args)]
pub struct FlushArgs {
    #[command(flatten)]
    pub otlp: OtlpArgs,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Default, Args)]
pub struct PublishArgs {
    /// Do not tell the agent (hookSpecificOutput.additionalContext) about rejected events
    #[arg(long)]
    pub no_feedback: bool,
    /// Print a summary line on stderr even when it is not a terminal
    #[arg(short, long)]
    pub verbose: bool,
    /// Largest payload read from stdin, in bytes
    #[arg(long, value_name = "BYTES")]
    pub max_payload_bytes: Option<u64>,
    /// Largest marker, in bytes
    #[arg(long, value_name = "BYTES")]
    pub max_marker_bytes: Option<u64>,
    /// Most markers read from one payload (and its transcript)
    #[arg(long, value_name = "N")]
    pub max_markers: Option<u64>,
    /// Most bytes read from one transcript
    #[arg(long, value_name = "BYTES")]
    pub max_transcript_bytes: Option<u64>,
    #[command(flatten)]
    pub otlp: OtlpArgs,
}

#[derive(Debug, Default, Args)]
pub struct CheckArgs {
    /// Files to check: hook payloads (JSON) or any text; - reads stdin [default: -]
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Check this text instead of files
    #[arg(long, value_name = "TEXT", conflicts_with = "files")]
    pub text: Option<String>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Default, Args)]
pub struct InstallArgs {
    /// Change the user's settings.json (in $CLAUDE_CONFIG_DIR, else ~/.claude) instead of
    /// the project's .claude/settings.json
    #[arg(long)]
    pub user: bool,
    /// Show the change without writing it
    #[arg(long)]
    pub dry_run: bool,
    /// The binary the hooks run [default: this binary's absolute path]; for uninstall, remove
    /// only the hooks running it [default: every event-publisher hook]
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// What matters of an argument to someone typing it.
    fn describe(command: &clap::Command) -> Vec<String> {
        let mut args: Vec<String> = command
            .get_arguments()
            .filter(|a| a.get_id() != "help")
            .map(|a| {
                format!(
                    "{} {:?} {:?} {:?} {:?} {:?} {:?}",
                    a.get_id(),
                    a.get_long(),
                    a.get_short(),
                    a.get_help().map(ToString::to_string),
                    a.get_value_names(),
                    a.get_possible_values()
                        .iter()
                        .map(|v| v.get_name().to_string())
                        .collect::<Vec<_>>(),
                    a.get_action(),
                )
            })
            .collect();
        args.sort();
        args
    }

    #[test]
    fn publish_parsed_alone_takes_the_same_arguments_as_the_full_tree() {
        let mut full = Cli::command();
        full.build();
        let publish = full.find_subcommand("publish").unwrap();
        let mut alone = PublishCli::command();
        alone.build();
        assert_eq!(describe(publish), describe(&alone));
        assert!(describe(&alone).len() > 10);
        assert_eq!(
            publish.get_about().map(ToString::to_string).as_deref(),
            Some(PublishCli::ABOUT)
        );
    }

    #[test]
    fn publish_parsed_alone_gives_the_same_command() {
        let argv = [
            "/usr/bin/event-publisher",
            "publish",
            "-v",
            "--project-dir",
            "/p",
            "--max-markers",
            "7",
            "--unknown-events",
            "accept",
            "--otlp-endpoint",
            "http://127.0.0.1:4318",
        ];
        let alone = PublishCli::try_parse_hook(argv.iter().map(Into::into)).unwrap();
        let full = Cli::try_parse_from(argv).unwrap();
        assert_eq!(format!("{alone:?}"), format!("{full:?}"));
        let bad = ["event-publisher", "publish", "--bogus"];
        let alone = PublishCli::try_parse_hook(bad.iter().map(Into::into)).unwrap_err();
        let full = Cli::try_parse_from(bad).unwrap_err();
        assert_eq!(alone.to_string(), full.to_string());
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The port to listen on (0: any free port)
    #[arg(long, value_name = "N", default_value_t = 7475)]
    pub port: u16,
    /// The address to listen on; anything but loopback is reachable from other machines
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Open the page in the default browser
    #[arg(long)]
    pub open: bool,
}

#[derive(Debug, Default, Args)]
pub struct EmitArgs {
    /// The event's name, e.g. urlCacher.cacheRequested
    #[arg(value_name = "NAME")]
    pub name: String,
    /// An attribute KEY=VALUE (repeatable); VALUE is read as JSON when it parses, else as text
    #[arg(long = "attr", value_name = "KEY=VALUE")]
    pub attrs: Vec<String>,
    /// All attributes as one JSON object, or - to read it from stdin
    #[arg(long, value_name = "JSON|-")]
    pub attributes: Option<String>,
    /// The event's own id (an idempotency key: the same id is stored once per session)
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// When the event happened (RFC 3339) [default: now]
    #[arg(long, value_name = "TIME")]
    pub timestamp: Option<String>,
    /// The session whose trace the event joins [default: $EVENT_PUBLISHER_SESSION]
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Print the stored record as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Default, Args)]
pub struct DispatchArgs {
    /// Deliver what is pending, then exit: 0 when all is delivered, 1 otherwise
    #[arg(long)]
    pub once: bool,
    /// With --once: the time limit (e.g. 30s, 2m, 500ms)
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub timeout: String,
    /// Only these subscribers (repeatable) [default: all]
    #[arg(long = "subscriber", value_name = "NAME")]
    pub subscribers: Vec<String>,
    /// Move the cursor of the named subscribers (else of those never run) to
    /// the start of the store, or to a time (replays history into them)
    #[arg(long, value_name = "start|TIME")]
    pub from: Option<String>,
    /// Send a subscriber's dead letters again, then exit
    #[arg(long, value_name = "NAME", conflicts_with_all = ["once", "from", "enable"])]
    pub retry_dead: Option<String>,
    /// Turn a subscriber disabled by a 410 Gone on again, then exit
    #[arg(long, value_name = "NAME", conflicts_with_all = ["once", "from"])]
    pub enable: Option<String>,
    /// Follow mode: exit after this many seconds with nothing to deliver
    #[arg(long, value_name = "SECS", hide = true)]
    pub idle_exit: Option<u64>,
}

#[derive(Debug, Default, Args)]
pub struct SubscribersArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}
