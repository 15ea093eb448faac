//! OTLP/HTTP with protobuf bodies, over ureq (no TLS in this build).

use std::time::Duration;

use prost::Message;

use super::delivery::Delivery;
use super::otlp_config::Endpoint;
use super::protocol::Signal;

/// Answers larger than this are not read (an OTLP answer is a few bytes).
const MAX_ANSWER: u64 = 64 * 1024;

pub struct HttpSender {
    /// Through the proxy the environment names (`HTTPS_PROXY`, ...), if any.
    agent: ureq::Agent,
    /// Never through a proxy: for a collector on this machine.
    direct: ureq::Agent,
}

impl HttpSender {
    pub fn new() -> HttpSender {
        let agent = |proxied: bool| {
            let b = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .user_agent(concat!("event-publisher/", env!("CARGO_PKG_VERSION")));
            match proxied {
                true => b,
                false => b.proxy(None),
            }
            .build()
            .into()
        };
        HttpSender {
            agent: agent(true),
            direct: agent(false),
        }
    }

    /// POSTs `body` and waits at most `timeout` for the answer (connecting
    /// included).
    pub fn send(&self, ep: &Endpoint, signal: Signal, body: &[u8], timeout: Duration) -> Delivery {
        // A loopback collector is reached directly: a proxy would see the
        // requests (and their headers) of a collector that never leaves
        // this machine.
        let agent = match is_loopback(&ep.url) {
            true => &self.direct,
            false => &self.agent,
        };
        let mut req = agent
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

/// Whether `url`'s host is this machine: `localhost` (and `*.localhost`),
/// `127.0.0.0/8` or `::1`.
pub fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_hosts() {
        for url in [
            "http://localhost:4318/v1/logs",
            "http://127.0.0.1:1",
            "http://127.9.9.9",
            "http://u:p@[::1]:4318/x",
            "http://LOCALHOST",
            "http://c.localhost:1",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "http://collector:4318",
            "http://10.0.0.1:1",
            "http://localhost.evil.test",
            "http://127.0.0.1.evil.test",
            "http://[::2]:1",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }
}
