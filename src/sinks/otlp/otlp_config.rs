//! The resolved OTLP settings. The sink is off unless an endpoint is
//! configured (and `enabled` is not false).

use std::time::Duration;

use super::headers::{Headers, valid_value};
use super::protocol::{Protocol, Signal};
use super::settings::OtlpSettings;

pub const DEFAULT_SERVICE_NAME: &str = "event-publisher";
/// The default export deadline: well under a second, so a hook never waits
/// on the collector for long.
pub const DEFAULT_TIMEOUT_MS: u64 = 300;
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 256 << 20;
pub const DEFAULT_SPOOL_MAX_FILES: u64 = 100_000;
pub const DEFAULT_DRAIN_MAX_FILES: u64 = 64;

/// Where one signal goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// For HTTP the full URL of the signal; for gRPC `http://host:port`.
    pub url: String,
    pub protocol: Protocol,
    pub headers: Headers,
}

impl Endpoint {
    /// The URL without any `user:password@` part, query or fragment, for
    /// messages (`?api_key=…` is a common way to pass a credential).
    pub fn shown(&self) -> String {
        shown_url(&self.url)
    }

    /// `message` with the URL (or its query) replaced by `shown`: for
    /// error texts of libraries that may quote what they were given.
    pub fn scrub(&self, message: &str) -> String {
        let mut out = message.replace(&self.url, &self.shown());
        if let Some(q) = self.url.find(['?', '#']).map(|i| &self.url[i..]) {
            out = out.replace(q, "");
        }
        out
    }
}

/// A URL for messages: without userinfo, query or fragment.
pub fn shown_url(url: &str) -> String {
    let url = redact_userinfo(url);
    let start = url.find("://").map_or(0, |i| i + 3);
    match url[start..].find(['?', '#']) {
        Some(i) => url[..start + i].to_string(),
        None => url,
    }
}

/// `base` with `path` appended to its path, before any query or fragment:
/// `http://h:1/x?k=v` + `/v1/logs` → `http://h:1/x/v1/logs?k=v`.
fn append_path(base: &str, path: &str) -> String {
    let start = base.find("://").map_or(0, |i| i + 3);
    let (head, tail) = match base[start..].find(['?', '#']) {
        Some(i) => base.split_at(start + i),
        None => (base, ""),
    };
    format!("{}{path}{tail}", head.trim_end_matches('/'))
}

/// Caps on the spool under `.events/.spool/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpoolLimits {
    pub max_bytes: u64,
    pub max_files: u64,
    /// Most spooled files a `publish` sends besides its own.
    pub drain_max_files: u64,
}

#[derive(Clone, Debug)]
pub struct OtlpConfig {
    pub logs: Option<Endpoint>,
    pub traces: Option<Endpoint>,
    /// The deadline of one export request (connect, send, answer); also
    /// the most a `publish` spends on the collector in all.
    pub timeout: Duration,
    /// Resource attributes, `service.name` first.
    pub resource: Vec<(String, String)>,
    pub event_name_attribute: bool,
    pub spool: SpoolLimits,
}

impl OtlpConfig {
    /// `None` when the sink is off. Problems go to `warnings` (never a
    /// header value).
    pub fn resolve(s: OtlpSettings, warnings: &mut Vec<String>) -> Option<OtlpConfig> {
        let any_endpoint =
            s.endpoint.is_some() || s.logs_endpoint.is_some() || s.traces_endpoint.is_some();
        match (s.enabled, any_endpoint) {
            (Some(false), _) => return None,
            (Some(true), false) => {
                warnings.push(
                    "otlp is enabled but no endpoint is configured (otlp.endpoint); the OTLP sink is off"
                        .into(),
                );
                return None;
            }
            (None, false) => return None,
            _ => {}
        }
        let endpoint = |signal: Signal| -> Option<Endpoint> {
            let (given, protocol, headers) = match signal {
                Signal::Logs => (&s.logs_endpoint, s.logs_protocol, &s.logs_headers),
                Signal::Traces => (&s.traces_endpoint, s.traces_protocol, &s.traces_headers),
            };
            let protocol = protocol.or(s.protocol).unwrap_or(Protocol::HttpProtobuf);
            let url = match (given, &s.endpoint) {
                (Some(u), _) => with_scheme(u),
                (None, Some(base)) => match protocol {
                    Protocol::HttpProtobuf => append_path(&with_scheme(base), signal.http_path()),
                    Protocol::Grpc => with_scheme(base),
                },
                (None, None) => return None,
            };
            let headers = headers.clone().or(s.headers.clone()).unwrap_or_default();
            Some(Endpoint {
                url,
                protocol,
                headers,
            })
        };
        let mut logs = endpoint(Signal::Logs);
        let mut traces = endpoint(Signal::Traces);
        for (signal, ep) in [(Signal::Logs, &mut logs), (Signal::Traces, &mut traces)] {
            if let Some(e) = ep {
                if let Some(problem) = check_endpoint(e) {
                    warnings.push(format!(
                        "otlp {} endpoint {}: {problem}; {} are not exported",
                        signal.name(),
                        e.shown(),
                        signal.name()
                    ));
                    *ep = None;
                    continue;
                }
                let before = e.headers.0.len();
                e.headers
                    .0
                    .retain(|(k, v)| super::headers::valid_name(k) && valid_value(v));
                if e.headers.0.len() < before {
                    warnings.push(format!(
                        "otlp {} headers: {} header(s) with an invalid name or value skipped",
                        signal.name(),
                        before - e.headers.0.len()
                    ));
                }
            }
        }
        if logs.is_none() && traces.is_none() {
            return None;
        }
        let service = s
            .service_name
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(|| {
                s.resource_attributes
                    .as_ref()
                    .and_then(|r| r.get("service.name").cloned())
            })
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_string());
        let mut resource = vec![("service.name".to_string(), service)];
        for (k, v) in s.resource_attributes.unwrap_or_default() {
            if k != "service.name" {
                resource.push((k, v));
            }
        }
        Some(OtlpConfig {
            logs,
            traces,
            timeout: Duration::from_millis(s.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS).max(1)),
            resource,
            event_name_attribute: s.event_name_attribute.unwrap_or(true),
            spool: SpoolLimits {
                max_bytes: s.spool_max_bytes.unwrap_or(DEFAULT_SPOOL_MAX_BYTES),
                max_files: s.spool_max_files.unwrap_or(DEFAULT_SPOOL_MAX_FILES),
                drain_max_files: s.drain_max_files.unwrap_or(DEFAULT_DRAIN_MAX_FILES),
            },
        })
    }

    pub fn endpoint(&self, signal: Signal) -> Option<&Endpoint> {
        match signal {
            Signal::Logs => self.logs.as_ref(),
            Signal::Traces => self.traces.as_ref(),
        }
    }
}

