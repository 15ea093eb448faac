//! One layer of OTLP settings (the `otlp` object of a config file, the
//! environment, or the flags); unset fields fall through to the next layer.
//!
//! The environment layer reads the standard OpenTelemetry variables and the
//! tool's own `EVENT_PUBLISHER_OTLP_*` twins, which win over them (Claude
//! Code strips `OTEL_*` from a hook's environment, the twins survive):
//!
//! | setting | OpenTelemetry | event-publisher |
//! |---|---|---|
//! | endpoint | `OTEL_EXPORTER_OTLP_ENDPOINT` | `EVENT_PUBLISHER_OTLP_ENDPOINT` |
//! | per signal | `OTEL_EXPORTER_OTLP_{LOGS,TRACES}_ENDPOINT` | `EVENT_PUBLISHER_OTLP_{LOGS,TRACES}_ENDPOINT` |
//! | protocol | `OTEL_EXPORTER_OTLP[_{LOGS,TRACES}]_PROTOCOL` | `EVENT_PUBLISHER_OTLP[_{LOGS,TRACES}]_PROTOCOL` |
//! | headers | `OTEL_EXPORTER_OTLP[_{LOGS,TRACES}]_HEADERS` | `EVENT_PUBLISHER_OTLP[_{LOGS,TRACES}]_HEADERS` |
//! | deadline | `OTEL_EXPORTER_OTLP_TIMEOUT` (ms) | `EVENT_PUBLISHER_OTLP_TIMEOUT_MS` |
//! | service name | `OTEL_SERVICE_NAME` | `EVENT_PUBLISHER_OTLP_SERVICE_NAME` |
//! | resource | `OTEL_RESOURCE_ATTRIBUTES` | `EVENT_PUBLISHER_OTLP_RESOURCE_ATTRIBUTES` |
//! | on/off | | `EVENT_PUBLISHER_OTLP_ENABLED` |
//! | `event.name` attribute | | `EVENT_PUBLISHER_OTLP_EVENT_NAME_ATTRIBUTE` |
//! | spool caps | | `EVENT_PUBLISHER_OTLP_SPOOL_MAX_BYTES`, `..._SPOOL_MAX_FILES`, `..._DRAIN_MAX_FILES` |

use std::collections::BTreeMap;

use serde::Deserialize;

use super::headers::Headers;
use super::protocol::Protocol;
use crate::config::parse_bool;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpSettings {
    /// false turns the sink off even with an endpoint; true without an
    /// endpoint is reported.
    pub enabled: Option<bool>,
    /// Base URL; `/v1/logs` and `/v1/traces` are appended for HTTP.
    pub endpoint: Option<String>,
    /// Used as given.
    pub logs_endpoint: Option<String>,
    pub traces_endpoint: Option<String>,
    pub protocol: Option<Protocol>,
    pub logs_protocol: Option<Protocol>,
    pub traces_protocol: Option<Protocol>,
    pub headers: Option<Headers>,
    /// Replace `headers` for their signal.
    pub logs_headers: Option<Headers>,
    pub traces_headers: Option<Headers>,
    /// The export deadline of one request, in milliseconds.
    pub timeout_ms: Option<u64>,
    pub service_name: Option<String>,
    pub resource_attributes: Option<BTreeMap<String, String>>,
    /// Also carry the name in an `event.name` attribute (Claude Code's way).
    pub event_name_attribute: Option<bool>,
    pub spool_max_bytes: Option<u64>,
    pub spool_max_files: Option<u64>,
    /// Most spooled files one `publish` sends on top of its own.
    pub drain_max_files: Option<u64>,
}

impl OtlpSettings {
    /// This layer over `lower`: each field set here wins.
    pub fn over(self, lower: OtlpSettings) -> OtlpSettings {
        OtlpSettings {
            enabled: self.enabled.or(lower.enabled),
            endpoint: self.endpoint.or(lower.endpoint),
            logs_endpoint: self.logs_endpoint.or(lower.logs_endpoint),
            traces_endpoint: self.traces_endpoint.or(lower.traces_endpoint),
            protocol: self.protocol.or(lower.protocol),
            logs_protocol: self.logs_protocol.or(lower.logs_protocol),
            traces_protocol: self.traces_protocol.or(lower.traces_protocol),
            headers: self.headers.or(lower.headers),
            logs_headers: self.logs_headers.or(lower.logs_headers),
            traces_headers: self.traces_headers.or(lower.traces_headers),
            timeout_ms: self.timeout_ms.or(lower.timeout_ms),
            service_name: self.service_name.or(lower.service_name),
            resource_attributes: self.resource_attributes.or(lower.resource_attributes),
            event_name_attribute: self.event_name_attribute.or(lower.event_name_attribute),
            spool_max_bytes: self.spool_max_bytes.or(lower.spool_max_bytes),
            spool_max_files: self.spool_max_files.or(lower.spool_max_files),
            drain_max_files: self.drain_max_files.or(lower.drain_max_files),
        }
    }

