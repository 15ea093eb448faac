//! Request headers for the collector. They usually carry credentials, so
//! their values never reach a log line, an error message or `{:?}`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// `name: value` pairs sent with every request of a signal.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

/// In a file: an object of strings. Anything else is refused with a message
/// that names what was wrong, never the text given (serde's own message
/// quotes it, and a header given as `"authorization=Bearer …"` is a secret).
impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        const FORM: &str = "headers must be an object of names and string values, {\"name\": \"value\"}; the value given is not shown";
        match serde_json::Value::deserialize(d).map_err(|_| D::Error::custom(FORM))? {
            serde_json::Value::Object(map) => map
                .into_iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(v) => Ok((k, v)),
                    _ => Err(D::Error::custom(FORM)),
                })
                .collect::<Result<BTreeMap<_, _>, _>>()
                .map(Headers::from),
            _ => Err(D::Error::custom(FORM)),
        }
    }
}

impl Headers {
    /// Parses the `OTEL_EXPORTER_OTLP_HEADERS` form, `k1=v1,k2=v2`, with
    /// percent-encoded values. A bad entry is reported by position (never by
    /// content) and skipped.
    pub fn parse(text: &str, origin: &str, warnings: &mut Vec<String>) -> Headers {
        let mut out = Vec::new();
        for (i, entry) in text.split(',').enumerate() {
            if entry.trim().is_empty() {
                continue;
            }
            match entry.split_once('=') {
                Some((k, v)) if valid_name(k.trim()) => {
                    let value = percent_encoding::percent_decode_str(v.trim())
                        .decode_utf8_lossy()
                        .to_string();
                    out.push((k.trim().to_ascii_lowercase(), value));
                }
                _ => warnings.push(format!(
                    "{origin}: entry {} is not name=value with a valid header name; skipped",
                    i + 1
                )),
            }
        }
        Headers(out)
    }

    /// Parses `NAME=VALUE` items (flags), taken literally.
    pub fn from_pairs(items: &[String], origin: &str, warnings: &mut Vec<String>) -> Headers {
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.split_once('=') {
                Some((k, v)) if valid_name(k.trim()) => {
                    out.push((k.trim().to_ascii_lowercase(), v.to_string()))
                }
                _ => warnings.push(format!(
                    "{origin} number {} is not NAME=VALUE with a valid header name; skipped",
                    i + 1
                )),
            }
        }
        Headers(out)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl From<BTreeMap<String, String>> for Headers {
    fn from(map: BTreeMap<String, String>) -> Self {
        Headers(map.into_iter().collect())
    }
}

/// Only the names are shown.
impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| format!("{k}: <redacted>")))
            .finish()
    }
}

/// RFC 9110 token characters.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value must not carry line breaks or other control characters.
pub fn valid_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_otel_form_and_decodes_values() {
        let mut w = Vec::new();
        let h = Headers::parse(
            "Authorization=Bearer%20s3cret, x-team = a,=bad,noeq",
            "OTEL_EXPORTER_OTLP_HEADERS",
            &mut w,
        );
        assert_eq!(
            h.0,
            vec![
                ("authorization".to_string(), "Bearer s3cret".to_string()),
                ("x-team".to_string(), "a".to_string())
            ]
        );
        assert_eq!(w.len(), 2);
        assert!(w.iter().all(|l| !l.contains("bad") && !l.contains("noeq")));
    }

    #[test]
    fn debug_never_shows_values() {
        let h = Headers(vec![("authorization".into(), "Bearer s3cret".into())]);
        let shown = format!("{h:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("authorization"));
    }
}
