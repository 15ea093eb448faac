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
//! Every setting is a row of `table::SETTINGS` (file key, flag, variables,
//! default, help); `layer` reads the environment and the files through it,
//! the cli makes the flags from it, and this module applies the rules
//! between layers and reads each setting's value into `Config`.
//!
//! The OTLP sink's settings are the `otlp` object of a file, for example:
//! ```json
//! { "otlp": { "endpoint": "http://localhost:4318", "protocol": "http/protobuf",
//!             "headers": { "authorization": "Bearer ..." }, "timeout_ms": 300 } }
//! ```
//! In the environment, `EVENT_PUBLISHER_OTLP_*` wins over the standard
//! `OTEL_*` variables; a per-signal endpoint, protocol or header set (from any
//! layer) wins over the generic one for its signal.

use std::path::{Path, PathBuf};

mod layer;
pub mod table;

pub use layer::{Given, Settings, Value};
pub use table::{FlagGroup, Kind, SETTINGS, Setting};

use crate::redact::RedactionSettings;
use crate::sinks::otlp::headers::Headers;
use crate::sinks::otlp::{OtlpConfig, OtlpSettings};
use crate::validate::UnknownEvents;

/// The project config file, relative to the project directory.
pub const PROJECT_FILE: &str = ".claude/event-publisher.json";