    /// Merges the trusted layers above the project file (flags, environment),
    /// the project file, and the trusted layer below it (the user file),
    /// so that headers only go with an endpoint from the same or a more
    /// trusted layer: a signal whose endpoint comes from the project file
    /// gets the project file's headers and no others. A cloned repository
    /// can choose where its events go, never send the user's credentials
    /// there.
    pub fn merge_trusting(
        above: OtlpSettings,
        project: OtlpSettings,
        below: OtlpSettings,
        warnings: &mut Vec<String>,
    ) -> OtlpSettings {
        let project_wins =
            |pick: fn(&OtlpSettings) -> &Option<String>,
             generic: fn(&OtlpSettings) -> &Option<String>| {
                [pick, generic]
                    .iter()
                    .flat_map(|f| {
                        [f(&above), f(&project), f(&below)]
                            .into_iter()
                            .zip([0, 1, 2])
                    })
                    .find(|(value, _)| value.is_some())
                    .is_some_and(|(_, layer)| layer == 1)
            };
        let logs = project_wins(|s| &s.logs_endpoint, |s| &s.endpoint);
        let traces = project_wins(|s| &s.traces_endpoint, |s| &s.endpoint);
        let trusted_headers = |pick: fn(&OtlpSettings) -> &Option<Headers>| {
            [&above, &below]
                .iter()
                .any(|s| pick(s).is_some() || s.headers.is_some())
        };
        let mut dropped = Vec::new();
        if logs && trusted_headers(|s| &s.logs_headers) {
            dropped.push("logs");
        }
        if traces && trusted_headers(|s| &s.traces_headers) {
            dropped.push("traces");
        }
        let own = |pick: fn(&OtlpSettings) -> &Option<Headers>| {
            Some(
                pick(&project)
                    .clone()
                    .or(project.headers.clone())
                    .unwrap_or_default(),
            )
        };
        let logs_headers = own(|s| &s.logs_headers);
        let traces_headers = own(|s| &s.traces_headers);
        let mut merged = above.over(project).over(below);
        if logs {
            merged.logs_headers = logs_headers;
        }
        if traces {
            merged.traces_headers = traces_headers;
        }
        if !dropped.is_empty() {
            warnings.push(format!(
                "otlp: headers from your own settings are not sent to the {} endpoint set by the project file (a project file cannot send your credentials); set the endpoint in your own config file or environment to send them",
                dropped.join(" and ")
            ));
        }
        merged
    }

    /// The environment layer: `EVENT_PUBLISHER_OTLP_*` over `OTEL_*`.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>, warnings: &mut Vec<String>) -> Self {
        let ours = Self::from_vars(env, warnings, &OURS);
        let otel = Self::from_vars(env, warnings, &OTEL);
        ours.over(otel)
    }

    fn from_vars(
        env: &dyn Fn(&str) -> Option<String>,
        warnings: &mut Vec<String>,
        names: &Names,
    ) -> Self {
        let get = |name: &str| -> Option<(String, String)> {
            if name.is_empty() {
                return None;
            }
            env(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name.to_string(), v))
        };
        let mut protocol = |name: &str| {
            let (name, v) = get(name)?;
            let p = Protocol::parse(&v);
            if p.is_none() {
                warnings.push(format!(
                    "{name}={v:?} is not grpc or http/protobuf; ignored"
                ));
            }
            p
        };
        let (protocol, logs_protocol, traces_protocol) = (
            protocol(names.protocol[0]),
            protocol(names.protocol[1]),
            protocol(names.protocol[2]),
        );
        let mut headers =
            |name: &str| get(name).map(|(name, v)| Headers::parse(&v, &name, warnings));
        let (headers, logs_headers, traces_headers) = (
            headers(names.headers[0]),
            headers(names.headers[1]),
            headers(names.headers[2]),
        );
        let mut number = |name: &str| {
            let (name, v) = get(name)?;
            let n = v.trim().parse::<u64>().ok();
            if n.is_none() {
                warnings.push(format!("{name}={v:?} is not a whole number; ignored"));
            }
            n
        };
        let timeout_ms = number(names.timeout);
        let spool_max_bytes = number(names.spool_max_bytes);
        let spool_max_files = number(names.spool_max_files);
        let drain_max_files = number(names.drain_max_files);
        let mut boolean = |name: &str| {
            let (name, v) = get(name)?;
            let b = parse_bool(&v);
            if b.is_none() {
                warnings.push(format!("{name}={v:?} is not true or false; ignored"));
            }
            b
        };
        let enabled = boolean(names.enabled);
        let event_name_attribute = boolean(names.event_name_attribute);
        let resource_attributes = get(names.resource).map(|(name, v)| {
            let pairs = Headers::parse(&v, &name, warnings);
            pairs.0.into_iter().collect::<BTreeMap<_, _>>()
        });
        let url = |name: &str| get(name).map(|(_, v)| v.trim().to_string());
        OtlpSettings {
            enabled,
            endpoint: url(names.endpoint[0]),
            logs_endpoint: url(names.endpoint[1]),
            traces_endpoint: url(names.endpoint[2]),
            protocol,
            logs_protocol,
            traces_protocol,
            headers,
            logs_headers,
            traces_headers,
            timeout_ms,
            service_name: get(names.service_name).map(|(_, v)| v.trim().to_string()),
            resource_attributes,
            event_name_attribute,
            spool_max_bytes,
            spool_max_files,
            drain_max_files,
        }
    }
}

