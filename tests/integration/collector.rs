//! A real OTLP collector for the tests: `rotel-agent` (the `rotel` package
//! on PyPI, installed by `.ci/install-collector`), started on free loopback
//! ports with its debug exporter printing every log record and span it
//! receives, and a parser for that output.
//!
//! The binary is `$ROTEL_AGENT`, else `rotel-agent` on PATH, else the one in
//! the installed Python package. When none is found the tests fail (they
//! are not skipped).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Collector {
    child: Child,
    dir: tempfile::TempDir,
    pub grpc_port: u16,
    pub http_port: u16,
}

/// One log record as the collector printed it.
#[derive(Clone, Debug, Default)]
pub struct Log {
    pub event_name: String,
    pub body: String,
    pub time: u64,
    pub observed: u64,
    pub severity: String,
    pub trace_id: String,
    pub span_id: String,
    pub attributes: BTreeMap<String, String>,
    pub resource: BTreeMap<String, String>,
}

/// One span as the collector printed it.
#[derive(Clone, Debug, Default)]
pub struct SpanSeen {
    pub name: String,
    pub kind: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_id: String,
    pub start: u64,
    pub end: u64,
    pub attributes: BTreeMap<String, String>,
    pub resource: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default)]
pub struct Received {
    pub logs: Vec<Log>,
    pub spans: Vec<SpanSeen>,
}

impl Received {
    pub fn log(&self, name: &str) -> &Log {
        let found: Vec<&Log> = self.logs.iter().filter(|l| l.event_name == name).collect();
        assert_eq!(
            found.len(),
            1,
            "exactly one {name} expected in {:#?}",
            self.logs
        );
        found[0]
    }

    pub fn span(&self, name: &str) -> &SpanSeen {
        let found: Vec<&SpanSeen> = self.spans.iter().filter(|s| s.name == name).collect();
        assert_eq!(
            found.len(),
            1,
            "exactly one span {name} expected in {:#?}",
            self.spans
        );
        found[0]
    }
}

