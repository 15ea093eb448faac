//! Text from events and file names, made safe for a terminal: control
//! characters (C0, DEL, C1) and bidirectional overrides are shown as
//! escapes (`\u{1b}`, `\n`) instead of being acted on, so a value can
//! neither send a terminal command (set the title, clear the screen) nor
//! fake a line or reorder what is shown. JSON output needs none of this:
//! JSON escapes control characters itself.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with every character a terminal would act on escaped.
pub fn safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(acted_on) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if acted_on(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn acted_on(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_shown_not_acted_on() {
        assert_eq!(
            safe("\u{1b}]0;pwned\u{7}\u{1b}[2J"),
            "\\u{1b}]0;pwned\\u{7}\\u{1b}[2J"
        );
        assert_eq!(
            safe("a\r\nb\tc\u{9b}d\u{202e}"),
            "a\\r\\nb\\tc\\u{9b}d\\u{202e}"
        );
        assert!(matches!(safe("plain ünïcode ✓"), Cow::Borrowed(_)));
    }
}
