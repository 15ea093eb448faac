//! Finds `<EVENT>` markers in a text.
//!
//! A marker is `<EVENT>`, one JSON object, `</EVENT>`, with optional white
//! space inside. The JSON is parsed from the opening tag onward and the
//! closing tag is looked for only where the value ends, so a `</EVENT>` inside
//! a JSON string does not end the event (a regex such as
//! `<EVENT>(.*?)</EVENT>` would cut it). Opening tags are found with
//! `memchr::memmem`, so a text without markers costs one SIMD pass.

use memchr::memmem;
use serde_json::Value;

use super::marker::{Marker, MarkerError};

pub const OPEN: &str = "<EVENT>";
pub const CLOSE: &str = "</EVENT>";

/// A reusable marker finder. Build it once per process.
pub struct Scanner {
    open: memmem::Finder<'static>,
    close: memmem::Finder<'static>,
    max_marker_bytes: usize,
}

impl Scanner {
    pub fn new(max_marker_bytes: usize) -> Self {
        Self {
            open: memmem::Finder::new(OPEN.as_bytes()),
            close: memmem::Finder::new(CLOSE.as_bytes()),
            max_marker_bytes: max_marker_bytes.max(OPEN.len() + CLOSE.len() + 2),
        }
    }

    /// True when `text` holds an opening tag at all (the cheap pre-check).
    pub fn has_marker(&self, text: &str) -> bool {
        self.open.find(text.as_bytes()).is_some()
    }

    /// Calls `found` for each marker in order; `found` returns false to stop.
    pub fn scan(&self, text: &str, mut found: impl FnMut(Marker) -> bool) {
        let bytes = text.as_bytes();
        let mut pos = 0;
        while let Some(i) = self.open.find(&bytes[pos..]) {
            let tag = pos + i;
            let (marker, next) = self.read_at(text, tag);
            if !found(marker) {
                return;
            }
            pos = next;
        }
    }

    /// Collects every marker of `text` (for tests and `check`).
    pub fn scan_all(&self, text: &str) -> Vec<Marker> {
        let mut out = Vec::new();
        self.scan(text, |m| {
            out.push(m);
            true
        });
        out
    }

    /// Reads the marker whose `<EVENT>` starts at `tag`; returns it and where
    /// scanning resumes.
    fn read_at(&self, text: &str, tag: usize) -> (Marker, usize) {
        let start = tag + OPEN.len();
        // Parse within the cap only, so a huge unterminated value costs at
        // most max_marker_bytes of work.
        let limit = floor_char_boundary(text, (tag + self.max_marker_bytes).min(text.len()));
        let capped = limit < text.len();
        let body = &text[start..limit];
        let mut values = serde_json::Deserializer::from_str(body).into_iter::<Value>();
        match values.next() {
            Some(Ok(value)) => {
                let end = start + values.byte_offset();
                let rest = &text[end..limit];
                let trimmed = rest.trim_start();
                if trimmed.starts_with(CLOSE) {
                    let close_end = end + (rest.len() - trimmed.len()) + CLOSE.len();
                    let event = match value {
                        Value::Object(map) => Ok(map),
                        _ => Err(MarkerError::NotAnObject),
                    };
                    let marker = Marker {
                        raw: text[tag..close_end].to_string(),
                        offset: tag,
                        event,
                    };
                    (marker, close_end)
                } else if capped && trimmed.len() < CLOSE.len() && CLOSE.starts_with(trimmed) {
                    self.failed(
                        text,
                        tag,
                        MarkerError::TooLarge {
                            limit: self.max_marker_bytes,
                        },
                    )
                } else {
                    self.failed(text, tag, MarkerError::Unclosed)
                }
            }
            Some(Err(e)) if e.is_eof() && capped => self.failed(
                text,
                tag,
                MarkerError::TooLarge {
                    limit: self.max_marker_bytes,
                },
            ),
            Some(Err(e)) if e.is_eof() => self.failed(text, tag, MarkerError::Unclosed),
            Some(Err(e)) => self.failed(text, tag, MarkerError::MalformedJson(e.to_string())),
            None if capped => self.failed(
                text,
                tag,
                MarkerError::TooLarge {
                    limit: self.max_marker_bytes,
                },
            ),
            None => self.failed(text, tag, MarkerError::Unclosed),
        }
    }

