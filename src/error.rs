//! The error type used across the crate: a one-line message built from
//! context layers, so every failure reads like `reading schema x.json: expected value at line 1`.

use std::fmt;

/// An error carrying a chain of context, printed on one line.
#[derive(Debug)]
pub struct Error {
    message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: one_line(message.into()),
        }
    }

    /// Prefixes the message with what was being done when it failed.
    #[must_use]
    pub fn context(self, what: impl fmt::Display) -> Self {
        Self {
            message: one_line(format!("{what}: {}", self.message)),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

// Hook stderr is read line by line by people and by Claude Code, so
// messages never span lines whatever the underlying error says.
fn one_line(s: String) -> String {
    if s.contains(['\n', '\r']) {
        s.split(['\n', '\r'])
            .filter(|p| !p.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        s
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::new(e.to_string())
    }
}

impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Self {
        Self::new(std::io::Error::from(e).to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::new(e.to_string())
    }
}

/// Adds context to any fallible result, as `anyhow::Context` does.
pub trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T>;
    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().context(what))
    }
    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| e.into().context(what()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_chains_on_one_line() {
        let e = Error::new("bad\nthing").context("reading x");
        assert_eq!(e.to_string(), "reading x: bad thing");
    }

    #[test]
    fn result_context() {
        let r: std::result::Result<(), std::io::Error> =
            Err(std::io::Error::new(std::io::ErrorKind::NotFound, "gone"));
        assert_eq!(
            r.context("opening y").unwrap_err().to_string(),
            "opening y: gone"
        );
    }
}
