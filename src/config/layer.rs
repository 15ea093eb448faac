//! One layer of settings (the flags, the environment, a file): the values
//! it sets, by row of the table (`table::SETTINGS`). Unset settings fall
//! through to the next layer; lists add up across layers.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};

use super::table::{Choice, Kind, SETTINGS, Setting, one_of, parse_bool};
use crate::redact::CustomPattern;
use crate::sinks::otlp::Protocol;
use crate::sinks::otlp::headers::Headers;

/// A setting's value, of its row's `Kind`.
#[derive(Clone, Debug)]
pub enum Value {
    Path(PathBuf),
    Paths(Vec<PathBuf>),
    Number(u64),
    Bool(bool),
    /// A `Choice`'s name, or a `Text`.
    Text(String),
    Protocol(Protocol),
    Headers(Headers),
    Pairs(BTreeMap<String, String>),
    Patterns(Vec<CustomPattern>),
    Names(Vec<String>),
    List(Vec<serde_json::Value>),
}

/// One layer, by key (`Setting::key`).
#[derive(Clone, Debug, Default)]
pub struct Settings {
    values: BTreeMap<&'static str, Value>,
}

/// A Rust type a `Value` holds.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> Option<Self>;
}

macro_rules! from_value {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl FromValue for $t {
            fn from_value(v: &Value) -> Option<Self> {
                match v {
                    Value::$variant(x) => Some(x.clone()),
                    _ => None,
                }
            }
        }
    )*};
}

from_value! {
    PathBuf => Path,
    Vec<PathBuf> => Paths,
    u64 => Number,
    bool => Bool,
    String => Text,
    Protocol => Protocol,
    Headers => Headers,
    BTreeMap<String, String> => Pairs,
    Vec<CustomPattern> => Patterns,
    Vec<String> => Names,
    Vec<serde_json::Value> => List,
}

impl Settings {
    /// The value of `key` in this layer.
    pub fn get<T: FromValue>(&self, key: &str) -> Option<T> {
        let row = Setting::of(key);
        let value = self.values.get(row.key)?;
        let typed = T::from_value(value);
        debug_assert!(typed.is_some(), "{key} is read as the wrong type");
        typed
    }

    /// Sets `key` (to a value of its row's kind).
    pub fn set(&mut self, key: &str, value: Value) {
        self.values.insert(Setting::of(key).key, value);
    }

    pub fn unset(&mut self, key: &str) -> Option<Value> {
        self.values.remove(key)
    }

    pub fn is_set(&self, key: &str) -> bool {
        self.values.contains_key(Setting::of(key).key)
    }

    /// The settings of this layer, with their rows.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&'static Setting, &mut Value)> {
        self.values
            .iter_mut()
            .map(|(key, value)| (Setting::of(key), value))
    }

    /// This layer over `lower`: each setting set here wins; lists add up
    /// (this layer's first).
    pub fn over(mut self, lower: Settings) -> Settings {
        for (key, low) in lower.values {
            match self.values.remove(key) {
                None => {
                    self.values.insert(key, low);
                }
                Some(high) => {
                    let merged = match (high, low) {
                        (Value::Patterns(h), Value::Patterns(l)) => {
                            Value::Patterns([h, l].concat())
                        }
                        (Value::Names(h), Value::Names(l)) => Value::Names([h, l].concat()),
                        (Value::List(h), Value::List(l)) => Value::List([h, l].concat()),
                        (high, _) => high,
                    };
                    self.values.insert(key, merged);
                }
            }
        }
        self
    }

    /// The environment's layer: each row's variables, the first readable
    /// one winning. Empty variables are unset; unreadable values are
    /// reported and skipped.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>, warnings: &mut Vec<String>) -> Settings {
        let mut layer = Settings::default();
        for row in SETTINGS {
            let mut found = None;
            for name in row.env {
                let Some(v) = env(name).filter(|v| !v.trim().is_empty()) else {
                    continue;
                };
                let value = env_value(row.kind, name, &v, warnings);
                found = found.or(value);
            }
            if let Some(value) = found {
                layer.values.insert(row.key, value);
            }
        }
        layer
    }

    /// Parses a config file's text; unknown keys are errors.
    pub fn from_json(text: &str) -> serde_json::Result<Settings> {
        let mut layer = Settings::default();
        let mut de = serde_json::Deserializer::from_str(text);
        Section {
            prefix: "",
            layer: &mut layer,
        }
        .deserialize(&mut de)?;
        de.end()?;
        Ok(layer)
    }
}