/// `host:port` (the usual gRPC form) means plain `http://host:port`.
fn with_scheme(url: &str) -> String {
    let url = url.trim();
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

/// Why this build cannot send to `e`, if it cannot.
fn check_endpoint(e: &Endpoint) -> Option<String> {
    let (scheme, rest) = e.url.split_once("://")?;
    if rest.is_empty() || rest.starts_with('/') {
        return Some("no host".into());
    }
    match scheme.to_ascii_lowercase().as_str() {
        "http" => {}
        "https" => {
            return Some(
                "https needs TLS, which this build does not include (use http:// to a local collector)"
                    .into(),
            );
        }
        other => return Some(format!("unsupported scheme {other:?}")),
    }
    if e.protocol == Protocol::Grpc && !cfg!(feature = "grpc") {
        return Some("this build has no gRPC (cargo feature grpc); use http/protobuf".into());
    }
    None
}

/// `http://user:secret@host/x` → `http://***@host/x`.
pub fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(json: &str) -> (Option<OtlpConfig>, Vec<String>) {
        let s: OtlpSettings = serde_json::from_str(json).unwrap();
        let mut w = Vec::new();
        (OtlpConfig::resolve(s, &mut w), w)
    }

    #[test]
    fn off_without_endpoint_or_when_disabled() {
        assert!(resolve("{}").0.is_none());
        assert!(
            resolve(r#"{"endpoint": "http://c:4318", "enabled": false}"#)
                .0
                .is_none()
        );
        let (c, w) = resolve(r#"{"enabled": true}"#);
        assert!(c.is_none());
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn http_appends_signal_paths_per_signal_endpoints_are_used_as_given() {
        let (c, _) = resolve(
            r#"{"endpoint": "http://c:4318/", "traces_endpoint": "http://t:9/x", "headers": {"a": "1"}, "traces_headers": {"b": "2"}}"#,
        );
        let c = c.unwrap();
        assert_eq!(c.logs.as_ref().unwrap().url, "http://c:4318/v1/logs");
        assert_eq!(c.traces.as_ref().unwrap().url, "http://t:9/x");
        assert_eq!(c.logs.unwrap().headers.0[0].0, "a");
        assert_eq!(c.traces.unwrap().headers.0[0].0, "b");
        assert_eq!(c.timeout, Duration::from_millis(DEFAULT_TIMEOUT_MS));
        assert_eq!(
            c.resource[0],
            ("service.name".into(), "event-publisher".into())
        );
    }

    #[test]
    fn grpc_takes_host_port() {
        let (c, _) = resolve(r#"{"endpoint": "localhost:4317", "protocol": "grpc"}"#);
        let c = c.unwrap();
        assert_eq!(c.logs.unwrap().url, "http://localhost:4317");
    }

    #[test]
    fn https_is_reported_without_credentials() {
        let (c, w) = resolve(r#"{"endpoint": "https://user:pw@c:4318"}"#);
        assert!(c.is_none());
        assert!(w[0].contains("https needs TLS"), "{w:?}");
        assert!(!w.iter().any(|l| l.contains("pw")), "{w:?}");
    }

    #[test]
    fn service_name_beats_resource_attribute() {
        let (c, _) = resolve(
            r#"{"endpoint": "http://c", "service_name": "svc", "resource_attributes": {"service.name": "x", "team": "t"}}"#,
        );
        let c = c.unwrap();
        assert_eq!(
            c.resource,
            vec![
                ("service.name".to_string(), "svc".to_string()),
                ("team".to_string(), "t".to_string())
            ]
        );
    }

    #[test]
    fn paths_go_before_the_query_which_is_never_shown() {
        let (c, _) = resolve(r#"{"endpoint": "http://u:p@h:1/base/?api_key=S#f"}"#);
        let logs = c.unwrap().logs.unwrap();
        assert_eq!(logs.url, "http://u:p@h:1/base/v1/logs?api_key=S#f");
        assert_eq!(logs.shown(), "http://***@h:1/base/v1/logs");
        assert_eq!(
            logs.scrub(&format!("bad uri {}", logs.url)),
            "bad uri http://***@h:1/base/v1/logs"
        );
        assert_eq!(append_path("http://h", "/v1/traces"), "http://h/v1/traces");
    }

    #[test]
    fn redacts_userinfo() {
        assert_eq!(redact_userinfo("http://u:p@h:1/x"), "http://***@h:1/x");
        assert_eq!(redact_userinfo("http://h:1/x@y"), "http://h:1/x@y");
    }
}
