//! The command line, as parsed by clap. Turning it into settings happens in
//! `config`; this module only describes what can be typed.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
