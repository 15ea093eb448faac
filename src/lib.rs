//! event-publisher turns the `<EVENT>` markers that Claude Code agents print
//! into validated, enriched, traceable events.
//!
//! The pipeline, one module per stage:
//! `input` (hook payload, transcript) → `extract` (markers) → `validate`
//! (JSON Schemas) → `enrich` (ids, trace context, records) → `sinks` (fs,
//! otlp), with `redact` between validation and enrichment; `watchdog` bounds
//! a hook call's time. `pipeline` runs the stages; `app` holds the use
//! cases (`publish`, `replay`); `commands` holds one
//! module per subcommand; `cli` parses and `config` resolves the settings.
//! `bus` acts on stored events: `emit`, subscribers and their dispatcher.

mod analysis;
mod app;
mod bus;
mod cli;
mod commands;
mod config;
mod enrich;
mod error;
mod exit_code;
mod extract;
pub mod ids;
mod input;
mod pipeline;
mod redact;
mod serve;
mod sinks;
mod store;
mod validate;
mod view;
mod watchdog;

// What the binary, the benchmarks, fuzz targets and examples, and the
// integration tests use. The rest is private to the crate, so that the
// dead-code lint sees everything.
pub use bus::webhook;
pub use commands::run_command_line;
pub use enrich::Record;
pub use enrich::enricher::format_time;
pub use exit_code::ExitCode;
pub use extract::Scanner;
pub use input::{Payload, Source, transcript};
pub use redact::Redactor;
pub use sinks::FsSink;
pub use store::{Problems, follow, journal};
pub use validate::Problem;