/// The rules of the layers other than "the first one set wins".
impl Settings {
    /// An empty path (`events_dir`, `schemas_dir`) would mean the project
    /// directory itself: refused, with a line saying so.
    fn without_empty_dirs(mut self, origin: &str, warnings: &mut Vec<String>) -> Settings {
        for s in SETTINGS.iter().filter(|s| s.kind == Kind::Path) {
            if self
                .get::<PathBuf>(s.key)
                .is_some_and(|d| d.as_os_str().is_empty())
            {
                warnings.push(format!(
                    "{} is empty in {origin}; ignored (the default is used)",
                    s.key
                ));
                self.unset(s.key);
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
            ("deadline_ms", crate::watchdog::DEFAULT_DEADLINE_MS),
            ("otlp.timeout_ms", DEFAULT_TIMEOUT_MS),
        ];
        for (key, default) in caps {
            let cap = user.get::<u64>(key).unwrap_or(default);
            if let Some(v) = self.get::<u64>(key).filter(|v| *v > cap) {
                warnings.push(format!(
                    "{key} {v} in {PROJECT_FILE} is more than your own settings allow; {cap} is used (set it in your user config file or environment to allow more)"
                ));
                self.set(key, Value::Number(cap));
            }
        }
    }

    /// Relative paths in a file are relative to the project directory.
    fn anchored(mut self, project: &Path) -> Settings {
        let anchor = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = project.join(&*p);
            }
        };
        for (_, value) in self.iter_mut() {
            match value {
                Value::Path(p) => anchor(p),
                Value::Paths(ps) => ps.iter_mut().for_each(anchor),
                _ => {}
            }
        }
        self
    }

    /// Reads a config file; a missing file is an empty layer.
    pub fn from_file(path: &Path, warnings: &mut Vec<String>) -> Settings {
        match std::fs::read_to_string(path) {
            Ok(text) => match Settings::from_json(&text) {
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

    /// Merges the trusted layers above the project file (flags, environment),
    /// the project file, and the trusted layer below it (the user file),
    /// so that OTLP headers only go with an endpoint from the same or a more
    /// trusted layer: a signal whose endpoint comes from the project file
    /// gets the project file's headers and no others. A cloned repository
    /// can choose where its events go, never send the user's credentials
    /// there.
    fn merge_trusting(
        above: Settings,
        project: Settings,
        below: Settings,
        warnings: &mut Vec<String>,
    ) -> Settings {
        // The layer a signal's endpoint comes from (its own, else the generic one).
        let from_project = |endpoint: &str| {
            [endpoint, "otlp.endpoint"]
                .iter()
                .flat_map(|k| {
                    [&above, &project, &below]
                        .map(|l| l.is_set(k))
                        .into_iter()
                        .zip(0..)
                })
                .find(|(set, _)| *set)
                .is_some_and(|(_, layer)| layer == 1)
        };
        let mut dropped = Vec::new();
        let mut own = Vec::new();
        for (signal, endpoint, headers) in [
            ("logs", "otlp.logs_endpoint", "otlp.logs_headers"),
            ("traces", "otlp.traces_endpoint", "otlp.traces_headers"),
        ] {
            if !from_project(endpoint) {
                continue;
            }
            if [&above, &below]
                .iter()
                .any(|l| l.is_set(headers) || l.is_set("otlp.headers"))
            {
                dropped.push(signal);
            }
            let project_headers = project
                .get::<Headers>(headers)
                .or(project.get("otlp.headers"))
                .unwrap_or_default();
            own.push((headers, project_headers));
        }
        let mut merged = above.over(project).over(below);
        for (key, headers) in own {
            merged.set(key, Value::Headers(headers));
        }
        if !dropped.is_empty() {
            warnings.push(format!(
                "otlp: headers from your own settings are not sent to the {} endpoint set by the project file (a project file cannot send your credentials); set the endpoint in your own config file or environment to send them",
                dropped.join(" and ")
            ));
        }
        merged
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
    /// `publish` and `emit` start a dispatcher for new events of subscribers.
    pub auto_dispatch: bool,
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
        let user_file = match &sources.user_file {
            Some(f) => Settings::from_file(f, &mut warnings)
                .without_empty_dirs("the user config file", &mut warnings)
                .anchored(&project),
            None => Settings::default(),
        };
        project_file.cap_waits(&user_file, &mut warnings);
        // Layers are merged key by key, except that the OTLP headers of the
        // trusted layers never go with an endpoint the project file set.
        let s = Settings::merge_trusting(flags.over(env), project_file, user_file, &mut warnings);
        let d = Limits::default();
        let home_roots = || {
            let dir = (sources.env)("CLAUDE_CONFIG_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| (sources.env)("HOME").map(|h| PathBuf::from(h).join(".claude")));
            dir.map(|d| vec![d.join("projects")]).unwrap_or_default()
        };
        let otlp = OtlpSettings {
            enabled: s.get("otlp.enabled"),
            endpoint: s.get("otlp.endpoint"),
            logs_endpoint: s.get("otlp.logs_endpoint"),
            traces_endpoint: s.get("otlp.traces_endpoint"),
            protocol: s.get("otlp.protocol"),
            logs_protocol: s.get("otlp.logs_protocol"),
            traces_protocol: s.get("otlp.traces_protocol"),
            headers: s.get("otlp.headers"),
            logs_headers: s.get("otlp.logs_headers"),
            traces_headers: s.get("otlp.traces_headers"),
            timeout_ms: s.get("otlp.timeout_ms"),
            service_name: s.get("otlp.service_name"),
            resource_attributes: s.get("otlp.resource_attributes"),
            event_name_attribute: s.get("otlp.event_name_attribute"),
            spool_max_bytes: s.get("otlp.spool_max_bytes"),
            spool_max_files: s.get("otlp.spool_max_files"),
            drain_max_files: s.get("otlp.drain_max_files"),
        };
        Config {
            events_dir: s
                .get("events_dir")
                .unwrap_or_else(|| project.join(".events")),
            schemas_dir: s
                .get("schemas_dir")
                .unwrap_or_else(|| project.join("schemas")),
            unknown_events: match s.get::<String>("unknown_events").as_deref() {
                Some("accept") => UnknownEvents::Accept,
                _ => UnknownEvents::Reject,
            },
            feedback: s.get("feedback").unwrap_or(true),
            lifecycle: s.get("lifecycle").unwrap_or(true),
            auto_dispatch: s.get("auto_dispatch").unwrap_or(true),
            transcript_roots: s.get("transcript_roots").unwrap_or_else(home_roots),
            limits: Limits {
                max_payload_bytes: s
                    .get("limits.max_payload_bytes")
                    .unwrap_or(d.max_payload_bytes),
                max_marker_bytes: s
                    .get("limits.max_marker_bytes")
                    .unwrap_or(d.max_marker_bytes),
                max_markers: s.get("limits.max_markers").unwrap_or(d.max_markers),
                max_transcript_bytes: s
                    .get("limits.max_transcript_bytes")
                    .unwrap_or(d.max_transcript_bytes),
            },
            otlp: OtlpConfig::resolve(otlp, &mut warnings),
            redaction: RedactionSettings {
                enabled: s.get("redaction.enabled"),
                patterns: s.get("redaction.patterns").unwrap_or_default(),
                attributes: s.get("redaction.attributes").unwrap_or_default(),
            },
            deadline_ms: s
                .get("deadline_ms")
                .unwrap_or(crate::watchdog::DEFAULT_DEADLINE_MS),
            subscribers: s.get("subscribers").unwrap_or_default(),
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
        let mut flags = Settings::default();
        flags.set("events_dir", Value::Path("/from-flag".into()));
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
    fn the_table_shows_the_defaults() {
        use crate::sinks::otlp::otlp_config as otlp;
        let dir = tempfile::tempdir().unwrap();
        let none = |_: &str| None;
        let c = Config::resolve(
            Settings::default(),
            dir.path().into(),
            &sources(&none, None),
        );
        let shown = |key: &str| {
            let text = Setting::of(key).default;
            match text.strip_suffix(" MiB") {
                Some(n) => n.parse::<u64>().unwrap() << 20,
                None => text.replace(',', "").parse().unwrap(),
            }
        };
        let l = &c.limits;
        assert_eq!(shown("limits.max_payload_bytes"), l.max_payload_bytes);
        assert_eq!(shown("limits.max_marker_bytes"), l.max_marker_bytes);
        assert_eq!(shown("limits.max_markers"), l.max_markers);
        assert_eq!(shown("limits.max_transcript_bytes"), l.max_transcript_bytes);
        assert_eq!(shown("deadline_ms"), c.deadline_ms);
        assert_eq!(shown("otlp.timeout_ms"), otlp::DEFAULT_TIMEOUT_MS);
        assert_eq!(shown("otlp.spool_max_bytes"), otlp::DEFAULT_SPOOL_MAX_BYTES);
        assert_eq!(shown("otlp.spool_max_files"), otlp::DEFAULT_SPOOL_MAX_FILES);
        assert_eq!(shown("otlp.drain_max_files"), otlp::DEFAULT_DRAIN_MAX_FILES);
        assert_eq!(
            Setting::of("otlp.service_name").default,
            format!("`{}`", otlp::DEFAULT_SERVICE_NAME)
        );
        assert_eq!(c.unknown_events, UnknownEvents::Reject);
        assert_eq!(Setting::of("unknown_events").default, "`reject`");
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
