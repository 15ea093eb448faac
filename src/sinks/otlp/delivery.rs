//! What the collector made of one export request.

/// The outcome of sending one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Accepted (HTTP 2xx, gRPC OK): never sent again. `rejected` items
    /// were refused inside an accepted request (OTLP partial success); the
    /// protocol says not to retry them.
    Accepted { rejected: i64, message: String },
    /// Not confirmed (refused connection, no answer in time, 429, 5xx,
    /// UNAVAILABLE, bad credentials...): kept and sent again later.
    Retry(String),
    /// Refused as malformed (HTTP 400/413, gRPC INVALID_ARGUMENT): sending
    /// it again would fail again, so it is set aside in `rejected/`.
    Refused(String),
}

impl Delivery {
    /// How an HTTP status answers an OTLP request.
    pub fn from_http_status(status: u16) -> Option<Delivery> {
        match status {
            200..=299 => None,
            400 | 413 => Some(Delivery::Refused(format!("HTTP {status}"))),
            401 | 403 => Some(Delivery::Retry(format!(
                "HTTP {status} (check the otlp headers)"
            ))),
            404 => Some(Delivery::Retry(format!(
                "HTTP {status} (check the otlp endpoint)"
            ))),
            s => Some(Delivery::Retry(format!("HTTP {s}"))),
        }
    }
}