/// Variable names of one environment family: generic, logs, traces.
struct Names {
    endpoint: [&'static str; 3],
    protocol: [&'static str; 3],
    headers: [&'static str; 3],
    timeout: &'static str,
    service_name: &'static str,
    resource: &'static str,
    enabled: &'static str,
    event_name_attribute: &'static str,
    spool_max_bytes: &'static str,
    spool_max_files: &'static str,
    drain_max_files: &'static str,
}

const OTEL: Names = Names {
    endpoint: [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ],
    protocol: [
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    ],
    headers: [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    ],
    timeout: "OTEL_EXPORTER_OTLP_TIMEOUT",
    service_name: "OTEL_SERVICE_NAME",
    resource: "OTEL_RESOURCE_ATTRIBUTES",
    enabled: "",
    event_name_attribute: "",
    spool_max_bytes: "",
    spool_max_files: "",
    drain_max_files: "",
};

const OURS: Names = Names {
    endpoint: [
        "EVENT_PUBLISHER_OTLP_ENDPOINT",
        "EVENT_PUBLISHER_OTLP_LOGS_ENDPOINT",
        "EVENT_PUBLISHER_OTLP_TRACES_ENDPOINT",
    ],
    protocol: [
        "EVENT_PUBLISHER_OTLP_PROTOCOL",
        "EVENT_PUBLISHER_OTLP_LOGS_PROTOCOL",
        "EVENT_PUBLISHER_OTLP_TRACES_PROTOCOL",
    ],
    headers: [
        "EVENT_PUBLISHER_OTLP_HEADERS",
        "EVENT_PUBLISHER_OTLP_LOGS_HEADERS",
        "EVENT_PUBLISHER_OTLP_TRACES_HEADERS",
    ],
    timeout: "EVENT_PUBLISHER_OTLP_TIMEOUT_MS",
    service_name: "EVENT_PUBLISHER_OTLP_SERVICE_NAME",
    resource: "EVENT_PUBLISHER_OTLP_RESOURCE_ATTRIBUTES",
    enabled: "EVENT_PUBLISHER_OTLP_ENABLED",
    event_name_attribute: "EVENT_PUBLISHER_OTLP_EVENT_NAME_ATTRIBUTE",
    spool_max_bytes: "EVENT_PUBLISHER_OTLP_SPOOL_MAX_BYTES",
    spool_max_files: "EVENT_PUBLISHER_OTLP_SPOOL_MAX_FILES",
    drain_max_files: "EVENT_PUBLISHER_OTLP_DRAIN_MAX_FILES",
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn ours_win_over_otel_and_bad_values_are_reported() {
        let vars: HashMap<&str, &str> = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318"),
            ("EVENT_PUBLISHER_OTLP_ENDPOINT", "http://ours:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_SERVICE_NAME", "svc"),
            ("OTEL_RESOURCE_ATTRIBUTES", "team=a%20b,env=dev"),
            ("EVENT_PUBLISHER_OTLP_TIMEOUT_MS", "soon"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "250"),
        ]
        .into();
        let env = |k: &str| vars.get(k).map(|v| v.to_string());
        let mut w = Vec::new();
        let s = OtlpSettings::from_env(&env, &mut w);
        assert_eq!(s.endpoint.as_deref(), Some("http://ours:4318"));
        assert_eq!(s.traces_protocol, Some(Protocol::Grpc));
        assert_eq!(s.protocol, None);
        assert_eq!(s.service_name.as_deref(), Some("svc"));
        assert_eq!(s.resource_attributes.unwrap()["team"], "a b");
        assert_eq!(s.timeout_ms, Some(250));
        assert_eq!(w.len(), 2, "{w:?}");
    }

    #[test]
    fn file_form() {
        let s: OtlpSettings = serde_json::from_str(
            r#"{"endpoint": "http://c:4317", "protocol": "grpc", "headers": {"authorization": "x"},
                "resource_attributes": {"team": "a"}, "timeout_ms": 100, "event_name_attribute": false}"#,
        )
        .unwrap();
        assert_eq!(s.protocol, Some(Protocol::Grpc));
        assert_eq!(s.headers.unwrap().0[0].0, "authorization");
        let e = serde_json::from_str::<OtlpSettings>(r#"{"protocol": "http/json"}"#).unwrap_err();
        assert!(e.to_string().contains("not grpc or http/protobuf"), "{e}");
    }
}
