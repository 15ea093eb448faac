//! Process exit codes, named in one place.
//!
//! Claude Code reads a hook's exit code: 0 is success, 2 blocks the agent
//! (stderr goes to Claude) and anything else is a non-blocking error shown to
//! the user. event-publisher never returns 2: its own failures must not block
//! an agent.

/// How the process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Done; for `publish`, also every failure of the tool itself.
    Success,
    /// A command found what it was asked to look for wrong (`check` saw an
    /// invalid event) or could not do its work.
    Failure,
    /// The command line could not be understood (EX_USAGE).
    Usage,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Failure => 1,
            ExitCode::Usage => 64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_blocks() {
        for c in [ExitCode::Success, ExitCode::Failure, ExitCode::Usage] {
            assert_ne!(c.code(), 2, "exit 2 would block the agent");
        }
    }
}