/// What the command line gave a setting's flag, parsed as its kind.
#[derive(Clone, Debug)]
pub enum Given {
    /// A flag without a value: it turns its `Bool` setting off.
    Off,
    Number(u64),
    Path(PathBuf),
    /// A choice, a protocol or a text.
    Text(String),
    /// A repeated flag's values (`--otlp-header NAME=VALUE`).
    Items(Vec<String>),
}

impl Settings {
    /// The flags' layer. Values the parser did not check are reported and skipped.
    pub fn from_flags<'a>(
        given: impl IntoIterator<Item = &'a (&'static Setting, Given)>,
        warnings: &mut Vec<String>,
    ) -> Settings {
        let mut layer = Settings::default();
        for (row, given) in given {
            let value = match (row.kind, given) {
                (Kind::Bool | Kind::Switch, Given::Off) => Some(Value::Bool(false)),
                (Kind::Number, Given::Number(n)) => Some(Value::Number(*n)),
                (Kind::Path, Given::Path(p)) => Some(Value::Path(p.clone())),
                (Kind::Protocol, Given::Text(t)) => Protocol::parse(t).map(Value::Protocol),
                (Kind::Choice(_) | Kind::Text, Given::Text(t)) => Some(Value::Text(t.clone())),
                (Kind::Headers, Given::Items(items)) if !items.is_empty() => {
                    let flag = row.flag.map(|f| f.long).unwrap_or_default();
                    Some(Value::Headers(Headers::from_pairs(
                        items,
                        &format!("--{flag}"),
                        warnings,
                    )))
                }
                _ => None,
            };
            if let Some(value) = value {
                layer.values.insert(row.key, value);
            }
        }
        layer
    }
}

/// A variable's value as a `kind`, or a warning naming the variable.
fn env_value(kind: Kind, name: &str, v: &str, warnings: &mut Vec<String>) -> Option<Value> {
    let mut refuse = |what: &str| {
        warnings.push(format!("{name}={v:?} is not {what}; ignored"));
        None
    };
    match kind {
        Kind::Path => Some(Value::Path(PathBuf::from(v))),
        Kind::Paths => Some(Value::Paths(std::env::split_paths(v).collect())),
        Kind::Number => match v.trim().parse::<u64>() {
            Ok(n) => Some(Value::Number(n)),
            Err(_) => refuse("a whole number"),
        },
        Kind::Bool | Kind::Switch => match parse_bool(v.trim()) {
            Some(b) => Some(Value::Bool(b)),
            None if kind == Kind::Switch => refuse("on or off"),
            None => refuse("true or false"),
        },
        Kind::Choice(choices) => match choices.iter().find(|c| c.name == v.trim()) {
            Some(c) => Some(Value::Text(c.name.to_string())),
            None => {
                let names: Vec<&str> = choices.iter().map(|c| c.name).collect();
                refuse(&names.join(" or "))
            }
        },
        Kind::Protocol => match Protocol::parse(v) {
            Some(p) => Some(Value::Protocol(p)),
            None => refuse("grpc or http/protobuf"),
        },
        Kind::Text => Some(Value::Text(v.trim().to_string())),
        Kind::Headers => Some(Value::Headers(Headers::parse(v, name, warnings))),
        Kind::Pairs => Some(Value::Pairs(
            Headers::parse(v, name, warnings).0.into_iter().collect(),
        )),
        // Only files carry these.
        Kind::Patterns | Kind::Names | Kind::List => None,
    }
}

/// A file's object at `prefix` (`""` for the whole file, `limits` for its
/// `limits` object), read into `layer`.
struct Section<'a> {
    prefix: &'static str,
    layer: &'a mut Settings,
}

