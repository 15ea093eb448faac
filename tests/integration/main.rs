//! The integration tests: one crate (one link step), one module per
//! command or concern, all driving the real binary through `test::Test`.

mod test;

mod agent;
mod bad_input;
mod check;
mod crash;
mod filesystem;
mod install;
mod publish;
mod redaction;
mod watchdog;
