//! The built-in secret shapes. Each rule has a cheap prefilter (a few
//! literal needles found with `memchr`), and its regex is compiled only when
//! the prefilter hits, so a hook whose events hold no secret-looking text
//! compiles no regex at all.

use memchr::{memchr, memchr2};
use regex::Captures;

/// The text put in place of a secret of kind `kind`.
pub fn marker(kind: &str) -> String {
    format!("[REDACTED:{kind}]")
}

/// What a rule may look at before its regex is compiled. Needles are
/// short and hook texts mostly short, so a search is `memchr` for the
/// needle's first byte and a compare at each hit: no searcher to build.
pub struct Probe<'a> {
    pub text: &'a str,
}

impl<'a> Probe<'a> {
    pub fn new(text: &'a str) -> Self {
        Probe { text }
    }

    fn has(&self, needle: &str) -> bool {
        find(self.text.as_bytes(), needle.as_bytes(), false)
    }

    fn has_byte(&self, b: u8) -> bool {
        memchr(b, self.text.as_bytes()).is_some()
    }

    /// Case-insensitive search for a lowercase `needle`.
    fn has_folded(&self, needle: &str) -> bool {
        find(self.text.as_bytes(), needle.as_bytes(), true)
    }

    /// An assignment (`key=value`, `key: value`) is possible.
    fn has_separator(&self) -> bool {
        memchr2(b'=', b':', self.text.as_bytes()).is_some()
    }
}

fn find(hay: &[u8], needle: &[u8], fold: bool) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let upper = if fold {
        first.to_ascii_uppercase()
    } else {
        first
    };
    let mut at = 0;
    while let Some(i) = memchr2(first, upper, &hay[at..]) {
        let start = at + i + 1;
        match hay.get(start..start + rest.len()) {
            Some(tail) if fold && tail.eq_ignore_ascii_case(rest) => return true,
            Some(tail) if !fold && tail == rest => return true,
            Some(_) => at = start,
            None => return false,
        }
    }
    false
}

/// A built-in secret shape.
pub struct Rule {
    /// The kind named in the marker.
    pub kind: &'static str,
    /// True when the text may hold this secret (cheap; no regex).
    pub prefilter: fn(&Probe) -> bool,
    /// The secret is the `secret` group when there is one, else the match.
    pub pattern: &'static str,
    /// A last look at a match: false leaves it alone (a look-alike).
    pub check: fn(&Captures) -> bool,
}

fn always(_: &Captures) -> bool {
    true
}

/// Random keys mix letters and digits; words and identifiers seldom do.
fn looks_random(c: &Captures) -> bool {
    let s = secret(c);
    s.bytes().any(|b| b.is_ascii_digit()) && s.bytes().any(|b| b.is_ascii_alphabetic())
}

/// The secret of a match: the `secret` group (or `quoted`, a value in
/// quotes), else the whole match.
pub fn secret_of<'t>(c: &Captures<'t>) -> Option<regex::Match<'t>> {
    c.name("secret")
        .or_else(|| c.name("quoted"))
        .or_else(|| c.get(0))
}

fn secret<'t>(c: &Captures<'t>) -> &'t str {
    secret_of(c).map_or("", |m| m.as_str())
}

/// `key=value` always counts; `key: value` only when the value is quoted or
/// is not a plain word (`password: hunter2`, not `password: required`).
fn assignment(c: &Captures) -> bool {
    let s = secret(c);
    if s.starts_with("[REDACTED:") {
        return false;
    }
    let equals = c.name("sep").is_some_and(|m| m.as_str().contains('='));
    let quoted = c.name("quoted").is_some();
    equals || quoted || !s.bytes().all(|b| b.is_ascii_alphabetic())
}

fn not_redacted(c: &Captures) -> bool {
    !secret(c).starts_with("[REDACTED:")
}

/// Where a key may start: the start of the text, after anything but a
/// letter or digit (`token_ghp_…` and `prefix_sk-ant-…` count: `_` is not
/// a word boundary, which let them through), after an escape written as
/// two characters (`a\nsk-ant-…` in JSON-escaped text), or after a
/// percent-encoded byte (`tok%3Dghp_…`). Not part of the secret.
macro_rules! KEY_START {
    () => {
        r"(?:^|[^A-Za-z0-9]|\\[a-z]|%[0-9A-Fa-f]{2})"
    };
}