impl Section<'_> {
    /// `s`'s key inside this section, if it is in it.
    fn within(&self, s: &'static Setting) -> Option<&'static str> {
        match self.prefix {
            "" => Some(s.key),
            p => s.key.strip_prefix(p)?.strip_prefix('.'),
        }
    }

    /// The row, or the inner section (its full prefix), that `name` names.
    fn find(&self, name: &str) -> Option<(&'static str, Option<&'static Setting>)> {
        SETTINGS.iter().find_map(|s| {
            let rest = self.within(s)?;
            if rest == name {
                return Some((s.key, Some(s)));
            }
            rest.strip_prefix(name)?.strip_prefix('.')?;
            Some((&s.key[..s.key.len() - rest.len() + name.len()], None))
        })
    }

    /// The names this section takes, in table order.
    fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        for s in SETTINGS {
            if let Some(name) = self.within(s).and_then(|r| r.split('.').next())
                && !names.contains(&name)
            {
                names.push(name);
            }
        }
        names
    }
}

impl<'de> DeserializeSeed<'de> for Section<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Section<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.prefix {
            "" => write!(f, "an object of settings"),
            p => write!(f, "the {p} object"),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen: Vec<String> = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            if seen.contains(&name) {
                return Err(de::Error::custom(format!("duplicate field `{name}`")));
            }
            match self.find(&name) {
                Some((key, Some(row))) => {
                    if let Some(value) = map.next_value_seed(Typed(row.kind))? {
                        self.layer.values.insert(key, value);
                    }
                }
                Some((key, None)) => map.next_value_seed(Section {
                    prefix: key,
                    layer: self.layer,
                })?,
                None => {
                    let names = self.names();
                    return Err(de::Error::custom(format!(
                        "unknown field `{name}`, expected {}",
                        one_of(names.into_iter())
                    )));
                }
            }
            seen.push(name);
        }
        Ok(())
    }
}

/// A value in a file, read as its row's kind; `None` for `null`.
struct Typed(Kind);

impl<'de> DeserializeSeed<'de> for Typed {
    type Value = Option<Value>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        use serde::Deserialize;
        fn opt<'de, T: Deserialize<'de>, D: de::Deserializer<'de>>(
            d: D,
            f: fn(T) -> Value,
        ) -> Result<Option<Value>, D::Error> {
            Ok(Option::<T>::deserialize(d)?.map(f))
        }
        match self.0 {
            Kind::Path => opt(d, Value::Path),
            Kind::Paths => opt(d, Value::Paths),
            Kind::Number => opt(d, Value::Number),
            Kind::Bool | Kind::Switch => opt(d, Value::Bool),
            Kind::Choice(choices) => d.deserialize_option(ChoiceOf(choices)),
            Kind::Protocol => opt(d, Value::Protocol),
            Kind::Text => opt(d, Value::Text),
            Kind::Headers => opt(d, Value::Headers),
            Kind::Pairs => opt(d, Value::Pairs),
            Kind::Patterns => Vec::deserialize(d).map(|v| Some(Value::Patterns(v))),
            Kind::Names => Vec::deserialize(d).map(|v| Some(Value::Names(v))),
            Kind::List => Vec::deserialize(d).map(|v| Some(Value::List(v))),
        }
    }
}

