//! Subscribers, as written under `subscribers` in the config files, parsed
//! and checked: which events each is on (`on` name globs, `!` excludes,
//! `where` conditions, `invalid` opt-in), what it does (`exec`, `webhook`,
//! `emit`) and its delivery settings. Emit subscribers that would trigger
//! each other in a circle are refused here, where the loop can be seen.
//!
//! ```json
//! { "name": "ci", "on": ["urlCacher.*", "!urlCacher.cacheCheckStarted"],
//!   "where": {"agent_type": "url-cacher"},
//!   "webhook": {"url": "http://127.0.0.1:8080/hooks", "secret_env": "CI_SECRET"},
//!   "retries": 5, "timeout_ms": 10000, "concurrency": 1 }
//! ```

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::enrich::Record;
use crate::store::WhereClause;

/// Source fields a `where` condition may name (also as `source.<field>`).
const SOURCE_FIELDS: &[&str] = &[
    "hook_event_name",
    "session_id",
    "prompt_id",
    "agent_id",
    "agent_type",
    "tool_name",
    "tool_use_id",
    "cwd",
];

/// What a subscriber does with an event.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A command, run directly (argv), the record JSON on stdin.
    Exec { argv: Vec<String> },
    /// A command line run by `sh -c`, only when asked for with `shell`.
    Shell { command: String },
    Webhook {
        url: String,
        /// The variable holding the signing secret, if any.
        secret_env: Option<String>,
    },
    /// Derived events, one per entry (several: a parallel step).
    Emit(Vec<EmitSpec>),
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Exec { .. } | Action::Shell { .. } => "exec",
            Action::Webhook { .. } => "webhook",
            Action::Emit(_) => "emit",
        }
    }
}

/// One derived event: its name and attributes, where strings may hold
/// `${...}` references to the triggering record (see `bus::template`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmitSpec {
    pub name: String,
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

#[derive(Clone, Debug)]
pub struct Subscriber {
    pub name: String,
    include: Vec<glob::Pattern>,
    exclude: Vec<glob::Pattern>,
    conditions: Vec<Condition>,
    /// Dead letters (invalid events) are delivered too.
    pub invalid: bool,
    pub action: Action,
    /// Attempts after the first before an event goes to the dead letters.
    pub retries: u32,
    pub timeout: Duration,
    pub concurrency: usize,
    pub backoff: Duration,
    pub max_backoff: Duration,
}

#[derive(Clone, Debug)]
enum Condition {
    Source { field: String, value: String },
    Attribute(WhereClause),
}