/// Where the collector binary is; `None` (said, and a failure in CI) when
/// it is not installed.
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ROTEL_AGENT").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join("rotel-agent");
            if p.is_file() {
                return Some(p);
            }
        }
    }
    let from_pip = Command::new("python3")
        .args([
            "-c",
            "import rotel,os;print(os.path.dirname(rotel.__file__))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("rotel-agent"))
        .filter(|p| p.is_file());
    let install =
        "run .ci/install-collector (pip install --pre rotel) or set ROTEL_AGENT to its path";
    if crate::test::available(
        "the OTLP collector rotel-agent",
        from_pip.is_some(),
        install,
    ) {
        from_pip
    } else {
        None
    }
}

/// A loopback port nothing listens on (right now).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Collector {
    /// A collector on free ports; `None` when it is not installed (see
    /// `binary`): the test is then skipped.
    pub fn start() -> Option<Collector> {
        Collector::start_on(free_port(), free_port())
    }

    pub fn start_on(grpc_port: u16, http_port: u16) -> Option<Collector> {
        let binary = binary()?;
        let dir = tempfile::tempdir().unwrap();
        let out = std::fs::File::create(dir.path().join("out.txt")).unwrap();
        let err = std::fs::File::create(dir.path().join("err.txt")).unwrap();
        let child = Command::new(binary)
            .args(["start", "--exporter", "blackhole"])
            .args(["--debug-log", "logs", "--debug-log", "traces"])
            .args(["--debug-log-verbosity", "detailed"])
            .arg("--otlp-grpc-endpoint")
            .arg(format!("127.0.0.1:{grpc_port}"))
            .arg("--otlp-http-endpoint")
            .arg(format!("127.0.0.1:{http_port}"))
            .arg("--pid-file")
            .arg(dir.path().join("rotel.pid"))
            .arg("--log-file")
            .arg(dir.path().join("rotel.log"))
            .args(["--batch-timeout", "50ms"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start rotel-agent");
        let mut c = Collector {
            child,
            dir,
            grpc_port,
            http_port,
        };
        c.wait_listening();
        Some(c)
    }

    fn wait_listening(&mut self) {
        let start = Instant::now();
        for port in [self.grpc_port, self.http_port] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!(
                        "rotel-agent exited ({status}): {}",
                        std::fs::read_to_string(self.dir.path().join("err.txt"))
                            .unwrap_or_default()
                    );
                }
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "rotel-agent did not listen on {port}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn http(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn grpc(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("out.txt")).unwrap_or_default()
    }

    pub fn received(&self) -> Received {
        parse(&self.output())
    }

    /// Waits (10 s at most) until `logs` records and `spans` spans arrived,
    /// then a little longer to catch any extra (duplicate) ones.
    pub fn wait_for(&self, logs: usize, spans: usize) -> Received {
        let start = Instant::now();
        loop {
            let r = self.received();
            if r.logs.len() >= logs && r.spans.len() >= spans {
                std::thread::sleep(Duration::from_millis(300));
                return self.received();
            }
            if start.elapsed() > Duration::from_secs(10) {
                panic!(
                    "collector got {} of {logs} log records and {} of {spans} spans:\n{}",
                    r.logs.len(),
                    r.spans.len(),
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `Str(x)` → `x`; other values as printed (`Int(3)`, `Map(...)`).
fn value(v: &str) -> String {
    v.strip_prefix("Str(")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(v)
        .to_string()
}

enum Item {
    None,
    Log(Log),
    Span(SpanSeen),
}

/// Parses rotel's `--debug-log-verbosity detailed` output.
pub fn parse(text: &str) -> Received {
    let text = strip_ansi(text);
    let mut r = Received::default();
    let mut resource = BTreeMap::new();
    let mut in_resource = false;
    let mut item = Item::None;
    let finish = |item: &mut Item, r: &mut Received| match std::mem::replace(item, Item::None) {
        Item::Log(l) => r.logs.push(l),
        Item::Span(s) => r.spans.push(s),
        Item::None => {}
    };
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("ResourceLog #") || t.starts_with("ResourceSpans #") {
            finish(&mut item, &mut r);
            resource = BTreeMap::new();
            in_resource = false;
            continue;
        }
        if t == "Resource attributes:" {
            in_resource = true;
            continue;
        }
        if t.starts_with("LogRecord #") {
            finish(&mut item, &mut r);
            in_resource = false;
            item = Item::Log(Log {
                resource: resource.clone(),
                ..Log::default()
            });
            continue;
        }
        if t.starts_with("Span #") {
            finish(&mut item, &mut r);
            in_resource = false;
            item = Item::Span(SpanSeen {
                resource: resource.clone(),
                ..SpanSeen::default()
            });
            continue;
        }
        if t.starts_with("ScopeLogs")
            || t.starts_with("ScopeSpans")
            || t.starts_with("InstrumentationScope")
        {
            in_resource = false;
            continue;
        }
        if let Some(kv) = t.strip_prefix("-> ") {
            let Some((k, v)) = kv.split_once(": ") else {
                continue;
            };
            if in_resource {
                resource.insert(k.to_string(), value(v));
            } else {
                match &mut item {
                    Item::Log(l) => {
                        l.attributes.insert(k.to_string(), value(v));
                    }
                    Item::Span(s) => {
                        s.attributes.insert(k.to_string(), value(v));
                    }
                    Item::None => {}
                }
            }
            continue;
        }
        let Some((k, v)) = t.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match &mut item {
            Item::Log(l) => match k {
                "ObservedTimestamp" => l.observed = v.parse().unwrap_or(0),
                "Timestamp" => l.time = v.parse().unwrap_or(0),
                "SeverityNumber" => l.severity = v.to_string(),
                "EventName" => l.event_name = v.to_string(),
                "Body" => l.body = value(v),
                "Trace ID" => l.trace_id = v.to_string(),
                "Span ID" => l.span_id = v.to_string(),
                _ => {}
            },
            Item::Span(s) => match k {
                "Trace ID" => s.trace_id = v.to_string(),
                "Parent ID" => s.parent_id = v.to_string(),
                "ID" => s.span_id = v.to_string(),
                "Name" => s.name = v.to_string(),
                "Kind" => s.kind = v.to_string(),
                "Start time" => s.start = v.parse().unwrap_or(0),
                "End time" => s.end = v.parse().unwrap_or(0),
                _ => {}
            },
            Item::None => {}
        }
    }
    finish(&mut item, &mut r);
    r
}

/// Unix nanoseconds of an RFC 3339 UTC time with milliseconds, as records
/// store them (`2025-08-12T16:30:00.000Z`).
pub fn nanos(ts: &str) -> u64 {
    let p = |a: usize, b: usize| ts[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (p(0, 4), p(5, 7), p(8, 10));
    let (hh, mm, ss, ms) = (p(11, 13), p(14, 16), p(17, 19), p(20, 23));
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    (secs * 1_000_000_000 + ms * 1_000_000) as u64
}

pub fn spool_files(events: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(events.join(".spool"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.ends_with(".pb") && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
