//! The two OTLP transports this sink speaks, and the two signals it sends.

use serde::Deserialize;

/// How requests travel: `http/protobuf` (the OTLP default) or `grpc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Protocol {
    HttpProtobuf,
    Grpc,
}

impl Protocol {
    /// The names of `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn parse(s: &str) -> Option<Protocol> {
        match s.trim() {
            "http/protobuf" | "http" => Some(Protocol::HttpProtobuf),
            "grpc" => Some(Protocol::Grpc),
            _ => None,
        }
    }
}

impl TryFrom<String> for Protocol {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Protocol::parse(&s).ok_or_else(|| format!("{s:?} is not grpc or http/protobuf"))
    }
}

/// What a request carries: events (log records) or spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    Logs,
    Traces,
}

impl Signal {
    pub const ALL: [Signal; 2] = [Signal::Logs, Signal::Traces];

    pub fn name(self) -> &'static str {
        match self {
            Signal::Logs => "logs",
            Signal::Traces => "traces",
        }
    }

    /// Appended to a base endpoint for OTLP/HTTP.
    pub fn http_path(self) -> &'static str {
        match self {
            Signal::Logs => "/v1/logs",
            Signal::Traces => "/v1/traces",
        }
    }

    /// The gRPC method.
    pub fn grpc_path(self) -> &'static str {
        match self {
            Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        }
    }

    /// What one item of this signal is called in reports.
    pub fn item(self) -> &'static str {
        match self {
            Signal::Logs => "event",
            Signal::Traces => "span",
        }
    }
}