/// The file form of a subscriber.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    name: String,
    on: OneOrMany<String>,
    #[serde(default, rename = "where")]
    wheres: Map<String, Value>,
    #[serde(default)]
    invalid: bool,
    exec: Option<ExecSpec>,
    webhook: Option<WebhookSpec>,
    emit: Option<OneOrMany<EmitSpec>>,
    retries: Option<u32>,
    timeout_ms: Option<u64>,
    concurrency: Option<usize>,
    backoff_ms: Option<u64>,
    max_backoff_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ExecSpec {
    Argv(Vec<String>),
    Shell { shell: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookSpec {
    url: String,
    secret_env: Option<String>,
}

/// The defaults of the delivery settings.
pub const DEFAULT_RETRIES: u32 = 5;
pub const DEFAULT_EXEC_TIMEOUT_MS: u64 = 30_000;
pub const DEFAULT_WEBHOOK_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_BACKOFF_MS: u64 = 500;
pub const DEFAULT_MAX_BACKOFF_MS: u64 = 60_000;
/// How long a chain of derived events may grow (`caused_by` links), for
/// loops the config cannot show (an exec subscriber that runs `emit`).
pub const MAX_DEPTH: usize = 8;

/// The subscribers of a config, checked; what was refused is in `warnings`.
#[derive(Clone, Debug, Default)]
pub struct Subscribers {
    pub list: Vec<Subscriber>,
    pub warnings: Vec<String>,
}

impl Subscribers {
    /// Parses the `subscribers` entries of the config files. Each broken
    /// entry is refused with one line; so are emit subscribers in a loop.
    pub fn parse(entries: &[Value]) -> Subscribers {
        let mut out = Subscribers::default();
        let mut names = HashSet::new();
        for (i, entry) in entries.iter().enumerate() {
            let label = entry
                .get("name")
                .and_then(Value::as_str)
                .map(|n| format!("subscriber {:?}", super::one_line(n, 60)))
                .unwrap_or_else(|| format!("subscriber #{}", i + 1));
            match Subscriber::parse(entry) {
                Ok(s) if !names.insert(s.name.clone()) => out
                    .warnings
                    .push(format!("{label}: the name is used twice; refused")),
                Ok(s) => out.list.push(s),
                Err(e) => out.warnings.push(format!("{label}: {e}; refused")),
            }
        }
        out.refuse_loops();
        out
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&Subscriber> {
        self.list.iter().find(|s| s.name == name)
    }

    /// Whether any subscriber is on `record`.
    pub fn any_on(&self, record: &Record) -> bool {
        self.list.iter().any(|s| s.is_on(record))
    }

    /// Emit subscribers whose derived events trigger, through other emit
    /// subscribers, themselves again: each such circle is refused whole.
    fn refuse_loops(&mut self) {
        let n = self.list.len();
        let edges: Vec<Vec<usize>> = (0..n)
            .map(|a| match &self.list[a].action {
                Action::Emit(specs) => (0..n)
                    .filter(|b| specs.iter().any(|e| self.list[*b].is_on_name(&e.name)))
                    .collect(),
                _ => Vec::new(),
            })
            .collect();
        let mut refused = HashSet::new();
        for start in 0..n {
            if refused.contains(&start) {
                continue;
            }
            if let Some(cycle) = find_cycle(start, &edges) {
                let names: Vec<&str> = cycle.iter().map(|i| self.list[*i].name.as_str()).collect();
                self.warnings.push(format!(
                    "subscribers {} → {} form a loop (each emits an event the next is on); refused",
                    names.join(" → "),
                    names[0]
                ));
                refused.extend(cycle);
            }
        }
        let mut i = 0;
        self.list.retain(|_| {
            i += 1;
            !refused.contains(&(i - 1))
        });
    }
}

/// A path of edges from `start` back to itself, if there is one.
fn find_cycle(start: usize, edges: &[Vec<usize>]) -> Option<Vec<usize>> {
    let mut stack = vec![(start, vec![start])];
    let mut seen = HashSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in &edges[at] {
            if *next == start {
                return Some(path);
            }
            if seen.insert(*next) {
                let mut p = path.clone();
                p.push(*next);
                stack.push((*next, p));
            }
        }
    }
    None
}

impl Subscriber {
    fn parse(entry: &Value) -> Result<Subscriber, String> {
        let spec = Spec::deserialize(entry).map_err(|e| e.to_string())?;
        if spec.name.is_empty()
            || spec.name.len() > 64
            || spec.name.starts_with(['.', '-'])
            || !spec
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err("a name is letters, digits, `_`, `-` and `.` (64 at most)".into());
        }
        let mut include = Vec::new();
        let mut exclude = Vec::new();
        for glob in spec.on.into_vec() {
            let (list, text) = match glob.strip_prefix('!') {
                Some(rest) => (&mut exclude, rest),
                None => (&mut include, glob.as_str()),
            };
            list.push(glob::Pattern::new(text).map_err(|e| format!("on {glob:?}: {e}"))?);
        }
        if include.is_empty() && exclude.is_empty() {
            return Err("`on` names no event".into());
        }
        let mut conditions = Vec::new();
        for (key, value) in spec.wheres {
            let field = key.strip_prefix("source.").unwrap_or(&key);
            if SOURCE_FIELDS.contains(&field) {
                let Value::String(v) = value else {
                    return Err(format!(
                        "where {key:?}: a source field is compared to a string"
                    ));
                };
                conditions.push(Condition::Source {
                    field: field.to_string(),
                    value: v,
                });
            } else {
                let text = match value {
                    Value::String(s) => s,
                    v => v.to_string(),
                };
                let clause = WhereClause::parse(&format!("{key}={text}"))
                    .map_err(|e| format!("where {key:?}: {e}"))?;
                conditions.push(Condition::Attribute(clause));
            }
        }
        let actions = [
            spec.exec.is_some(),
            spec.webhook.is_some(),
            spec.emit.is_some(),
        ];
        if actions.iter().filter(|a| **a).count() != 1 {
            return Err("give exactly one of exec, webhook and emit".into());
        }
        let action = if let Some(exec) = spec.exec {
            match exec {
                ExecSpec::Argv(argv) if argv.first().is_some_and(|a| !a.is_empty()) => {
                    Action::Exec { argv }
                }
                ExecSpec::Argv(_) => return Err("exec: an empty command".into()),
                ExecSpec::Shell { shell } => Action::Shell { command: shell },
            }
        } else if let Some(w) = spec.webhook {
            check_url(&w.url)?;
            Action::Webhook {
                url: w.url,
                secret_env: w.secret_env.filter(|v| !v.is_empty()),
            }
        } else {
            let specs = spec.emit.map(OneOrMany::into_vec).unwrap_or_default();
            if specs.is_empty() {
                return Err("emit: no event".into());
            }
            for e in &specs {
                if !crate::validate::is_safe_name(&e.name) {
                    return Err(format!("emit: {:?} is not an event name", e.name));
                }
            }
            Action::Emit(specs)
        };
        let timeout_ms = spec.timeout_ms.unwrap_or(match action {
            Action::Webhook { .. } => DEFAULT_WEBHOOK_TIMEOUT_MS,
            _ => DEFAULT_EXEC_TIMEOUT_MS,
        });
        Ok(Subscriber {
            name: spec.name,
            include,
            exclude,
            conditions,
            invalid: spec.invalid,
            action,
            retries: spec.retries.unwrap_or(DEFAULT_RETRIES),
            timeout: Duration::from_millis(timeout_ms.max(1)),
            concurrency: spec.concurrency.unwrap_or(1).clamp(1, 64),
            backoff: Duration::from_millis(spec.backoff_ms.unwrap_or(DEFAULT_BACKOFF_MS)),
            max_backoff: Duration::from_millis(
                spec.max_backoff_ms.unwrap_or(DEFAULT_MAX_BACKOFF_MS),
            ),
        })
    }

    /// Whether an event named `name` passes `on`.
    pub fn is_on_name(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| p.matches(name)))
            && !self.exclude.iter().any(|p| p.matches(name))
    }

    /// Whether this subscriber is on `record`: `on`, `where`, and, for a
    /// dead letter, `invalid` (a dead letter without a name needs an `on`
    /// that matches every name, such as `*`).
    pub fn is_on(&self, record: &Record) -> bool {
        if !record.is_valid() && !self.invalid {
            return false;
        }
        let named = match record.name.as_deref() {
            Some(n) => self.is_on_name(n),
            None => self.include.iter().any(|p| p.as_str() == "*"),
        };
        named
            && self.conditions.iter().all(|c| match c {
                Condition::Source { field, value } => {
                    source_field(record, field) == Some(value.as_str())
                }
                Condition::Attribute(w) => w.matches(&record.attributes),
            })
    }
}

