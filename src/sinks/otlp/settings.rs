//! The OTLP settings as the layers left them (see `config::table` for
//! their keys, flags and variables): each `None` when no layer set it.
//! `OtlpConfig::resolve` makes the sink's configuration of them.

use std::collections::BTreeMap;

use super::headers::Headers;
use super::protocol::Protocol;

#[derive(Clone, Debug, Default)]
#[cfg_attr(test, derive(serde::Deserialize), serde(default, deny_unknown_fields))]
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
