//! event-publisher turns the `<EVENT>` markers that Claude Code agents print
//! into validated, enriched, traceable events, stores them in `.events/`,
//! and acts on them.
//!
//! Read top-down: the pipeline's stages, the store and its follower, the
//! application layer, then the command line. Which module may use which is
//! the README's "Architecture" section, checked by
//! `tests/integration/architecture.rs`.

// Foundations, used everywhere.
mod error;
mod exit_code;
pub mod ids;
mod watchdog;

// The pipeline, one module per stage.
// 1. The hook payload and the transcripts it points at.
mod input;
// 2. `<EVENT>` markers in texts.
mod extract;
// 3. The envelope and each event's JSON Schema.
mod validate;
// 4. Records: ids, trace context, session, agent and tool call; spans.
mod enrich;
// 5. Secrets out of events, records and spans.
mod redact;
// 6. The fs sink and the OTLP sink.
mod sinks;
// The stages run in order.
mod pipeline;

// The store: `.events/`, its one reader, and the follower.
mod store;
// What people see: escaping, tables, formats.
mod view;

// The application layer: settings, then the use cases: the hook and
// replay (`app`), the reading views (`analysis`), the event bus, the web
// view.
mod analysis;
mod app;
mod bus;
mod config;
mod serve;

// The command line.
mod cli;
mod commands;

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
