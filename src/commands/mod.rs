//! One module per subcommand; each takes its parsed arguments and returns
//! the process exit code.

pub mod check;
pub mod flush;
pub mod install;
pub mod publish;