/// One of a `Choice` row's names, or `null`.
struct ChoiceOf(&'static [Choice]);

impl<'de> Visitor<'de> for ChoiceOf {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", one_of(self.0.iter().map(|c| c.name)))
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_str(self)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<Value>, E> {
        match self.0.iter().find(|c| c.name == v) {
            Some(c) => Ok(Some(Value::Text(c.name.to_string()))),
            None => Err(E::custom(format!(
                "unknown variant `{v}`, expected {}",
                one_of(self.0.iter().map(|c| c.name))
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_read_by_the_table() {
        let s = Settings::from_json(
            r#"{"events_dir": "e", "limits": {"max_markers": 5}, "unknown_events": "accept",
                "otlp": {"protocol": "grpc", "headers": {"a": "1"}}, "subscribers": [{}], "feedback": null}"#,
        )
        .unwrap();
        assert_eq!(s.get::<PathBuf>("events_dir"), Some("e".into()));
        assert_eq!(s.get::<u64>("limits.max_markers"), Some(5));
        assert_eq!(s.get::<String>("unknown_events").as_deref(), Some("accept"));
        assert_eq!(s.get::<Protocol>("otlp.protocol"), Some(Protocol::Grpc));
        assert_eq!(
            s.get::<Vec<serde_json::Value>>("subscribers")
                .unwrap()
                .len(),
            1
        );
        assert!(!s.is_set("feedback"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_naming_them() {
        let e = Settings::from_json(r#"{"limits": {"max_marker": 1}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown field `max_marker`, expected one of `max_payload_bytes`, `max_marker_bytes`, `max_markers`, `max_transcript_bytes` at line 1 column 24"
        );
        let e = Settings::from_json(r#"{"unknown_events": "maybe"}"#).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("unknown variant `maybe`, expected `reject` or `accept`"),
            "{e}"
        );
        let e = Settings::from_json(r#"{"otlp": {"protocol": "http/json"}}"#).unwrap_err();
        assert!(e.to_string().contains("not grpc or http/protobuf"), "{e}");
        let e = Settings::from_json(r#"{"deadline_ms": 1, "deadline_ms": 2}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate field"), "{e}");
        assert!(Settings::from_json(r#"{"limits": 5}"#).is_err());
    }

    #[test]
    fn lists_add_up_and_the_rest_is_first_wins() {
        let high = Settings::from_json(r#"{"deadline_ms": 1, "redaction": {"attributes": ["a"]}}"#)
            .unwrap();
        let low = Settings::from_json(
            r#"{"deadline_ms": 2, "lifecycle": false, "redaction": {"attributes": ["b"]}}"#,
        )
        .unwrap();
        let s = high.over(low);
        assert_eq!(s.get::<u64>("deadline_ms"), Some(1));
        assert_eq!(s.get::<bool>("lifecycle"), Some(false));
        assert_eq!(
            s.get::<Vec<String>>("redaction.attributes"),
            Some(vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn variables_ours_first_then_opentelemetry() {
        let vars: std::collections::HashMap<&str, &str> = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318"),
            ("EVENT_PUBLISHER_OTLP_ENDPOINT", "http://ours:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_SERVICE_NAME", "svc"),
            ("OTEL_RESOURCE_ATTRIBUTES", "team=a%20b,env=dev"),
            ("EVENT_PUBLISHER_OTLP_TIMEOUT_MS", "soon"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "250"),
            ("EVENT_PUBLISHER_REDACTION", "maybe"),
            ("EVENT_PUBLISHER_UNKNOWN_EVENTS", "sometimes"),
        ]
        .into();
        let env = |k: &str| vars.get(k).map(|v| v.to_string());
        let mut w = Vec::new();
        let s = Settings::from_env(&env, &mut w);
        assert_eq!(
            s.get::<String>("otlp.endpoint").as_deref(),
            Some("http://ours:4318")
        );
        assert_eq!(
            s.get::<Protocol>("otlp.traces_protocol"),
            Some(Protocol::Grpc)
        );
        assert!(!s.is_set("otlp.protocol"));
        assert_eq!(s.get::<String>("otlp.service_name").as_deref(), Some("svc"));
        assert_eq!(
            s.get::<BTreeMap<String, String>>("otlp.resource_attributes")
                .unwrap()["team"],
            "a b"
        );
        assert_eq!(s.get::<u64>("otlp.timeout_ms"), Some(250));
        assert_eq!(
            w,
            [
                "EVENT_PUBLISHER_UNKNOWN_EVENTS=\"sometimes\" is not reject or accept; ignored",
                "OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\" is not grpc or http/protobuf; ignored",
                "EVENT_PUBLISHER_OTLP_TIMEOUT_MS=\"soon\" is not a whole number; ignored",
                "EVENT_PUBLISHER_REDACTION=\"maybe\" is not on or off; ignored",
            ]
        );
    }
}
