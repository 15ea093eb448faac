//! Colour, when the output is a terminal and `NO_COLOR` is not set.

use std::io::IsTerminal;

#[derive(Clone, Copy, Debug)]
pub struct Style {
    color: bool,
}

/// The colours used, as SGR codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paint {
    None,
    Dim,
    Bold,
    Red,
    Green,
    Yellow,
    Magenta,
    Cyan,
}

impl Paint {
    fn code(self) -> &'static str {
        match self {
            Paint::None => "",
            Paint::Dim => "2",
            Paint::Bold => "1",
            Paint::Red => "31",
            Paint::Green => "32",
            Paint::Yellow => "33",
            Paint::Magenta => "35",
            Paint::Cyan => "36",
        }
    }
}

impl Style {
    /// Colour for stdout when it is a terminal.
    pub fn stdout() -> Style {
        Style::new(std::io::stdout().is_terminal())
    }

    pub fn new(terminal: bool) -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: terminal && !no_color,
        }
    }

    #[cfg(test)]
    pub fn plain() -> Style {
        Style { color: false }
    }

    #[cfg(test)]
    pub fn color(&self) -> bool {
        self.color
    }

    pub fn paint(&self, paint: Paint, text: &str) -> String {
        if !self.color || paint == Paint::None || text.is_empty() {
            return text.to_string();
        }
        format!("\x1b[{}m{text}\x1b[0m", paint.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_when_asked() {
        let on = Style { color: true };
        assert_eq!(on.paint(Paint::Red, "x"), "\x1b[31mx\x1b[0m");
        assert_eq!(on.paint(Paint::None, "x"), "x");
        assert_eq!(on.paint(Paint::Red, ""), "");
        assert_eq!(Style::plain().paint(Paint::Red, "x"), "x");
        assert!(!Style::new(false).color());
    }
}
