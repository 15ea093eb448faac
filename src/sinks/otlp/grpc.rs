//! OTLP/gRPC: one unary call per request over HTTP/2 (the h2 crate), on a
//! current-thread tokio runtime that exists only when the protocol is gRPC.
//!
//! A gRPC unary call is an HTTP/2 POST of one length-prefixed message whose
//! outcome is the `grpc-status` trailer; the spool's bytes are that message
//! as they are. Every call runs under one outer deadline
//! (`tokio::time::timeout`) covering connecting, the HTTP/2 handshake and
//! the answer, so neither a refused connection nor a collector that accepts
//! and never answers can hold a hook past it.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;

use super::delivery::Delivery;
use super::http::partial_success;
use super::otlp_config::Endpoint;
use super::protocol::Signal;
use crate::error::{Context, Result};

const MAX_ANSWER: usize = 64 * 1024;

pub struct GrpcSender {
    rt: tokio::runtime::Runtime,
    /// Open connections by `host:port`, reused across requests.
    conns: HashMap<String, SendRequest<Bytes>>,
}

impl GrpcSender {
    pub fn new() -> Result<GrpcSender> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .context("starting the gRPC runtime")?;
        Ok(GrpcSender {
            rt,
            conns: HashMap::new(),
        })
    }

    pub fn send(
        &mut self,
        ep: &Endpoint,
        signal: Signal,
        body: &[u8],
        timeout: Duration,
    ) -> Delivery {
        let Some(authority) = authority(&ep.url) else {
            return Delivery::Retry(format!("{}: no host:port", ep.shown()));
        };
        let conns = &mut self.conns;
        let call = call(conns, &authority, ep, signal, body);
        let outcome = self
            .rt
            .block_on(async { tokio::time::timeout(timeout, call).await });
        match outcome {
            Ok(Ok(d)) => d,
            Ok(Err(why)) => {
                self.conns.remove(&authority);
                Delivery::Retry(format!("{}: {}", ep.shown(), ep.scrub(&why.to_string())))
            }
            Err(_) => {
                self.conns.remove(&authority);
                Delivery::Retry(format!(
                    "no answer from {} within {} ms",
                    ep.shown(),
                    timeout.as_millis()
                ))
            }
        }
    }
}

/// A TCP stream that acknowledges what it reads at once.
///
/// A collector whose server leaves Nagle's algorithm on (rotel does) holds
/// its answer until its SETTINGS acknowledgement is acknowledged, which a
/// delayed ACK postpones by 40 ms on Linux: a 40 ms stall on every first
/// request. Asking for a quick ACK after each read sends any delayed ACK
/// right away (one setsockopt per read; a no-op elsewhere).
struct QuickAck(tokio::net::TcpStream);

impl tokio::io::AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(r, std::task::Poll::Ready(Ok(()))) && buf.filled().len() > before {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            let _ = rustix::net::sockopt::set_tcp_quickack(&self.0, true);
        }
        r
    }
}

impl tokio::io::AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// `http://host:port/anything` → `host:port` (port 80 when none is given).
fn authority(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..end];
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if host.is_empty() {
        return None;
    }
    let has_port = match host.rfind(']') {
        Some(close) => host[close..].contains(':'),
        None => host.contains(':'),
    };
    Some(if has_port {
        host.to_string()
    } else {
        format!("{host}:80")
    })
}

async fn connect(authority: &str) -> std::result::Result<SendRequest<Bytes>, String> {
    let tcp = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let (send, conn) = h2::client::handshake(QuickAck(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

async fn call(
    conns: &mut HashMap<String, SendRequest<Bytes>>,
    authority: &str,
    ep: &Endpoint,
    signal: Signal,
    body: &[u8],
) -> std::result::Result<Delivery, String> {
    let send = match conns.get(authority) {
        Some(s) => s.clone(),
        None => {
            let s = connect(authority).await?;
            conns.insert(authority.to_string(), s.clone());
            s
        }
    };
    let mut send = send.ready().await.map_err(|e| e.to_string())?;
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{authority}{}", signal.grpc_path()))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header(
            "user-agent",
            concat!("event-publisher/", env!("CARGO_PKG_VERSION")),
        );
    for (k, v) in ep.headers.iter() {
        req = req.header(k, v);
    }
    // Header names and values were checked when the config was resolved;
    // the error names no value either way.
    let req = req
        .body(())
        .map_err(|_| "a header is not valid in HTTP/2".to_string())?;
    let (answer, mut stream) = send.send_request(req, false).map_err(|e| e.to_string())?;
    let mut framed = Vec::with_capacity(body.len() + 5);
    framed.push(0);
    framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
    framed.extend_from_slice(body);
    stream
        .send_data(Bytes::from(framed), true)
        .map_err(|e| e.to_string())?;
    let answer = answer.await.map_err(|e| e.to_string())?;
    let (parts, mut recv) = answer.into_parts();
    if let Some(d) = Delivery::from_http_status(parts.status.as_u16()) {
        return Ok(d);
    }
    // A "trailers-only" answer puts the status in the headers.
    if let Some(d) = status(&parts.headers, signal, &[]) {
        return Ok(d);
    }
    let mut data = Vec::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        let _ = recv.flow_control().release_capacity(chunk.len());
        if data.len() + chunk.len() <= MAX_ANSWER {
            data.extend_from_slice(&chunk);
        }
    }
    let trailers = recv.trailers().await.map_err(|e| e.to_string())?;
    let message = data.get(5..).unwrap_or_default();
    match trailers.as_ref().and_then(|t| status(t, signal, message)) {
        Some(d) => Ok(d),
        None => Err("answer without grpc-status".into()),
    }
}

/// The delivery a `grpc-status` (and `grpc-message`) says, if present.
fn status(headers: &http::HeaderMap, signal: Signal, message: &[u8]) -> Option<Delivery> {
    let code: u32 = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let text = headers
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .map(|m| {
            percent_encoding::percent_decode_str(m)
                .decode_utf8_lossy()
                .to_string()
        })
        .unwrap_or_default();
    let why = |name: &str| {
        if text.is_empty() {
            format!("gRPC {name}")
        } else {
            format!("gRPC {name}: {text}")
        }
    };
    Some(match code {
        0 => partial_success(signal, message),
        3 => Delivery::Refused(why("INVALID_ARGUMENT")),
        16 => Delivery::Retry(why("UNAUTHENTICATED (check the otlp headers)")),
        7 => Delivery::Retry(why("PERMISSION_DENIED (check the otlp headers)")),
        12 => Delivery::Retry(why("UNIMPLEMENTED (check the otlp endpoint and protocol)")),
        14 => Delivery::Retry(why("UNAVAILABLE")),
        8 => Delivery::Retry(why("RESOURCE_EXHAUSTED")),
        c => Delivery::Retry(why(&format!("status {c}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities() {
        assert_eq!(authority("http://h:4317").as_deref(), Some("h:4317"));
        assert_eq!(authority("http://u:p@h:1/x").as_deref(), Some("h:1"));
        assert_eq!(authority("http://h").as_deref(), Some("h:80"));
        assert_eq!(authority("http://[::1]:9").as_deref(), Some("[::1]:9"));
        assert_eq!(authority("http://[::1]").as_deref(), Some("[::1]:80"));
        assert_eq!(authority("http://"), None);
    }
}
