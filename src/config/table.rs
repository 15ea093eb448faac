//! The one table of settings: each row is a setting's file key, flag,
//! environment variables, default and help. The file, environment and flag
//! layers are read through it, and the README's and docs/otlp.md's tables
//! are its rows (a test compares them). Adding a setting is one row here,
//! plus reading its value where it is used (see `Config::resolve_with_env`).

/// One setting.
#[derive(Debug)]
pub struct Setting {
    /// The key in a config file, dotted for the sections (`limits.max_markers`
    /// is `{"limits": {"max_markers": …}}`). Also the id of its flag.
    pub key: &'static str,
    pub kind: Kind,
    pub flag: Option<Flag>,
    /// The variables, ours (`EVENT_PUBLISHER_*`) first; the first one set to
    /// a readable value wins.
    pub env: &'static [&'static str],
    /// The default, as the docs show it.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "the docs' tables, checked by a test")
    )]
    pub default: &'static str,
    /// What `--help` shows for the flag; for the others, what the setting is.
    pub help: &'static str,
    /// Said after the key in the docs' tables (the values, how lists add up).
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "the docs' tables, checked by a test")
    )]
    pub note: &'static str,
}

/// The type of a setting's value, and so how each layer reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Path,
    /// Directories; `:`-separated in the environment.
    Paths,
    /// A whole number.
    Number,
    /// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
    Bool,
    /// A `Bool` whose variable is documented as `on`/`off`.
    Switch,
    /// One of these names.
    Choice(&'static [Choice]),
    /// An OTLP transport (`grpc`, `http/protobuf`).
    Protocol,
    Text,
    /// OTLP headers: an object in a file, `k=v,k2=v2` in the environment,
    /// `NAME=VALUE` flags.
    Headers,
    /// Names and values: an object in a file, `k=v,k2=v2` in the environment.
    Pairs,
    /// Redaction patterns, added across files.
    Patterns,
    /// Names, added across files.
    Names,
    /// JSON values (the subscribers), added across files.
    List,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub name: &'static str,
    /// Shown by `--help` under the flag.
    pub help: &'static str,
}

/// The flag of a setting.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    pub long: &'static str,
    /// Empty for a flag without a value: it turns a `Bool` setting off.
    pub value_name: &'static str,
    pub group: FlagGroup,
}

/// Which commands take a flag; the cli adds each group where it belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagGroup {
    /// Every command (a global flag).
    Global,
    /// `publish`, before `--verbose`.
    Publish,
    /// `publish`, after `--verbose`.
    Limits,
    /// `publish`, `replay` and `flush`.
    Otlp,
}

impl Kind {
    /// The names a flag of this kind takes, when it takes only some.
    pub fn choices(self) -> &'static [Choice] {
        const PROTOCOLS: &[Choice] = &[
            Choice {
                name: "grpc",
                help: "",
            },
            Choice {
                name: "http/protobuf",
                help: "",
            },
        ];
        match self {
            Kind::Choice(choices) => choices,
            Kind::Protocol => PROTOCOLS,
            _ => &[],
        }
    }

    /// How a variable's value is written, for the docs.
    #[cfg(test)]
    fn env_form(self) -> Option<&'static str> {
        match self {
            Kind::Paths => Some("`:`-separated"),
            Kind::Switch => Some("`on`, `off`"),
            Kind::Headers => Some("`k=v,k2=v2`, values percent-decoded"),
            _ => None,
        }
    }
}

impl Setting {
    /// The row of `key`. Every key the code reads is in the table; a typo
    /// is a bug, found by any test that resolves a config.
    pub fn of(key: &str) -> &'static Setting {
        SETTINGS
            .iter()
            .find(|s| s.key == key)
            .unwrap_or_else(|| panic!("no setting {key:?} in config::table::SETTINGS"))
    }

    /// Its row in the README's Configuration table, or (`otlp.*`) in
    /// docs/otlp.md's, whose keys are those of the `otlp` object.
    #[cfg(test)]
    pub fn doc_row(&self) -> String {
        let code = |s: &str| format!("`{s}`");
        let key = match self.key.strip_prefix("otlp.") {
            Some(k) => code(k),
            None => code(self.key),
        };
        let key = match self.note {
            "" => key,
            note => format!("{key} ({note})"),
        };
        let flag = match &self.flag {
            None => String::new(),
            Some(f) => {
                let command = match f.group {
                    FlagGroup::Publish | FlagGroup::Limits => "publish ",
                    FlagGroup::Global | FlagGroup::Otlp => "",
                };
                match self.kind {
                    Kind::Headers => format!("`{command}--{} {}`", f.long, f.value_name),
                    _ => format!("`{command}--{}`", f.long),
                }
            }
        };
        let mut env = self
            .env
            .iter()
            .map(|v| code(v))
            .collect::<Vec<_>>()
            .join(", ");
        if let Some(form) = self.kind.env_form().filter(|_| !env.is_empty()) {
            env = format!("{env} ({form})");
        }
        let default = self.default.to_string();
        let cells = match self.key.starts_with("otlp.") {
            true => [key, env, flag, default],
            false => [key, flag, env, default],
        };
        cells
            .iter()
            .fold("|".to_string(), |row, cell| match cell.as_str() {
                "" => row + " |",
                cell => format!("{row} {cell} |"),
            })
    }
}

/// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, in any case.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Names as an error message lists them: `a`, `a` or `b`, one of `a`, `b`, `c`.
pub fn one_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    match names.len() {
        0 => "nothing".to_string(),
        1 => names[0].clone(),
        2 => format!("{} or {}", names[0], names[1]),
        _ => format!("one of {}", names.join(", ")),
    }
}

const fn flag(long: &'static str, value_name: &'static str, group: FlagGroup) -> Option<Flag> {
    Some(Flag {
        long,
        value_name,
        group,
    })
}

/// A row without a flag or a note.
const fn row(
    key: &'static str,
    kind: Kind,
    env: &'static [&'static str],
    default: &'static str,
    help: &'static str,
) -> Setting {
    Setting {
        key,
        kind,
        flag: None,
        env,
        default,
        help,
        note: "",
    }
}

use FlagGroup::{Global, Limits, Otlp, Publish};

/// Every setting. A file's keys are listed in this order when one is unknown.
pub static SETTINGS: &[Setting] = &[
    Setting {
        flag: flag("events-dir", "DIR", Global),
        ..row(
            "events_dir",
            Kind::Path,
            &["EVENT_PUBLISHER_EVENTS_DIR"],
            "`<project>/.events`",
            "Where records are stored [default: <project>/.events]",
        )
    },
    Setting {
        flag: flag("schemas-dir", "DIR", Global),
        ..row(
            "schemas_dir",
            Kind::Path,
            &["EVENT_PUBLISHER_SCHEMAS_DIR"],
            "`<project>/schemas`",
            "Where event schemas are read from [default: <project>/schemas]",
        )
    },
    Setting {
        flag: flag("unknown-events", "POLICY", Global),
        note: "`reject`, `accept`",
        ..row(
            "unknown_events",
            Kind::Choice(&[
                Choice {
                    name: "reject",
                    help: "Reject it as `unknown_event` (the default)",
                },
                Choice {
                    name: "accept",
                    help: "Store it as valid, checked against the envelope only",
                },
            ]),
            &["EVENT_PUBLISHER_UNKNOWN_EVENTS"],
            "`reject`",
            "What to do with events whose name has no schema",
        )
    },
    Setting {
        flag: flag("no-feedback", "", Publish),
        ..row(
            "feedback",
            Kind::Bool,
            &["EVENT_PUBLISHER_FEEDBACK"],
            "`true`",
            "Do not tell the agent (hookSpecificOutput.additionalContext) about rejected events",
        )
    },
    Setting {
        note: "the `claudeCode.*` records",
        ..row(
            "lifecycle",
            Kind::Bool,
            &["EVENT_PUBLISHER_LIFECYCLE"],
            "`true`",
            "Store Claude Code's lifecycle as `claudeCode.*` records",
        )
    },
    row(
        "transcript_roots",
        Kind::Paths,
        &["EVENT_PUBLISHER_TRANSCRIPT_ROOTS"],
        "`$CLAUDE_CONFIG_DIR/projects`, else `~/.claude/projects`",
        "Transcripts are only read below these directories",
    ),
    Setting {
        flag: flag("max-payload-bytes", "BYTES", Limits),
        ..row(
            "limits.max_payload_bytes",
            Kind::Number,
            &["EVENT_PUBLISHER_MAX_PAYLOAD_BYTES"],
            "64 MiB",
            "Largest payload read from stdin, in bytes",
        )
    },
    Setting {
        flag: flag("max-marker-bytes", "BYTES", Limits),
        ..row(
            "limits.max_marker_bytes",
            Kind::Number,
            &["EVENT_PUBLISHER_MAX_MARKER_BYTES"],
            "1 MiB",
            "Largest marker, in bytes",
        )
    },
    Setting {
        flag: flag("max-markers", "N", Limits),
        ..row(
            "limits.max_markers",
            Kind::Number,
            &["EVENT_PUBLISHER_MAX_MARKERS"],
            "10,000",
            "Most markers read from one payload (and its transcript)",
        )
    },
    Setting {
        flag: flag("max-transcript-bytes", "BYTES", Limits),
        ..row(
            "limits.max_transcript_bytes",
            Kind::Number,
            &["EVENT_PUBLISHER_MAX_TRANSCRIPT_BYTES"],
            "64 MiB",
            "Most bytes read from one transcript",
        )
    },
    Setting {
        flag: flag("no-otlp", "", Otlp),
        ..row(
            "otlp.enabled",
            Kind::Bool,
            &["EVENT_PUBLISHER_OTLP_ENABLED"],
            "on when an endpoint is set",
            "Turn the OTLP sink off for this run",
        )
    },
    Setting {
        flag: flag("otlp-endpoint", "URL", Otlp),
        ..row(
            "otlp.endpoint",
            Kind::Text,
            &[
                "EVENT_PUBLISHER_OTLP_ENDPOINT",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ],
            "off",
            "OTLP collector base URL, e.g. http://localhost:4318 (turns the sink on)",
        )
    },
    row(
        "otlp.logs_endpoint",
        Kind::Text,
        &[
            "EVENT_PUBLISHER_OTLP_LOGS_ENDPOINT",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        ],
        "from `endpoint`",
        "Where logs go, used as given",
    ),
    row(
        "otlp.traces_endpoint",
        Kind::Text,
        &[
            "EVENT_PUBLISHER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ],
        "from `endpoint`",
        "Where traces go, used as given",
    ),
    Setting {
        flag: flag("otlp-protocol", "PROTOCOL", Otlp),
        note: "`http/protobuf` or `grpc`",
        ..row(
            "otlp.protocol",
            Kind::Protocol,
            &[
                "EVENT_PUBLISHER_OTLP_PROTOCOL",
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ],
            "`http/protobuf`",
            "OTLP transport",
        )
    },
    row(
        "otlp.logs_protocol",
        Kind::Protocol,
        &[
            "EVENT_PUBLISHER_OTLP_LOGS_PROTOCOL",
            "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
        ],
        "from `protocol`",
        "The transport of logs",
    ),
    row(
        "otlp.traces_protocol",
        Kind::Protocol,
        &[
            "EVENT_PUBLISHER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ],
        "from `protocol`",
        "The transport of traces",
    ),
    Setting {
        flag: flag("otlp-header", "NAME=VALUE", Otlp),
        ..row(
            "otlp.headers",
            Kind::Headers,
            &["EVENT_PUBLISHER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"],
            "none",
            "A header sent to the collector, NAME=VALUE (repeatable)",
        )
    },
    row(
        "otlp.logs_headers",
        Kind::Headers,
        &[
            "EVENT_PUBLISHER_OTLP_LOGS_HEADERS",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        ],
        "from `headers`",
        "The headers of logs, instead of `headers`",
    ),
    row(
        "otlp.traces_headers",
        Kind::Headers,
        &[
            "EVENT_PUBLISHER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ],
        "from `headers`",
        "The headers of traces, instead of `headers`",
    ),
    Setting {
        flag: flag("otlp-timeout-ms", "MS", Otlp),
        ..row(
            "otlp.timeout_ms",
            Kind::Number,
            &[
                "EVENT_PUBLISHER_OTLP_TIMEOUT_MS",
                "OTEL_EXPORTER_OTLP_TIMEOUT",
            ],
            "300",
            "Export deadline in milliseconds [default: 300]",
        )
    },
    row(
        "otlp.service_name",
        Kind::Text,
        &["EVENT_PUBLISHER_OTLP_SERVICE_NAME", "OTEL_SERVICE_NAME"],
        "`event-publisher`",
        "The resource's `service.name`",
    ),
    row(
        "otlp.resource_attributes",
        Kind::Pairs,
        &[
            "EVENT_PUBLISHER_OTLP_RESOURCE_ATTRIBUTES",
            "OTEL_RESOURCE_ATTRIBUTES",
        ],
        "none",
        "More resource attributes",
    ),
    row(
        "otlp.event_name_attribute",
        Kind::Bool,
        &["EVENT_PUBLISHER_OTLP_EVENT_NAME_ATTRIBUTE"],
        "true",
        "Also carry the name in an `event.name` attribute (Claude Code's way)",
    ),
    row(
        "otlp.spool_max_bytes",
        Kind::Number,
        &["EVENT_PUBLISHER_OTLP_SPOOL_MAX_BYTES"],
        "256 MiB",
        "The most bytes the spool holds",
    ),
    row(
        "otlp.spool_max_files",
        Kind::Number,
        &["EVENT_PUBLISHER_OTLP_SPOOL_MAX_FILES"],
        "100000",
        "The most requests the spool holds",
    ),
    row(
        "otlp.drain_max_files",
        Kind::Number,
        &["EVENT_PUBLISHER_OTLP_DRAIN_MAX_FILES"],
        "64",
        "Most spooled files one `publish` sends on top of its own",
    ),
    row(
        "redaction.enabled",
        Kind::Switch,
        &["EVENT_PUBLISHER_REDACTION"],
        "`true`",
        "Redact secrets in events and dead letters",
    ),
    Setting {
        note: "`[{\"name\", \"regex\"}]`, added across files",
        ..row(
            "redaction.patterns",
            Kind::Patterns,
            &[],
            "none beyond the built-in ones",
            "More secret shapes",
        )
    },
    Setting {
        note: "names, added across files",
        ..row(
            "redaction.attributes",
            Kind::Names,
            &[],
            "none beyond the built-in ones",
            "More secret attribute names",
        )
    },
    row(
        "deadline_ms",
        Kind::Number,
        &["EVENT_PUBLISHER_DEADLINE_MS"],
        "5000",
        "`publish` ends by then, whatever happens (see `watchdog`)",
    ),
    Setting {
        note: "a list, added across files; see [The event bus](#the-event-bus-emit-subscribers-dispatch)",
        ..row(
            "subscribers",
            Kind::List,
            &[],
            "none",
            "The event bus's subscribers (see `bus::subscriber`)",
        )
    },
    row(
        "auto_dispatch",
        Kind::Bool,
        &["EVENT_PUBLISHER_AUTO_DISPATCH"],
        "`true`",
        "`publish` and `emit` start a dispatcher when a new event is for a subscriber",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of the markdown table whose header starts with `header`.
    fn doc_rows<'a>(doc: &'a str, header: &str) -> Vec<&'a str> {
        let mut lines = doc.lines().skip_while(|l| !l.starts_with(header));
        assert!(lines.next().is_some(), "no table headed {header:?}");
        lines.skip(1).take_while(|l| l.starts_with('|')).collect()
    }

    fn same_rows(doc: &str, header: &str, rows: Vec<&Setting>, file: &str) {
        let shown = doc_rows(doc, header);
        for (i, s) in rows.iter().enumerate() {
            let want = s.doc_row();
            assert_eq!(
                shown.get(i).copied(),
                Some(want.as_str()),
                "{file}: the row of {} differs from config::table::SETTINGS (row {} of the table)",
                s.key,
                i + 1
            );
        }
        assert_eq!(
            shown.len(),
            rows.len(),
            "{file}: rows past the settings: {:?}",
            &shown[rows.len().min(shown.len())..]
        );
    }

    #[test]
    fn the_readme_table_is_the_settings_table() {
        same_rows(
            include_str!("../../README.md"),
            "| setting (file key) |",
            SETTINGS
                .iter()
                .filter(|s| !s.key.starts_with("otlp."))
                .collect(),
            "README.md",
        );
    }

    #[test]
    fn the_otlp_doc_table_is_the_otlp_settings() {
        same_rows(
            include_str!("../../docs/otlp.md"),
            "| key |",
            SETTINGS
                .iter()
                .filter(|s| s.key.starts_with("otlp."))
                .collect(),
            "docs/otlp.md",
        );
    }

    #[test]
    fn keys_flags_and_variables_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for s in SETTINGS {
            assert!(seen.insert(s.key), "{} twice", s.key);
            if let Some(f) = &s.flag {
                assert!(seen.insert(f.long), "--{} twice", f.long);
                assert_eq!(f.value_name.is_empty(), s.kind == Kind::Bool, "{}", s.key);
            }
            for v in s.env {
                assert!(seen.insert(v), "{v} twice");
            }
        }
    }
}
