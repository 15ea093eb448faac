//! What a command prints: the text view (coloured and fitted to the width
//! on a terminal, plain when piped), JSON, or JSON Lines.

use std::io::IsTerminal;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The text view on a terminal: colour, lines cut to the width.
    Terminal,
    /// The text view piped: no colour, nothing cut.
    Plain,
    Json,
    Jsonl,
}

impl Format {
    /// JSON or JSON Lines when asked for, else the text view for where
    /// stdout goes.
    pub fn choose(json: bool, jsonl: bool) -> Format {
        if json {
            Format::Json
        } else if jsonl {
            Format::Jsonl
        } else if std::io::stdout().is_terminal() {
            Format::Terminal
        } else {
            Format::Plain
        }
    }

    pub fn is_json(self) -> bool {
        matches!(self, Format::Json | Format::Jsonl)
    }

    /// The terminal's width when lines should be cut to it.
    pub fn width(self) -> Option<usize> {
        if self != Format::Terminal {
            return None;
        }
        rustix::termios::tcgetwinsize(std::io::stdout())
            .ok()
            .map(|w| w.ws_col as usize)
            .filter(|w| *w >= 20)
    }
}
