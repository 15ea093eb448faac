//! The webhook subscriber: an HTTP POST of a CloudEvents 1.0 structured
//! JSON body (`application/cloudevents+json`: `id` = the event id,
//! `source`, `type` = the event name, `time`, `data` = the record), with a
//! `traceparent` header and, when the subscriber names a variable holding
//! a secret, Standard Webhooks signature headers (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "<id>.<timestamp>.<body>">`; a `whsec_` secret is base64-decoded first).
//!
//! Answers: 2xx delivered; 429 and 503 again after `Retry-After` (seconds
//! or an HTTP date; the backoff when absent); other 5xx, timeouts and
//! network errors again after the backoff; 410 disables the subscriber;
//! any other status (redirects are not followed) is a dead letter.
//! Plain `http://` only: this build has no TLS.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Outcome;
use crate::enrich::Record;

/// `Retry-After` is honoured up to this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

pub struct WebhookSender {
    agent: ureq::Agent,
}

impl Default for WebhookSender {
    fn default() -> Self {
        Self::new()
    }
}

impl WebhookSender {
    pub fn new() -> WebhookSender {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("event-publisher/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        WebhookSender { agent }
    }

    pub fn deliver(
        &self,
        url: &str,
        secret: Option<&[u8]>,
        record: &Record,
        timeout: Duration,
    ) -> Outcome {
        let body = cloud_event(record).to_string();
        let id = record.id.to_string();
        let mut req = self
            .agent
            .post(url)
            .header("content-type", "application/cloudevents+json")
            .header("traceparent", super::traceparent(record))
            .header("webhook-id", &id);
        if let Some(secret) = secret {
            let ts = chrono::Utc::now().timestamp().to_string();
            req = req
                .header("webhook-timestamp", &ts)
                .header("webhook-signature", signature(secret, &id, &ts, &body));
        }
        let sent = req
            .config()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout))
            .build()
            .send(body.as_bytes());
        let resp = match sent {
            Ok(r) => r,
            Err(ureq::Error::Timeout(_)) => {
                return Outcome::Retry {
                    why: format!("{url}: no answer within {} ms", timeout.as_millis()),
                    after: None,
                };
            }
            Err(e) => {
                return Outcome::Retry {
                    why: format!("{url}: {e}"),
                    after: None,
                };
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        outcome(url, status, retry_after)
    }
}

/// What an HTTP status means for the delivery.
pub fn outcome(url: &str, status: u16, retry_after: Option<Duration>) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        410 => Outcome::Gone(format!("{url} answered 410 Gone")),
        429 | 503 => Outcome::Retry {
            why: format!("{url} answered {status}"),
            after: retry_after,
        },
        500..=599 => Outcome::Retry {
            why: format!("{url} answered {status}"),
            after: None,
        },
        _ => Outcome::Dead(format!("{url} answered {status}")),
    }
}

/// `Retry-After`: delay-seconds or an HTTP date, capped.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    let d = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
            (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
        }
    };
    Some(d.min(MAX_RETRY_AFTER))
}

/// The CloudEvents 1.0 structured form of a record.
pub fn cloud_event(record: &Record) -> Value {
    let source = match record.source.session_id.as_deref() {
        Some(s)
            if !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            format!("/claude-code/sessions/{s}")
        }
        _ => "/event-publisher".to_string(),
    };
    json!({
        "specversion": "1.0",
        "id": record.id.to_string(),
        "source": source,
        "type": record.name.as_deref().unwrap_or("event-publisher.invalid"),
        "time": record.timestamp,
        "datacontenttype": "application/json",
        "traceparent": super::traceparent(record),
        "data": record,
    })
}

/// The secret's bytes: a `whsec_` secret is base64 (Standard Webhooks);
/// anything else is used as written.
pub fn secret_bytes(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// `v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>`.
pub fn signature(secret: &[u8], id: &str, timestamp: &str, body: &str) -> String {
    let mac = hmac_sha256(secret, format!("{id}.{timestamp}.{body}").as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    )
}

/// HMAC (RFC 2104) over SHA-256.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|b| b ^ byte);
    let mut inner = Sha256::new();
    inner.update(pad(0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(pad(0x5c));
    outer.update(inner);
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        crate::ids::hex(b)
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test cases 1, 2 and 6 (a key longer than the block).
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn statuses_and_retry_after() {
        let u = "http://h/";
        assert_eq!(outcome(u, 204, None), Outcome::Delivered);
        assert!(matches!(outcome(u, 410, None), Outcome::Gone(_)));
        assert!(matches!(outcome(u, 404, None), Outcome::Dead(_)));
        assert!(matches!(outcome(u, 302, None), Outcome::Dead(_)));
        assert!(matches!(
            outcome(u, 502, None),
            Outcome::Retry { after: None, .. }
        ));
        let d = Some(Duration::from_secs(3));
        assert!(matches!(outcome(u, 429, d), Outcome::Retry { after, .. } if after == d));
        assert_eq!(parse_retry_after(" 3 "), d);
        assert_eq!(parse_retry_after("99999"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn whsec_secrets_are_base64() {
        assert_eq!(secret_bytes("whsec_aGVsbG8="), b"hello");
        assert_eq!(secret_bytes("plain"), b"plain");
    }
}
