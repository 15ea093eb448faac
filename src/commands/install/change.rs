//! One change `install` or `uninstall` makes to a settings file, as shown to
//! the user (and, with `--dry-run`, instead of making it).

use std::fmt;

/// What happened to one hook handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A handler running `command` was added.
    Added {
        event: &'static str,
        matcher: Option<&'static str>,
        command: String,
    },
    /// An event-publisher handler running another binary now runs `command`.
    Updated {
        event: &'static str,
        matcher: Option<&'static str>,
        from: String,
        command: String,
    },
    /// An event-publisher handler running `command` was removed.
    Removed {
        event: &'static str,
        matcher: Option<&'static str>,
        command: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = |event: &str, matcher: &Option<&str>| match matcher {
            Some(m) => format!("{event} ({m})"),
            None => event.to_string(),
        };
        match self {
            Change::Added {
                event,
                matcher,
                command,
            } => write!(f, "+ {}: {command}", place(event, matcher)),
            Change::Updated {
                event,
                matcher,
                from,
                command,
            } => write!(f, "~ {}: {from} -> {command}", place(event, matcher)),
            Change::Removed {
                event,
                matcher,
                command,
            } => write!(f, "- {}: {command}", place(event, matcher)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_each() {
        let added = Change::Added {
            event: "PostToolUse",
            matcher: Some("Agent|Task|Bash"),
            command: "/b/event-publisher publish".into(),
        };
        assert_eq!(
            added.to_string(),
            "+ PostToolUse (Agent|Task|Bash): /b/event-publisher publish"
        );
        let updated = Change::Updated {
            event: "Stop",
            matcher: None,
            from: "/a/event-publisher publish".into(),
            command: "/b/event-publisher publish".into(),
        };
        assert_eq!(
            updated.to_string(),
            "~ Stop: /a/event-publisher publish -> /b/event-publisher publish"
        );
    }
}