    /// An invalid marker: its raw text runs to the first `</EVENT>` or
    /// `<EVENT>` after the tag (whichever comes first, within the cap), and
    /// scanning resumes right after the opening tag so that a well-formed
    /// marker following a broken one is still found.
    fn failed(&self, text: &str, tag: usize, error: MarkerError) -> (Marker, usize) {
        let start = tag + OPEN.len();
        let limit = floor_char_boundary(text, (tag + self.max_marker_bytes).min(text.len()));
        let window = &text.as_bytes()[start..limit];
        let next_open = self.open.find(window).map(|i| start + i);
        let next_close = self.close.find(window).map(|i| start + i + CLOSE.len());
        let end = match (next_open, next_close) {
            (Some(o), Some(c)) if c - CLOSE.len() < o => c,
            (Some(o), _) => o,
            (None, Some(c)) => c,
            (None, None) => limit,
        };
        let marker = Marker {
            raw: text[tag..end].to_string(),
            offset: tag,
            event: Err(error),
        };
        (marker, start)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<Result<String, &'static str>> {
        Scanner::new(1 << 20)
            .scan_all(text)
            .into_iter()
            .map(|m| match m.event {
                Ok(map) => Ok(map["name"].as_str().unwrap_or("?").to_string()),
                Err(e) => Err(e.kind()),
            })
            .collect()
    }

    #[test]
    fn finds_markers_in_order_with_white_space_inside() {
        let t = "a <EVENT>{\"name\":\"x.a\"}</EVENT> b <EVENT>\n  {\"name\": \"x.b\"}\n</EVENT>";
        assert_eq!(names(t), vec![Ok("x.a".into()), Ok("x.b".into())]);
    }

    #[test]
    fn close_tag_inside_a_string_does_not_end_the_event() {
        let t = r#"<EVENT>{"name":"x.a","attributes":{"s":"</EVENT> still"}}</EVENT>"#;
        let m = Scanner::new(1 << 20).scan_all(t);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].raw, t);
        assert_eq!(
            m[0].event.as_ref().unwrap()["attributes"]["s"],
            "</EVENT> still"
        );
    }

    #[test]
    fn broken_markers_are_reported_and_scanning_goes_on() {
        let t = "<EVENT>{\"name\": </EVENT> <EVENT>[1]</EVENT> <EVENT>{\"name\":\"x.ok\"}</EVENT> <EVENT>{\"name\":\"x.open\"}";
        assert_eq!(
            names(t),
            vec![
                Err("malformed_json"),
                Err("not_an_object"),
                Ok("x.ok".into()),
                Err("unclosed_marker")
            ]
        );
    }

    #[test]
    fn raw_text_of_a_broken_marker_stops_at_its_close_tag() {
        let m = Scanner::new(1 << 20).scan_all("x <EVENT>{oops}</EVENT> y");
        assert_eq!(m[0].raw, "<EVENT>{oops}</EVENT>");
        assert_eq!(m[0].offset, 2);
    }

    #[test]
    fn nested_markers_yield_the_inner_event() {
        let t = r#"<EVENT><EVENT>{"name":"x.in"}</EVENT></EVENT>"#;
        assert_eq!(names(t), vec![Err("malformed_json"), Ok("x.in".into())]);
    }

    #[test]
    fn json_without_close_tag_is_unclosed() {
        assert_eq!(
            names(r#"<EVENT>{"name":"x.a"} and more"#),
            vec![Err("unclosed_marker")]
        );
    }

    #[test]
    fn markers_over_the_cap_are_too_large() {
        let big = format!(
            r#"<EVENT>{{"name":"x.a","attributes":{{"s":"{}"}}}}</EVENT>"#,
            "y".repeat(500)
        );
        let m = Scanner::new(100).scan_all(&big);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].event, Err(MarkerError::TooLarge { limit: 100 }));
        assert!(m[0].raw.len() <= 100);
    }

    #[test]
    fn cap_is_safe_inside_multibyte_characters() {
        let t = format!("<EVENT>{{\"name\":\"{}\"}}</EVENT>", "é".repeat(100));
        for cap in 17..40 {
            let m = Scanner::new(cap).scan_all(&t);
            assert_eq!(m.len(), 1);
        }
    }

    #[test]
    fn deep_nesting_fails_cleanly() {
        let t = format!(
            "<EVENT>{}{}</EVENT>",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(names(&t), vec![Err("malformed_json")]);
    }

    #[test]
    fn stop_early() {
        let t = "<EVENT>{}</EVENT>".repeat(10);
        let mut n = 0;
        Scanner::new(1 << 20).scan(&t, |_| {
            n += 1;
            n < 3
        });
        assert_eq!(n, 3);
    }
}
