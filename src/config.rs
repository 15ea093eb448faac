//! Every setting of the tool, resolved into one `Config` apart from parsing.
//!
//! Each setting comes from the first layer that sets it:
//! flags > environment (`EVENT_PUBLISHER_*`) > project file
//! (`<project>/.claude/event-publisher.json`) > user file
//! (`$XDG_CONFIG_HOME/event-publisher/config.json`, else
//! `~/.config/event-publisher/config.json`) > defaults.
//! Claude Code strips `OTEL_*` from a hook's environment, which is why the
//! files can carry every setting. A broken file is reported and skipped; it
//! never stops the hook.
//!
//! The OTLP sink's settings are the `otlp` object of a file (see
//! `sinks::otlp::settings` for its keys and variables), for example:
//! ```json
//! { "otlp": { "endpoint": "http://localhost:4318", "protocol": "http/protobuf",
//!             "headers": { "authorization": "Bearer ..." }, "timeout_ms": 300 } }
//! ```
//! In the environment, `EVENT_PUBLISHER_OTLP_*` wins over the standard
//! `OTEL_*` variables; a per-signal endpoint, protocol or header set (from any
//! layer) wins over the generic one for its signal.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::GlobalArgs;
use crate::redact::CustomPattern;
use crate::sinks::otlp::{OtlpConfig, OtlpSettings};
use crate::validate::UnknownEvents;

/// The project config file, relative to the project directory.
pub const PROJECT_FILE: &str = ".claude/event-publisher.json";
pub const ENV_PREFIX: &str = "EVENT_PUBLISHER_";

/// One layer of settings; unset fields fall through to the next layer.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub events_dir: Option<PathBuf>,
    pub schemas_dir: Option<PathBuf>,
    pub unknown_events: Option<UnknownEvents>,
    /// Tell the agent about rejected events (PostToolUse additionalContext).
    pub feedback: Option<bool>,
    /// Store Claude Code's lifecycle as `claudeCode.*` records.
    pub lifecycle: Option<bool>,
    /// Transcripts are only read below these directories.
    pub transcript_roots: Option<Vec<PathBuf>>,
    pub limits: LimitSettings,
    pub otlp: OtlpSettings,
    pub redaction: RedactionSettings,
    /// `publish` ends by then, whatever happens (see `watchdog`).
    pub deadline_ms: Option<u64>,
    /// The event bus's subscribers (see `bus::subscriber`), added across
    /// files (the project's first); parsed and checked by the bus.
    pub subscribers: Vec<serde_json::Value>,
}

/// The `redaction` section. Patterns and attribute names add up across the
/// files (a user's and a project's both apply); `enabled` is layered.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactionSettings {
    pub enabled: Option<bool>,
    pub patterns: Vec<CustomPattern>,
    pub attributes: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    pub max_payload_bytes: Option<u64>,
    pub max_marker_bytes: Option<u64>,
    pub max_markers: Option<u64>,
    pub max_transcript_bytes: Option<u64>,
}

impl Settings {
    /// This layer over `lower`: each field set here wins.
    pub fn over(self, lower: Settings) -> Settings {
        Settings {
            events_dir: self.events_dir.or(lower.events_dir),
            schemas_dir: self.schemas_dir.or(lower.schemas_dir),
            unknown_events: self.unknown_events.or(lower.unknown_events),
            feedback: self.feedback.or(lower.feedback),
            lifecycle: self.lifecycle.or(lower.lifecycle),
            transcript_roots: self.transcript_roots.or(lower.transcript_roots),
            limits: LimitSettings {
                max_payload_bytes: self
                    .limits
                    .max_payload_bytes
                    .or(lower.limits.max_payload_bytes),
                max_marker_bytes: self
                    .limits
                    .max_marker_bytes
                    .or(lower.limits.max_marker_bytes),
                max_markers: self.limits.max_markers.or(lower.limits.max_markers),
                max_transcript_bytes: self
                    .limits
                    .max_transcript_bytes
                    .or(lower.limits.max_transcript_bytes),
            },
            otlp: self.otlp.over(lower.otlp),
            deadline_ms: self.deadline_ms.or(lower.deadline_ms),
            redaction: RedactionSettings {
                enabled: self.redaction.enabled.or(lower.redaction.enabled),
                patterns: [self.redaction.patterns, lower.redaction.patterns].concat(),
                attributes: [self.redaction.attributes, lower.redaction.attributes].concat(),
            },
            subscribers: [self.subscribers, lower.subscribers].concat(),
        }
    }

