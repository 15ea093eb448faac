//! The integration tests: one crate (one link step), one module per
//! command or concern, driving the real binary through `test::Test`
//! (`architecture` reads the source instead).

mod test;

mod agent;
mod architecture;
mod bad_input;
mod bus;
mod check;
mod clock;
mod collector;
mod crash;
mod filesystem;
mod gc;
mod hostile;
mod install;
mod lifecycle;
mod linking;
mod otlp;
mod publish;
mod read;
mod redaction;
mod replay;
mod serve;
mod stats;
mod tail;
mod watchdog;
