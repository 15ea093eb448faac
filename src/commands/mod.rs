//! One module per subcommand; each takes its parsed arguments and returns
//! the process exit code. `reading` holds what the commands that read
//! `.events/` share.

pub mod check;
pub mod flush;
pub mod gc;
pub mod install;
pub mod ls;
pub mod publish;
pub mod reading;
pub mod replay;
pub mod show;
pub mod stats;
pub mod tail;
pub mod trace;