    /// An empty `events_dir` or `schemas_dir` would mean the project
    /// directory itself: refused, with a line saying so.
    fn without_empty_dirs(mut self, origin: &str, warnings: &mut Vec<String>) -> Settings {
        for (key, dir) in [
            ("events_dir", &mut self.events_dir),
            ("schemas_dir", &mut self.schemas_dir),
        ] {
            if dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
                warnings.push(format!(
                    "{key} is empty in {origin}; ignored (the default is used)"
                ));
                *dir = None;
            }
        }
        self
    }

    /// A project file comes with a cloned repository: it may shorten how
    /// long a hook waits, never lengthen it past what the user allows (the
    /// user file's value, else the default). The user file and the
    /// environment may set any value.
    fn cap_waits(&mut self, user: &Settings, warnings: &mut Vec<String>) {
        use crate::sinks::otlp::otlp_config::DEFAULT_TIMEOUT_MS;
        let caps = [
            (
                "deadline_ms",
                &mut self.deadline_ms,
                user.deadline_ms
                    .unwrap_or(crate::watchdog::DEFAULT_DEADLINE_MS),
            ),
            (
                "otlp.timeout_ms",
                &mut self.otlp.timeout_ms,
                user.otlp.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
            ),
        ];
        for (key, value, cap) in caps {
            if let Some(v) = value.filter(|v| *v > cap) {
                warnings.push(format!(
                    "{key} {v} in {PROJECT_FILE} is more than your own settings allow; {cap} is used (set it in your user config file or environment to allow more)"
                ));
                *value = Some(cap);
            }
        }
    }

    /// Relative paths in a file are relative to the project directory.
    fn anchored(mut self, project: &Path) -> Settings {
        let anchor = |p: &mut Option<PathBuf>| {
            if let Some(path) = p.as_mut().filter(|p| p.is_relative()) {
                *path = project.join(&*path);
            }
        };
        anchor(&mut self.events_dir);
        anchor(&mut self.schemas_dir);
        if let Some(roots) = self.transcript_roots.as_mut() {
            for r in roots.iter_mut().filter(|r| r.is_relative()) {
                *r = project.join(&*r);
            }
        }
        self
    }

    pub fn from_flags(g: &GlobalArgs) -> Settings {
        Settings {
            events_dir: g.events_dir.clone(),
            schemas_dir: g.schemas_dir.clone(),
            unknown_events: g.unknown_events,
            ..Settings::default()
        }
    }

    /// The OTLP flags of `publish` and `flush` as a layer.
    pub fn with_otlp_flags(
        mut self,
        a: &crate::cli::OtlpArgs,
        warnings: &mut Vec<String>,
    ) -> Settings {
        use crate::sinks::otlp::{Protocol, headers::Headers};
        let o = &mut self.otlp;
        o.endpoint = a.otlp_endpoint.clone();
        o.protocol = a.otlp_protocol.as_deref().and_then(Protocol::parse);
        if !a.otlp_headers.is_empty() {
            o.headers = Some(Headers::from_pairs(
                &a.otlp_headers,
                "--otlp-header",
                warnings,
            ));
        }
        o.timeout_ms = a.otlp_timeout_ms;
        if a.no_otlp {
            o.enabled = Some(false);
        }
        self
    }

    /// The `EVENT_PUBLISHER_*` variables; unparsable values are reported.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>, warnings: &mut Vec<String>) -> Settings {
        let var = |k: &str| env(&format!("{ENV_PREFIX}{k}")).filter(|v| !v.is_empty());
        let mut number = |k: &str| {
            let v = var(k)?;
            match v.parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    warnings.push(format!(
                        "{ENV_PREFIX}{k}={v:?} is not a whole number; ignored"
                    ));
                    None
                }
            }
        };
        let limits = LimitSettings {
            max_payload_bytes: number("MAX_PAYLOAD_BYTES"),
            max_marker_bytes: number("MAX_MARKER_BYTES"),
            max_markers: number("MAX_MARKERS"),
            max_transcript_bytes: number("MAX_TRANSCRIPT_BYTES"),
        };
        let deadline_ms = number("DEADLINE_MS");
        let unknown_events = var("UNKNOWN_EVENTS").and_then(|v| match v.as_str() {
            "reject" => Some(UnknownEvents::Reject),
            "accept" => Some(UnknownEvents::Accept),
            _ => {
                warnings.push(format!(
                    "{ENV_PREFIX}UNKNOWN_EVENTS={v:?} is not reject or accept; ignored"
                ));
                None
            }
        });
        let feedback = var("FEEDBACK").and_then(|v| match parse_bool(&v) {
            Some(b) => Some(b),
            None => {
                warnings.push(format!(
                    "{ENV_PREFIX}FEEDBACK={v:?} is not true or false; ignored"
                ));
                None
            }
        });
        let lifecycle = var("LIFECYCLE").and_then(|v| match parse_bool(&v) {
            Some(b) => Some(b),
            None => {
                warnings.push(format!(
                    "{ENV_PREFIX}LIFECYCLE={v:?} is not true or false; ignored"
                ));
                None
            }
        });
        let redaction = var("REDACTION").and_then(|v| match parse_bool(&v) {
            Some(b) => Some(b),
            None => {
                warnings.push(format!(
                    "{ENV_PREFIX}REDACTION={v:?} is not on or off; ignored"
                ));
                None
            }
        });
        Settings {
            events_dir: var("EVENTS_DIR").map(PathBuf::from),
            schemas_dir: var("SCHEMAS_DIR").map(PathBuf::from),
            unknown_events,
            feedback,
            lifecycle,
            transcript_roots: var("TRANSCRIPT_ROOTS").map(|v| std::env::split_paths(&v).collect()),
            limits,
            otlp: OtlpSettings::from_env(env, warnings),
            deadline_ms,
            redaction: RedactionSettings {
                enabled: redaction,
                ..RedactionSettings::default()
            },
            subscribers: Vec::new(),
        }
    }

    /// Reads a config file; a missing file is an empty layer.
    pub fn from_file(path: &Path, warnings: &mut Vec<String>) -> Settings {
        match std::fs::read_to_string(path) {
            Ok(text) => match serde_json::from_str::<Settings>(&text) {
                Ok(s) => s,
                Err(e) => {
                    warnings.push(format!("config {}: {e}; file ignored", path.display()));
                    Settings::default()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Settings::default(),
            Err(e) => {
                warnings.push(format!("config {}: {e}; file ignored", path.display()));
                Settings::default()
            }
        }
    }
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Caps on the work one hook call may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_payload_bytes: u64,
    pub max_marker_bytes: u64,
    pub max_markers: u64,
    pub max_transcript_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: 64 << 20,
            max_marker_bytes: 1 << 20,
            max_markers: 10_000,
            max_transcript_bytes: 64 << 20,
        }
    }
}

