//! event-publisher turns the `<EVENT>` markers that Claude Code agents print
//! into validated, enriched, traceable events.
//!
//! The pipeline, one module per stage:
//! `input` (hook payload, transcript) → `extract` (markers) → `validate`
//! (JSON Schemas) → `enrich` (ids, trace context, records) → `sinks` (fs,
//! otlp), with `redact` between validation and enrichment; `watchdog` bounds
//! a hook call's time. `pipeline` runs the stages; `commands` holds one
//! module per subcommand; `cli` parses and `config` resolves the settings.
//! `bus` acts on stored events: `emit`, subscribers and their dispatcher.

pub mod analysis;
pub mod bus;
pub mod cli;
pub mod commands;
pub mod config;
pub mod enrich;
pub mod error;
pub mod exit_code;
pub mod extract;
pub mod ids;
pub mod input;
pub mod pipeline;
pub mod redact;
pub mod serve;
pub mod sinks;
pub mod store;
pub mod validate;
pub mod view;
pub mod watchdog;
