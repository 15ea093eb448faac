//! OTLP/HTTP with protobuf bodies, over ureq (no TLS in this build).

use std::time::Duration;

use prost::Message;

use super::delivery::Delivery;
use super::otlp_config::Endpoint;
use super::protocol::Signal;

/// Answers larger than this are not read (an OTLP answer is a few bytes).
const MAX_ANSWER: u64 = 64 * 1024;

pub struct HttpSender {
    agent: ureq::Agent,
}

impl HttpSender {
    pub fn new() -> HttpSender {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("event-publisher/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        HttpSender { agent }
    }

    /// POSTs `body` and waits at most `timeout` for the answer (connecting
    /// included).
    pub fn send(&self, ep: &Endpoint, signal: Signal, body: &[u8], timeout: Duration) -> Delivery {
        let mut req = self
            .agent
            .post(&ep.url)
            .header("content-type", "application/x-protobuf");
        for (k, v) in ep.headers.iter() {
            req = req.header(k, v);
        }
        let sent = req
            .config()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout))
            .build()
            .send(body);
        let mut resp = match sent {
            Ok(r) => r,
            Err(ureq::Error::Timeout(_)) => {
                return Delivery::Retry(format!(
                    "no answer from {} within {} ms",
                    ep.shown(),
                    timeout.as_millis()
                ));
            }
            Err(e) => {
                return Delivery::Retry(format!("{}: {}", ep.shown(), ep.scrub(&e.to_string())));
            }
        };
        let status = resp.status().as_u16();
        if let Some(d) = Delivery::from_http_status(status) {
            return match d {
                Delivery::Retry(why) => Delivery::Retry(format!("{}: {why}", ep.shown())),
                Delivery::Refused(why) => Delivery::Refused(format!("{}: {why}", ep.shown())),
                ok => ok,
            };
        }
        let answer = resp
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .unwrap_or_default();
        partial_success(signal, &answer)
    }
}

impl Default for HttpSender {
    fn default() -> Self {
        Self::new()
    }
}

/// An accepted request's answer may report items refused inside it.
pub fn partial_success(signal: Signal, answer: &[u8]) -> Delivery {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    let (rejected, message) = match signal {
        Signal::Logs => ExportLogsServiceResponse::decode(answer)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| (p.rejected_log_records, p.error_message)),
        Signal::Traces => ExportTraceServiceResponse::decode(answer)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| (p.rejected_spans, p.error_message)),
    }
    .unwrap_or_default();
    Delivery::Accepted { rejected, message }
}
