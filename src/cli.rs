//! The command line, as parsed by clap: what can be typed, and the flags'
//! layer of settings. The flags of settings are made from the settings
//! table (`config::table`), help included; `config` resolves the layers.

use std::marker::PhantomData;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{FlagGroup, Given, Kind, SETTINGS, Setting, Settings};
use crate::store::Query;

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
    /// `--events-dir`, `--schemas-dir`, `--unknown-events`.
    #[command(flatten)]
    pub settings: SettingFlags<EveryCommand>,
}

impl GlobalArgs {
    /// The global flags as a layer of settings.
    pub fn settings(&self) -> Settings {
        self.settings.settings(&mut Vec::new())
    }
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

/// Where and how the OTLP sink sends (see README, OTLP): `--otlp-*`,
/// `--no-otlp`. Each overrides the environment and the config files.
pub type OtlpArgs = SettingFlags<Sending>;

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
    /// `--no-feedback`.
    #[command(flatten)]
    pub feedback: SettingFlags<Publish>,
    /// Print a summary line on stderr even when it is not a terminal
    #[arg(short, long)]
    pub verbose: bool,
    /// `--max-payload-bytes` and the other caps.
    #[command(flatten)]
    pub limits: SettingFlags<PublishLimits>,
    #[command(flatten)]
    pub otlp: OtlpArgs,
}

impl PublishArgs {
    /// The flags of `publish` (and the global ones) as a layer of settings.
    pub fn settings(&self, global: &GlobalArgs, warnings: &mut Vec<String>) -> Settings {
        let groups = [
            &global.settings.given,
            &self.feedback.given,
            &self.limits.given,
            &self.otlp.given,
        ];
        Settings::from_flags(groups.into_iter().flatten(), warnings)
    }
}

/// The flags of the settings of one `FlagGroup`, made from the settings
/// table: `augment_args` adds one argument per row, with the row's help;
/// `from_arg_matches` keeps what was given.
pub struct SettingFlags<G> {
    given: Vec<(&'static Setting, Given)>,
    group: PhantomData<G>,
}

/// Which `FlagGroup` a `SettingFlags` holds.
pub trait Group {
    const GROUP: FlagGroup;
}

/// `FlagGroup::Global`.
#[derive(Debug)]
pub struct EveryCommand;
/// `FlagGroup::Publish`.
#[derive(Debug)]
pub struct Publish;
/// `FlagGroup::Limits`.
#[derive(Debug)]
pub struct PublishLimits;
/// `FlagGroup::Otlp`.
#[derive(Debug)]
pub struct Sending;

impl Group for EveryCommand {
    const GROUP: FlagGroup = FlagGroup::Global;
}
impl Group for Publish {
    const GROUP: FlagGroup = FlagGroup::Publish;
}
impl Group for PublishLimits {
    const GROUP: FlagGroup = FlagGroup::Limits;
}
impl Group for Sending {
    const GROUP: FlagGroup = FlagGroup::Otlp;
}

impl<G: Group> SettingFlags<G> {
    fn rows() -> impl Iterator<Item = (&'static Setting, crate::config::table::Flag)> {
        SETTINGS
            .iter()
            .filter_map(|s| Some((s, s.flag?)))
            .filter(|(_, f)| f.group == G::GROUP)
    }

    /// These flags as a layer of settings; flag values in the wrong form
    /// (`--otlp-header` without `=`) are reported.
    pub fn settings(&self, warnings: &mut Vec<String>) -> Settings {
        Settings::from_flags(&self.given, warnings)
    }

    /// The number given to the flag of `key`.
    pub fn number(&self, key: &str) -> Option<u64> {
        self.given.iter().find_map(|(s, g)| match g {
            Given::Number(n) if s.key == key => Some(*n),
            _ => None,
        })
    }
}

impl<G> Default for SettingFlags<G> {
    fn default() -> Self {
        SettingFlags {
            given: Vec::new(),
            group: PhantomData,
        }
    }
}

impl<G> Clone for SettingFlags<G> {
    fn clone(&self) -> Self {
        SettingFlags {
            given: self.given.clone(),
            group: PhantomData,
        }
    }
}

impl<G> std::fmt::Debug for SettingFlags<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.given.iter().map(|(s, g)| (s.key, g)))
            .finish()
    }
}

impl<G: Group> clap::FromArgMatches for SettingFlags<G> {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Self::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        for (s, _) in Self::rows() {
            let id = s.key;
            let given = match s.kind {
                Kind::Bool | Kind::Switch => m.get_flag(id).then_some(Given::Off),
                Kind::Number => m.get_one::<u64>(id).map(|n| Given::Number(*n)),
                Kind::Path => m.get_one::<PathBuf>(id).map(|p| Given::Path(p.clone())),
                Kind::Headers => m
                    .get_many::<String>(id)
                    .map(|items| Given::Items(items.cloned().collect())),
                _ => m.get_one::<String>(id).map(|t| Given::Text(t.clone())),
            };
            if let Some(given) = given {
                self.given.retain(|(row, _)| row.key != id);
                self.given.push((s, given));
            }
        }
        Ok(())
    }
}

impl<G: Group> Args for SettingFlags<G> {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        use clap::builder::{PossibleValue, PossibleValuesParser};
        use clap::{Arg, ArgAction, value_parser};
        // `--help` lists the flags that turn a setting off after the others.
        let mut rows: Vec<_> = Self::rows().collect();
        rows.sort_by_key(|(_, flag)| flag.value_name.is_empty());
        for (s, flag) in rows {
            let arg = Arg::new(s.key).long(flag.long).help(s.help);
            let arg = match s.kind {
                Kind::Bool | Kind::Switch => arg.action(ArgAction::SetTrue),
                Kind::Number => arg.value_parser(value_parser!(u64)),
                Kind::Path => arg.value_parser(value_parser!(PathBuf)),
                Kind::Headers => arg.action(ArgAction::Append),
                Kind::Choice(_) | Kind::Protocol => arg.value_parser(PossibleValuesParser::new(
                    s.kind.choices().iter().map(|c| match c.help {
                        "" => PossibleValue::new(c.name),
                        help => PossibleValue::new(c.name).help(help),
                    }),
                )),
                _ => arg,
            };
            let arg = match flag.value_name {
                "" => arg,
                name => arg.value_name(name),
            };
            cmd = cmd.arg(arg.global(G::GROUP == FlagGroup::Global));
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
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