/// The resolved settings.
#[derive(Clone, Debug)]
pub struct Config {
    pub project_dir: PathBuf,
    pub events_dir: PathBuf,
    pub schemas_dir: PathBuf,
    pub unknown_events: UnknownEvents,
    pub feedback: bool,
    /// Store `claudeCode.*` lifecycle records (and read the lifecycle hooks).
    pub lifecycle: bool,
    pub transcript_roots: Vec<PathBuf>,
    pub limits: Limits,
    /// The OTLP sink; None when it is off (no endpoint configured).
    pub otlp: Option<OtlpConfig>,
    pub redaction: RedactionSettings,
    pub deadline_ms: u64,
    /// The subscribers as written in the files (see `bus::Subscribers`).
    pub subscribers: Vec<serde_json::Value>,
    /// Problems met while resolving (bad files, bad values), one line each.
    pub warnings: Vec<String>,
}

/// Where settings come from; `Sources::process()` for the real ones.
pub struct Sources<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub user_file: Option<PathBuf>,
}

impl Sources<'_> {
    pub fn process() -> Sources<'static> {
        Sources {
            env: &|k| std::env::var(k).ok(),
            user_file: user_config_file(),
        }
    }
}

pub fn user_config_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("event-publisher").join("config.json"))
}

/// The project directory: the flag, `$CLAUDE_PROJECT_DIR`, the payload's
/// `cwd`, or the current directory.
pub fn project_dir(
    flag: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    payload_cwd: Option<&str>,
) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| {
            env("CLAUDE_PROJECT_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| payload_cwd.filter(|c| !c.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("."))
}

impl Config {
    /// Resolves `flags` (a layer built from the command line) for `project`.
    pub fn resolve(flags: Settings, project: PathBuf, sources: &Sources) -> Config {
        let mut warnings = Vec::new();
        let env = Settings::from_env(sources.env, &mut warnings);
        Self::resolve_with_env(flags, env, warnings, project, sources)
    }

    /// `resolve`, with the environment's layer (`Settings::from_env` of
    /// `sources.env`) already read, and its warnings.
    pub fn resolve_with_env(
        flags: Settings,
        env: Settings,
        mut warnings: Vec<String>,
        project: PathBuf,
        sources: &Sources,
    ) -> Config {
        let flags = flags.without_empty_dirs("the flags", &mut warnings);
        let mut project_file = Settings::from_file(&project.join(PROJECT_FILE), &mut warnings)
            .without_empty_dirs(PROJECT_FILE, &mut warnings)
            .anchored(&project);
        let mut user_file = match &sources.user_file {
            Some(f) => Settings::from_file(f, &mut warnings)
                .without_empty_dirs("the user config file", &mut warnings)
                .anchored(&project),
            None => Settings::default(),
        };
        project_file.cap_waits(&user_file, &mut warnings);
        // Layers are merged key by key, except that the OTLP headers of the
        // trusted layers never go with an endpoint the project file set.
        let mut above = flags.over(env);
        let otlp = OtlpSettings::merge_trusting(
            std::mem::take(&mut above.otlp),
            std::mem::take(&mut project_file.otlp),
            std::mem::take(&mut user_file.otlp),
            &mut warnings,
        );
        let mut s = above.over(project_file).over(user_file);
        s.otlp = otlp;
        let d = Limits::default();
        let home_roots = || {
            let dir = (sources.env)("CLAUDE_CONFIG_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| (sources.env)("HOME").map(|h| PathBuf::from(h).join(".claude")));
            dir.map(|d| vec![d.join("projects")]).unwrap_or_default()
        };
        Config {
            events_dir: s.events_dir.unwrap_or_else(|| project.join(".events")),
            schemas_dir: s.schemas_dir.unwrap_or_else(|| project.join("schemas")),
            unknown_events: s.unknown_events.unwrap_or(UnknownEvents::Reject),
            feedback: s.feedback.unwrap_or(true),
            lifecycle: s.lifecycle.unwrap_or(true),
            transcript_roots: s.transcript_roots.unwrap_or_else(home_roots),
            limits: Limits {
                max_payload_bytes: s.limits.max_payload_bytes.unwrap_or(d.max_payload_bytes),
                max_marker_bytes: s.limits.max_marker_bytes.unwrap_or(d.max_marker_bytes),
                max_markers: s.limits.max_markers.unwrap_or(d.max_markers),
                max_transcript_bytes: s
                    .limits
                    .max_transcript_bytes
                    .unwrap_or(d.max_transcript_bytes),
            },
            otlp: OtlpConfig::resolve(s.otlp, &mut warnings),
            redaction: s.redaction,
            deadline_ms: s
                .deadline_ms
                .unwrap_or(crate::watchdog::DEFAULT_DEADLINE_MS),
            subscribers: s.subscribers,
            project_dir: project,
            warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn sources<'a>(env: &'a dyn Fn(&str) -> Option<String>, user: Option<PathBuf>) -> Sources<'a> {
        Sources {
            env,
            user_file: user,
        }
    }

    #[test]
    fn precedence_is_flags_env_project_user() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().to_path_buf();
        std::fs::create_dir(project.join(".claude")).unwrap();
        std::fs::write(
            project.join(PROJECT_FILE),
            r#"{"events_dir": "from-project", "schemas_dir": "s-project", "feedback": false, "limits": {"max_markers": 5}}"#,
        )
        .unwrap();
        let user = project.join("user.json");
        std::fs::write(&user, r#"{"unknown_events": "accept", "schemas_dir": "/s-user", "limits": {"max_markers": 7, "max_marker_bytes": 9}}"#).unwrap();
        let vars: HashMap<&str, &str> = [
            ("EVENT_PUBLISHER_EVENTS_DIR", "/from-env"),
            ("EVENT_PUBLISHER_MAX_MARKERS", "6"),
        ]
        .into();
        let env = |k: &str| vars.get(k).map(|v| v.to_string());
        let flags = Settings {
            events_dir: Some("/from-flag".into()),
            ..Settings::default()
        };
        let c = Config::resolve(flags, project.clone(), &sources(&env, Some(user.clone())));
        assert_eq!(c.events_dir, PathBuf::from("/from-flag"));
        assert_eq!(c.schemas_dir, project.join("s-project"));
        assert_eq!(c.unknown_events, UnknownEvents::Accept);
        assert!(!c.feedback);
        assert_eq!(c.limits.max_markers, 6);
        assert_eq!(c.limits.max_marker_bytes, 9);
        let c = Config::resolve(
            Settings::default(),
            project.clone(),
            &sources(&env, Some(user)),
        );
        assert_eq!(c.events_dir, PathBuf::from("/from-env"));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn lifecycle_is_on_unless_a_layer_turns_it_off() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().to_path_buf();
        let none = |_: &str| None;
        let c = Config::resolve(Settings::default(), project.clone(), &sources(&none, None));
        assert!(c.lifecycle);
        std::fs::create_dir(project.join(".claude")).unwrap();
        std::fs::write(project.join(PROJECT_FILE), r#"{"lifecycle": false}"#).unwrap();
        let c = Config::resolve(Settings::default(), project.clone(), &sources(&none, None));
        assert!(!c.lifecycle);
        let env = |k: &str| (k == "EVENT_PUBLISHER_LIFECYCLE").then(|| "on".to_string());
        let c = Config::resolve(Settings::default(), project, &sources(&env, None));
        assert!(c.lifecycle);
    }

    #[test]
    fn broken_files_and_values_are_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().to_path_buf();
        std::fs::create_dir(project.join(".claude")).unwrap();
        std::fs::write(project.join(PROJECT_FILE), "{ not json").unwrap();
        let env = |k: &str| (k == "EVENT_PUBLISHER_MAX_MARKERS").then(|| "lots".to_string());
        let c = Config::resolve(Settings::default(), project.clone(), &sources(&env, None));
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert_eq!(c.events_dir, project.join(".events"));
        assert_eq!(c.limits, Limits::default());
    }

    #[test]
    fn unknown_keys_in_files_are_errors() {
        let mut w = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.json");
        std::fs::write(&f, r#"{"event_dir": "typo"}"#).unwrap();
        Settings::from_file(&f, &mut w);
        assert!(w[0].contains("unknown field"), "{w:?}");
    }

    #[test]
    fn a_project_file_cannot_make_a_hook_wait_longer_than_the_user_allows() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().to_path_buf();
        std::fs::create_dir(project.join(".claude")).unwrap();
        std::fs::write(
            project.join(PROJECT_FILE),
            r#"{"deadline_ms": 600000, "otlp": {"endpoint": "http://c", "timeout_ms": 60000}}"#,
        )
        .unwrap();
        let none = |_: &str| None;
        let c = Config::resolve(Settings::default(), project.clone(), &sources(&none, None));
        assert_eq!(c.deadline_ms, crate::watchdog::DEFAULT_DEADLINE_MS);
        assert_eq!(
            c.otlp.unwrap().timeout,
            std::time::Duration::from_millis(300)
        );
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        // The user allows more: the project file may use it.
        let user = project.join("user.json");
        std::fs::write(
            &user,
            r#"{"deadline_ms": 900000, "otlp": {"timeout_ms": 90000}}"#,
        )
        .unwrap();
        let c = Config::resolve(
            Settings::default(),
            project.clone(),
            &sources(&none, Some(user)),
        );
        assert_eq!(c.deadline_ms, 600000);
        assert_eq!(
            c.otlp.unwrap().timeout,
            std::time::Duration::from_millis(60000)
        );
        // The environment may set anything.
        let env = |k: &str| (k == "EVENT_PUBLISHER_DEADLINE_MS").then(|| "700000".to_string());
        let c = Config::resolve(Settings::default(), project, &sources(&env, None));
        assert_eq!(c.deadline_ms, 700000);
    }

    #[test]
    fn project_dir_order() {
        let env = |k: &str| (k == "CLAUDE_PROJECT_DIR").then(|| "/p".to_string());
        assert_eq!(project_dir(None, &env, Some("/cwd")), PathBuf::from("/p"));
        assert_eq!(
            project_dir(Some(Path::new("/f")), &env, Some("/cwd")),
            PathBuf::from("/f")
        );
        let none = |_: &str| None;
        assert_eq!(
            project_dir(None, &none, Some("/cwd")),
            PathBuf::from("/cwd")
        );
    }
}