/// In order: specific shapes before the generic ones, so a GitHub token in a
/// `token=` parameter is named `github_token`.
pub static RULES: &[Rule] = &[
    Rule {
        kind: "anthropic_key",
        prefilter: |p| p.has("sk-ant-"),
        pattern: concat!(KEY_START!(), r"(?P<secret>sk-ant-[A-Za-z0-9_-]{20,})"),
        check: always,
    },
    Rule {
        kind: "openai_key",
        prefilter: |p| p.has("sk-"),
        pattern: concat!(
            KEY_START!(),
            r"(?P<secret>sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,})"
        ),
        check: looks_random,
    },
    Rule {
        kind: "github_token",
        prefilter: |p| {
            p.has_byte(b'_')
                && ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"]
                    .iter()
                    .any(|n| p.has(n))
        },
        pattern: concat!(
            KEY_START!(),
            r"(?P<secret>gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"
        ),
        check: always,
    },
    Rule {
        kind: "aws_access_key_id",
        prefilter: |p| p.has("AKIA") || p.has("ASIA"),
        pattern: concat!(KEY_START!(), r"(?P<secret>(?:AKIA|ASIA)[A-Z0-9]{16})\b"),
        check: always,
    },
    Rule {
        kind: "aws_secret_key",
        prefilter: |p| p.has_separator() && p.has_folded("secret"),
        pattern: r#"(?i)\b(?:aws_?)?secret_?(?:access_?)?key["']?\s*[:=]\s*["']?(?P<secret>[A-Za-z0-9/+=]{40})"#,
        check: always,
    },
    Rule {
        kind: "slack_token",
        prefilter: |p| p.has("xox"),
        pattern: concat!(KEY_START!(), r"(?P<secret>xox[abposr]-[A-Za-z0-9-]{10,})"),
        check: always,
    },
    Rule {
        kind: "google_api_key",
        prefilter: |p| p.has("AIza"),
        pattern: concat!(KEY_START!(), r"(?P<secret>AIza[0-9A-Za-z_-]{35})"),
        check: always,
    },
    Rule {
        kind: "jwt",
        prefilter: |p| p.has("eyJ"),
        pattern: concat!(
            KEY_START!(),
            r"(?P<secret>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
        ),
        check: always,
    },
    Rule {
        kind: "private_key",
        prefilter: |p| p.has("-----BEGIN"),
        pattern: r"-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----|\z)",
        check: always,
    },
    Rule {
        kind: "authorization",
        prefilter: |p| p.has_separator() && p.has_folded("authorization"),
        pattern: r#"(?i)\b(?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:(?:bearer|basic|token|digest|negotiate|apikey)\s+)?(?P<secret>[^\s"',;]+)"#,
        check: not_redacted,
    },
    Rule {
        kind: "bearer_token",
        prefilter: |p| p.has_folded("bearer"),
        pattern: r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9._~+/=-]{16,})",
        check: looks_random,
    },
    Rule {
        kind: "url_password",
        prefilter: |p| p.has_byte(b'@') && p.has("://"),
        pattern: r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@\[\]]*:(?P<secret>[^\s/@]+)@",
        check: not_redacted,
    },
    Rule {
        kind: "secret",
        prefilter: |p| {
            p.has_separator()
                && [
                    "pass",
                    "pwd",
                    "token",
                    "secret",
                    "key",
                    "auth",
                    "sig",
                    "credential",
                ]
                .iter()
                .any(|n| p.has_folded(n))
        },
        pattern: r#"(?i)\b[A-Za-z0-9_-]*?(?:password|passwd|pwd|passphrase|token|secret|api[_-]?key|access[_-]?key|private[_-]?key|auth|sig|signature|credentials?)["']?(?P<sep>\s*[:=]\s*)(?:["'](?P<quoted>[^"'\n]+)["']|(?P<secret>[^\s"'&,;}<>]+))"#,
        check: assignment,
    },
];

/// Attribute names (lowercase, without `_` and `-`) whose string values are
/// secrets whatever they look like, by suffix, with the kind they are.
pub static SECRET_NAMES: &[(&str, &str)] = &[
    ("password", "password"),
    ("passwd", "password"),
    ("passphrase", "password"),
    ("secret", "secret"),
    ("secretkey", "secret"),
    ("token", "token"),
    ("apikey", "api_key"),
    ("accesskey", "api_key"),
    ("privatekey", "private_key"),
    ("authorization", "authorization"),
    ("credential", "credentials"),
    ("credentials", "credentials"),
    ("cookie", "cookie"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needles_are_found_with_and_without_case() {
        assert!(find(b"xx sk-abc", b"sk-", false));
        assert!(!find(b"xx SK-abc", b"sk-", false));
        assert!(find(b"xx Bearer t", b"bearer", true));
        assert!(find(b"bearer", b"bearer", true));
        assert!(!find(b"beare", b"bearer", true));
        assert!(!find(b"", b"a", true));
        assert!(find(b"aab", b"ab", false));
    }

    #[test]
    fn every_builtin_pattern_compiles() {
        for r in RULES {
            regex::Regex::new(r.pattern).unwrap_or_else(|e| panic!("{}: {e}", r.kind));
        }
    }
}
