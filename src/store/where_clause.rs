//! `--where ATTR=VALUE`: an attribute test. The attribute is looked up by
//! its exact key, else as a dotted path into nested objects
//! (`cache.hit`). A string attribute must equal VALUE as typed; any other
//! attribute must equal VALUE read as JSON (`42`, `true`, `null`, `[1,2]`).

use serde_json::{Map, Value};

use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct WhereClause {
    key: String,
    value: String,
    json: Option<Value>,
}

impl WhereClause {
    pub fn parse(s: &str) -> Result<WhereClause> {
        let (key, value) = s
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| Error::new(format!("--where {s:?}: expected ATTR=VALUE")))?;
        Ok(WhereClause {
            key: key.to_string(),
            value: value.to_string(),
            json: serde_json::from_str(value).ok(),
        })
    }

    pub fn matches(&self, attributes: &Map<String, Value>) -> bool {
        let found = attributes.get(&self.key).or_else(|| {
            let mut parts = self.key.split('.');
            let mut v = attributes.get(parts.next()?)?;
            for p in parts {
                v = v.get(p)?;
            }
            Some(v)
        });
        match found {
            Some(Value::String(s)) => *s == self.value,
            Some(Value::Number(n)) => match (&self.json, n.as_f64()) {
                (Some(Value::Number(want)), Some(have)) => want.as_f64() == Some(have),
                _ => false,
            },
            Some(v) => self.json.as_ref() == Some(v),
            None => false,
        }
    }

    /// Bytes that every matching record file holds: VALUE itself, when
    /// serde_json writes it unescaped and no other spelling of it can match
    /// (numbers can: `1` and `1.0`).
    pub fn needle(&self) -> Option<&str> {
        let plain = !self.value.is_empty()
            && self
                .value
                .chars()
                .all(|c| c >= ' ' && c != '"' && c != '\\');
        let number = matches!(self.json, Some(Value::Number(_)));
        (plain && !number).then_some(self.value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs() -> Map<String, Value> {
        json!({"url": "https://x/", "hit": true, "age": 1.0, "n": 3, "cache": {"hit": false}, "a.b": "dotted"})
            .as_object()
            .unwrap()
            .clone()
    }

    fn m(s: &str) -> bool {
        WhereClause::parse(s).unwrap().matches(&attrs())
    }

    #[test]
    fn compares_strings_as_typed_and_the_rest_as_json() {
        assert!(m("url=https://x/"));
        assert!(!m("url=https://x"));
        assert!(m("hit=true"));
        assert!(!m("hit=false"));
        assert!(m("age=1"));
        assert!(m("n=3.0"));
        assert!(m("cache.hit=false"));
        assert!(m("a.b=dotted"));
        assert!(!m("missing=1"));
    }

    #[test]
    fn needles_only_when_the_bytes_must_appear() {
        let n = |s: &str| WhereClause::parse(s).unwrap().needle().map(str::to_string);
        assert_eq!(n("url=https://x/").as_deref(), Some("https://x/"));
        assert_eq!(n("n=3"), None);
        assert_eq!(n("q=a\"b"), None);
        assert_eq!(n("hit=true").as_deref(), Some("true"));
    }

    #[test]
    fn needs_a_key() {
        assert!(WhereClause::parse("=x").is_err());
        assert!(WhereClause::parse("x").is_err());
        assert!(WhereClause::parse("x=").is_ok());
    }
}
