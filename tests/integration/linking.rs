//! The binary under test as users get it (`.ci/test` points `BIN` at the
//! release build): statically linked and not position-independent on
//! x86_64 Linux with glibc (`.cargo/config.toml`), and what static glibc
//! still does at run time: the OTLP endpoint's name is looked up through
//! NSS (`/etc/nsswitch.conf`: `/etc/hosts`, DNS), as a dynamic binary does.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

use crate::collector::{Collector, spool_files};
use crate::test::{BIN, Env};

const AGENT: &str = "claude-code-2.1.328/foreground-post-tool-use-agent.json";

/// Program header types (see `elf(5)`).
#[cfg(target_os = "linux")]
const PT_DYNAMIC: u32 = 2;
#[cfg(target_os = "linux")]
const PT_INTERP: u32 = 3;

/// The type of a 64-bit little-endian ELF file and the types of its
/// program headers (segments).
#[cfg(target_os = "linux")]
fn elf_segments(bytes: &[u8]) -> (u16, Vec<u32>) {
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
    assert_eq!((bytes[4], bytes[5]), (2, 1), "not 64-bit little-endian");
    let u16_at = |o: usize| u16::from_le_bytes(bytes[o..o + 2].try_into().unwrap());
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(54) as usize, u16_at(56) as usize);
    let types = (0..count).map(|i| u32_at(phoff + i * size)).collect();
    (u16_at(16), types)
}

#[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
#[test]
fn the_hook_binary_is_static_and_not_position_independent() {
    const ET_EXEC: u16 = 2;
    let bytes = std::fs::read(BIN.path()).unwrap();
    let (kind, segments) = elf_segments(&bytes);
    let why = "see .cargo/config.toml; RUSTFLAGS or CARGO_ENCODED_RUSTFLAGS replace its flags";
    assert!(
        !segments.contains(&PT_INTERP),
        "{} asks for a dynamic loader (PT_INTERP): {why}",
        BIN.path().display()
    );
    assert!(
        !segments.contains(&PT_DYNAMIC),
        "{} has a dynamic section (static-PIE?): {why}",
        BIN.path().display()
    );
    assert_eq!(
        kind,
        ET_EXEC,
        "{} is position-independent: {why}",
        BIN.path().display()
    );
}

#[cfg(target_os = "linux")]
#[test]
fn elf_segments_reads_a_dynamic_binary_too() {
    // The test above could pass on a misread file: `sh` is dynamic wherever
    // the suite runs (Linux distributions link it against libc).
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    let (_, segments) = elf_segments(&std::fs::read(&sh).unwrap());
    assert!(segments.contains(&PT_INTERP), "{}", sh.display());
    assert!(segments.contains(&PT_DYNAMIC), "{}", sh.display());
}

/// The Agent payload's two events, sent to `endpoint`.
fn publish_to(env: &Env, endpoint: &str, protocol: &str) {
    env.test()
        .args(&["publish"])
        .fixture(AGENT)
        .var("EVENT_PUBLISHER_OTLP_ENDPOINT", endpoint)
        .var("EVENT_PUBLISHER_OTLP_PROTOCOL", protocol)
        .stderr("")
        .run();
    assert!(
        spool_files(&env.events()).is_empty(),
        "{endpoint} ({protocol}): something was left to retry"
    );
}

#[test]
fn localhost_reaches_the_collector_over_http_and_grpc() {
    let Some(collector) = Collector::start() else {
        return;
    };
    let http = format!("http://localhost:{}", collector.http_port);
    publish_to(&Env::new(), &http, "http/protobuf");
    assert_eq!(collector.wait_for(2, 0).logs.len(), 2);
    let grpc = format!("localhost:{}", collector.grpc_port);
    publish_to(&Env::new(), &grpc, "grpc");
    assert_eq!(collector.wait_for(4, 0).logs.len(), 4);
}

/// A name `/etc/hosts` gives a local address (other than `localhost`),
/// with a listener on that address.
fn etc_hosts_name() -> (String, TcpListener) {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap();
    for line in hosts.lines() {
        let mut words = line.split('#').next().unwrap().split_whitespace();
        let Some(Ok(addr)) = words.next().map(|a| a.parse::<IpAddr>()) else {
            continue;
        };
        for name in words.filter(|n| *n != "localhost") {
            if let Ok(listener) = TcpListener::bind((addr, 0)) {
                return (name.to_string(), listener);
            }
        }
    }
    panic!("/etc/hosts names no address of this machine besides localhost:\n{hosts}");
}

/// Answers every OTLP/HTTP request on `listener` with an empty 200 and
/// sends each request's head (request line and headers, lowercased).
fn otlp_http_peer(listener: TcpListener) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut data = Vec::new();
            let mut buf = [0; 8192];
            // Requests on this connection, one after the other (keep-alive).
            loop {
                let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => data.extend_from_slice(&buf[..n]),
                    }
                    continue;
                };
                let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                while data.len() < end + 4 + length {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => data.extend_from_slice(&buf[..n]),
                    }
                }
                data.drain(..end + 4 + length);
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
                );
                if tx.send(head).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

#[test]
fn a_name_from_etc_hosts_is_resolved() {
    let (name, listener) = etc_hosts_name();
    let port = listener.local_addr().unwrap().port();
    let requests = otlp_http_peer(listener);
    publish_to(
        &Env::new(),
        &format!("http://{name}:{port}"),
        "http/protobuf",
    );
    let head = requests.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(head.starts_with("post /v1/logs "), "{head}");
    let host = format!("host: {}:{port}", name.to_lowercase());
    assert!(head.lines().any(|l| l == host), "{head}");
}
