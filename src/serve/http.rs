//! The little HTTP/1.1 `serve` needs, over a blocking `TcpStream`: read one
//! request head (GET or HEAD, capped in size and time, no body), answer
//! it, close. Every response carries the same strict security headers.
//! Written out by hand rather than pulled in as a crate: it is ~150 lines,
//! costs the hook nothing, and writes each SSE message straight to the
//! socket (no response buffer to delay it).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use percent_encoding::percent_decode_str;

/// The biggest request head read; anything larger is refused.
const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Scripts only from this server, no inline script or style, nothing
/// framed, nothing sent anywhere but back here.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// Percent-decoded path.
    pub path: String,
    /// Percent-decoded `key=value` pairs, in order.
    pub query: Vec<(String, String)>,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn params<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.query
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request head could not be read: the status to answer with (or
/// nothing, when the client went away).
pub type Refusal = Option<(u16, &'static str)>;

/// Reads one request head.
pub fn read_request(stream: &mut TcpStream) -> Result<Request, Refusal> {
    let _ = stream.set_read_timeout(Some(HEAD_TIMEOUT));
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let end = loop {
        if let Some(i) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(Some((431, "request head too large")));
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return Err(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| Some((400, "not UTF-8")))?;
    let mut lines = head.split("\r\n");
    let bad = Some((400, "bad request line"));
    let line = lines.next().ok_or(bad)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad);
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Err(bad);
    }
    let mut headers = Vec::new();
    for l in lines {
        let (k, v) = l.split_once(':').ok_or(Some((400, "bad header")))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Request {
        method: method.to_string(),
        path: decode(path),
        query: query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
            })
            .collect(),
        headers,
    })
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// The status line and headers every response has.
pub fn head(status: u16, content_type: &str, length: Option<usize>) -> String {
    let mut h = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\n\
Content-Security-Policy: {CSP}\r\nX-Content-Type-Options: nosniff\r\n\
Referrer-Policy: no-referrer\r\nCross-Origin-Resource-Policy: same-origin\r\n\
Cache-Control: no-store\r\nConnection: close\r\n",
        reason(status)
    );
    if let Some(n) = length {
        h += &format!("Content-Length: {n}\r\n");
    }
    h += "\r\n";
    h
}

/// Writes a whole response (no body for HEAD) and flushes it.
pub fn respond(
    stream: &mut TcpStream,
    method: &str,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    stream.write_all(head(status, content_type, Some(body.len())).as_bytes())?;
    if method != "HEAD" {
        stream.write_all(body)?;
    }
    stream.flush()
}

/// A JSON error body: `{"error": "..."}`.
pub fn error(
    stream: &mut TcpStream,
    method: &str,
    status: u16,
    message: &str,
) -> std::io::Result<()> {
    let body = serde_json::json!({ "error": message }).to_string();
    respond(stream, method, status, "application/json", body.as_bytes())
}