fn source_field<'a>(r: &'a Record, field: &str) -> Option<&'a str> {
    let s = &r.source;
    match field {
        "hook_event_name" => s.hook_event_name.as_deref(),
        "session_id" => s.session_id.as_deref(),
        "prompt_id" => s.prompt_id.as_deref(),
        "agent_id" => s.agent_id.as_deref(),
        "agent_type" => s.agent_type.as_deref(),
        "tool_name" => s.tool_name.as_deref(),
        "tool_use_id" => s.tool_use_id.as_deref(),
        "cwd" => s.cwd.as_deref(),
        _ => None,
    }
}

/// Webhooks go over plain HTTP: this build has no TLS (ureq is built
/// without it, to keep the hook's binary small and fast to start).
fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("https://") {
        return Err(
            "webhook: https:// is not supported (this build has no TLS); send to an http:// \
             relay on this machine (e.g. an OpenTelemetry Collector or a TLS proxy)"
                .into(),
        );
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or("webhook: the url must start with http://")?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err("webhook: the url has no host".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(name: &str, agent_type: Option<&str>, attrs: Value) -> Record {
        let mut r = crate::sinks::fs::tests::record(1, "2025-08-12T16:30:00.000Z", true);
        r.name = Some(name.into());
        r.source.agent_type = agent_type.map(str::to_string);
        r.attributes = attrs.as_object().unwrap().clone();
        r
    }

    #[test]
    fn on_globs_exclusions_and_where() {
        let subs = Subscribers::parse(&[json!({
            "name": "ci", "on": ["urlCacher.*", "!urlCacher.cacheCheckStarted"],
            "where": {"agent_type": "url-cacher", "hit": true},
            "exec": ["true"]
        })]);
        assert!(subs.warnings.is_empty(), "{:?}", subs.warnings);
        let s = &subs.list[0];
        let ok = json!({"hit": true});
        assert!(s.is_on(&record(
            "urlCacher.cacheStored",
            Some("url-cacher"),
            ok.clone()
        )));
        assert!(!s.is_on(&record(
            "urlCacher.cacheCheckStarted",
            Some("url-cacher"),
            ok.clone()
        )));
        assert!(!s.is_on(&record("other.thing", Some("url-cacher"), ok.clone())));
        assert!(!s.is_on(&record("urlCacher.cacheStored", Some("x"), ok)));
        assert!(!s.is_on(&record(
            "urlCacher.cacheStored",
            Some("url-cacher"),
            json!({"hit": false})
        )));
        let mut dead = record(
            "urlCacher.cacheStored",
            Some("url-cacher"),
            json!({"hit": true}),
        );
        dead.errors = vec![crate::validate::Problem::new("schema", "", "no")];
        assert!(!s.is_on(&dead), "dead letters only when asked for");
    }

    #[test]
    fn broken_entries_are_refused_one_by_one() {
        let subs = Subscribers::parse(&[
            json!({"name": "a", "on": "x.y", "exec": ["true"], "webhook": {"url": "http://h/"}}),
            json!({"name": "b", "on": "x.y", "webhook": {"url": "https://h/"}}),
            json!({"name": "../c", "on": "x.y", "exec": ["true"]}),
            json!({"name": "d", "on": "x.y", "exec": ["true"], "colour": 1}),
            json!({"name": "e", "on": "x.y", "exec": {"shell": "echo hi | cat"}}),
        ]);
        assert_eq!(subs.list.len(), 1);
        assert_eq!(
            subs.list[0].action,
            Action::Shell {
                command: "echo hi | cat".into()
            }
        );
        assert_eq!(subs.warnings.len(), 4, "{:?}", subs.warnings);
        assert!(subs.warnings[1].contains("no TLS"));
    }

    #[test]
    fn emit_loops_are_refused_and_chains_kept() {
        let subs = Subscribers::parse(&[
            json!({"name": "a", "on": "x.one", "emit": {"name": "x.two"}}),
            json!({"name": "b", "on": "x.two", "emit": [{"name": "x.three"}, {"name": "x.four"}]}),
            json!({"name": "c", "on": "x.f*", "emit": {"name": "x.one"}}),
            json!({"name": "d", "on": "y.one", "emit": {"name": "y.two"}}),
            json!({"name": "self", "on": "z.*", "emit": {"name": "z.again"}}),
        ]);
        let kept: Vec<&str> = subs.list.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(kept, ["d"]);
        assert_eq!(subs.warnings.len(), 2, "{:?}", subs.warnings);
        assert!(
            subs.warnings[0].contains("a → b → c → a"),
            "{:?}",
            subs.warnings
        );
    }
}
