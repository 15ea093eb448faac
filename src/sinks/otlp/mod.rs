//! The OTLP sink: each stored event as an OTLP log record, each subagent run
//! (and each tool call that printed events) as a span, sent to an
//! OpenTelemetry Collector over HTTP/protobuf or gRPC.
//!
//! The sink is off unless an endpoint is configured (`otlp.endpoint` in a
//! config file, `EVENT_PUBLISHER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`,
//! or `--otlp-endpoint`; see the settings table, `config::table`). What is sent is
//! described in `encode` (log records) and `crate::enrich::span` (spans).
//!
//! Latency and durability, per `publish`:
//! 1. The new records (and new spans, each claimed once in the spool) are
//!    encoded into one request per signal and written to the spool before
//!    anything is sent (`spool`; fsynced before the hook returns unless the
//!    collector took them at once).
//! 2. If no other process is sending (a non-blocking `flock`) and the
//!    circuit breaker is closed, they are sent, then up to
//!    `drain_max_files` older spooled requests, all within one deadline
//!    (`timeout_ms`, default 300 ms), connecting included. A request the
//!    collector accepted is removed from the spool; anything else stays.
//! 3. A failure opens the breaker (1 s, doubling to 60 s): until then hooks
//!    only spool, so a collector that is down or hangs costs each hook about
//!    nothing. One line on stderr says so when it first happens.
//!
//! `event-publisher flush` (see `flush`) sends everything spooled, ignoring
//! the breaker, and reports what it sent, what is left and why. When the
//! spool is at its caps (`spool_max_files`, `spool_max_bytes`) a new request
//! is sent if the collector takes it at once, and otherwise dropped with a
//! line on stderr, a count in the spool state (reported by `flush`) and its
//! event ids in `.events/.spool/dropped.jsonl`; the events themselves stay in
//! `.events/`. Delivery is at least once (a request whose answer is lost in
//! the deadline is sent again); each log record carries `log.record.uid` =
//! the event id, so a backend can drop duplicates.

pub mod delivery;
pub mod encode;
#[cfg(feature = "grpc")]
pub mod grpc;
pub mod headers;
pub mod http;
pub mod otlp_config;
pub mod protocol;
pub mod sender;
pub mod settings;
pub mod spool;
pub mod spool_state;

use std::path::Path;
use std::time::{Duration, Instant};

use prost::Message;

pub use delivery::Delivery;
pub use otlp_config::OtlpConfig;
pub use protocol::{Protocol, Signal};
pub use settings::OtlpSettings;
pub use spool::{Entry, Spool};

use crate::enrich::{Record, Span};
use crate::error::{Error, Result};
use crate::redact::{RedactionSettings, Redactor};
use sender::Sender;
use spool::now_ms;

/// Requests sent together when draining: at most this many bytes...
const BATCH_MAX_BYTES: u64 = 3 << 20;
/// ...and this many spooled requests.
const BATCH_MAX_FILES: usize = 1000;
/// `flush` gives each request at least this long.
pub const FLUSH_MIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `flush` waits for a hook that is sending.
const FLUSH_LOCK_PATIENCE: Duration = Duration::from_secs(10);

/// What one export did, for the hook's stderr.
#[derive(Debug, Default)]
pub struct Outcome {
    pub sent_events: u64,
    pub sent_spans: u64,
    /// Requests left in the spool afterwards.
    pub left_files: u64,
    /// Lines for stderr, always shown (a failure first seen, a drop).
    pub messages: Vec<String>,
    /// Lines shown with `--verbose` only.
    pub notes: Vec<String>,
}

/// A request of this run.
struct Fresh {
    signal: Signal,
    ids: Vec<String>,
    bytes: Vec<u8>,
    entry: Option<Entry>,
    done: bool,
}

/// Exports `records` and `spans` within the configured deadline, spooling
/// what is not confirmed, in `events_dir`'s spool; spans are redacted as
/// `redaction` says. Never fails: problems are lines in the outcome.
pub fn export(
    otlp: Option<&OtlpConfig>,
    events_dir: &Path,
    redaction: &RedactionSettings,
    records: &[Record],
    spans: &[Span],
) -> Outcome {
    let mut out = Outcome::default();
    let Some(cfg) = otlp else {
        return out;
    };
    let deadline = Instant::now() + cfg.timeout;
    let spool = match Spool::open(events_dir) {
        Ok(s) => s,
        Err(e) => {
            out.messages.push(format!(
                "otlp: {e}; {} event(s) not exported",
                records.len()
            ));
            return out;
        }
    };
    let mut fresh = Vec::new();
    if cfg.logs.is_some() && !records.is_empty() {
        fresh.push(Fresh {
            signal: Signal::Logs,
            ids: records.iter().map(|r| r.id.to_string()).collect(),
            bytes: encode::logs_request(cfg, records).encode_to_vec(),
            entry: None,
            done: false,
        });
    }
    if cfg.traces.is_some() {
        let mut claimed = Vec::new();
        for s in spans {
            match spool.claim_span(&s.span_id) {
                Ok(true) => claimed.push(s.clone()),
                Ok(false) => {}
                Err(e) => out.messages.push(format!("otlp: {e}; span not exported")),
            }
        }
        // Span names and attributes come from the payload: redacted like
        // records, before they reach the spool.
        let redactor = Redactor::configured(redaction);
        claimed.iter_mut().for_each(|s| redactor.redact_span(s));
        if !claimed.is_empty() {
            fresh.push(Fresh {
                signal: Signal::Traces,
                ids: claimed.iter().map(|s| s.span_id.clone()).collect(),
                bytes: encode::traces_request(cfg, &claimed).encode_to_vec(),
                entry: None,
                done: false,
            });
        }
    }

    // Write before sending.
    let mut state = spool.state();
    for f in &mut fresh {
        let len = f.bytes.len() as u64;
        if state.files + 1 > cfg.spool.max_files || state.bytes + len > cfg.spool.max_bytes {
            continue;
        }
        match spool.write(f.signal, f.ids.len() as u64, &f.bytes, false) {
            Ok(e) => {
                state.files += 1;
                state.bytes += len;
                f.entry = Some(e);
            }
            Err(e) => out.messages.push(format!("otlp spool: {e}")),
        }
    }

    let lock = match spool.try_lock() {
        Ok(l) => l,
        Err(e) => {
            out.messages.push(format!("otlp: {e}"));
            None
        }
    };
    let now = now_ms();
    if lock.is_none() {
        out.notes.push(
            "otlp: another event-publisher is sending; this run's requests wait in the spool"
                .into(),
        );
    } else if state.waiting(now) {
        out.notes.push(format!(
            "otlp: collector unavailable ({}); next try in {} ms; requests wait in the spool",
            state.last_error.as_deref().unwrap_or("unknown"),
            state.retry_at_ms - now
        ));
    } else {
        let mut sender = Sender::new();
        let remaining = || deadline.saturating_duration_since(Instant::now());
        let mut failure = None;
        for f in &mut fresh {
            let ep = cfg
                .endpoint(f.signal)
                .expect("only configured signals are encoded");
            match sender.send(ep, f.signal, &f.bytes, remaining()) {
                Delivery::Accepted { rejected, message } => {
                    f.done = true;
                    if let Some(e) = &f.entry {
                        if let Err(err) = spool.remove(std::slice::from_ref(e)) {
                            out.messages.push(format!("otlp: {err}"));
                        }
                    }
                    match f.signal {
                        Signal::Logs => out.sent_events += f.ids.len() as u64,
                        Signal::Traces => out.sent_spans += f.ids.len() as u64,
                    }
                    if rejected > 0 {
                        out.messages
                            .push(partial_line(f.signal, rejected, &message));
                    }
                }
                Delivery::Retry(why) => {
                    failure = Some(why);
                    break;
                }
                Delivery::Refused(why) => {
                    f.done = true;
                    out.messages.push(refused_line(&spool, f.signal, &why));
                    if let Some(e) = &f.entry {
                        if let Err(err) = spool.reject(e) {
                            out.messages.push(format!("otlp: {err}"));
                        }
                    }
                }
            }
        }
        match failure {
            Some(why) => {
                let mut wait = 0;
                let st = spool
                    .update_state(|s| wait = s.failed(now_ms(), &why))
                    .unwrap_or_default();
                let line = format!(
                    "otlp export failed ({why}); kept in {} and sent by a later publish (next try in {} s) or by `event-publisher flush`",
                    spool.path().display(),
                    wait.div_ceil(1000)
                );
                if st.failures <= 1 {
                    out.messages.push(line);
                } else {
                    out.notes.push(line);
                }
            }
            None => {
                if state.failures > 0 {
                    let _ = spool.update_state(|s| s.succeeded());
                }
                drain_some(&spool, cfg, &mut sender, deadline, &mut out);
            }
        }
    }
    drop(lock);

    // What stays in the spool is made durable before the hook returns.
    let kept: Vec<&Entry> = fresh
        .iter()
        .filter(|f| !f.done)
        .filter_map(|f| f.entry.as_ref())
        .collect();
    if let Err(e) = spool.sync(&kept) {
        out.messages.push(format!("otlp: {e}"));
    }

    // Neither spooled nor delivered: say so, and keep the ids.
    for f in fresh.iter().filter(|f| f.entry.is_none() && !f.done) {
        let st = spool.state();
        if let Err(e) = spool.record_drop(f.signal, &f.ids, "spool full or not writable") {
            out.messages.push(format!("otlp: {e}"));
        }
        out.messages.push(format!(
            "otlp spool full ({} requests, {} bytes; caps {} and {}): {} {}(s) not exported, ids in {}/{}; the events stay in {}",
            st.files,
            st.bytes,
            cfg.spool.max_files,
            cfg.spool.max_bytes,
            f.ids.len(),
            f.signal.item(),
            spool.path().display(),
            spool::DROPPED,
            events_dir.display()
        ));
    }
    out.left_files = spool.state().files;
    out
}

/// Sends up to `drain_max_files` older spooled requests within the deadline.
fn drain_some(
    spool: &Spool,
    cfg: &OtlpConfig,
    sender: &mut Sender,
    deadline: Instant,
    out: &mut Outcome,
) {
    if cfg.spool.drain_max_files == 0 || spool.state().files == 0 {
        return;
    }
    let (entries, complete) = match spool.entries(cfg.spool.drain_max_files as usize) {
        Ok(e) => e,
        Err(e) => {
            out.messages.push(format!("otlp: {e}"));
            return;
        }
    };
    if complete {
        let _ = spool.recount(&entries);
    }
    let mut tally = Tally::default();
    let failure = send_entries(
        spool,
        cfg,
        sender,
        entries,
        &mut || deadline.saturating_duration_since(Instant::now()),
        &mut tally,
    );
    out.sent_events += tally.sent_events;
    out.sent_spans += tally.sent_spans;
    out.messages.append(&mut tally.messages);
    if tally.requests > 0 {
        out.notes.push(format!(
            "otlp: sent {} spooled request(s) ({} events, {} spans)",
            tally.requests, tally.sent_events, tally.sent_spans
        ));
    }
    if let Some(why) = failure {
        let _ = spool.update_state(|s| {
            s.failed(now_ms(), &why);
        });
        out.notes
            .push(format!("otlp: draining the spool stopped: {why}"));
    }
}

/// Counts of a send run.
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    sent_events: u64,
    sent_spans: u64,
    set_aside: u64,
    messages: Vec<String>,
}

/// Sends spooled requests in batches (one signal per request); stops at the
/// first failure, which it returns.
fn send_entries(
    spool: &Spool,
    cfg: &OtlpConfig,
    sender: &mut Sender,
    entries: Vec<Entry>,
    timeout: &mut dyn FnMut() -> Duration,
    tally: &mut Tally,
) -> Option<String> {
    for signal in Signal::ALL {
        let Some(ep) = cfg.endpoint(signal) else {
            continue;
        };
        let mine: Vec<&Entry> = entries.iter().filter(|e| e.signal == signal).collect();
        let mut batch: Vec<(Entry, Vec<u8>)> = Vec::new();
        let mut size = 0;
        let mut i = 0;
        while i <= mine.len() {
            let full = batch.len() >= BATCH_MAX_FILES
                || mine
                    .get(i)
                    .is_some_and(|e| size + e.bytes > BATCH_MAX_BYTES && !batch.is_empty());
            if (full || i == mine.len()) && !batch.is_empty() {
                if let Some(why) = send_batch(
                    spool,
                    ep,
                    signal,
                    sender,
                    std::mem::take(&mut batch),
                    timeout,
                    tally,
                ) {
                    return Some(why);
                }
                size = 0;
            }
            let Some(e) = mine.get(i) else { break };
            // Past the deadline, nothing more is read: what is left waits.
            if timeout().is_zero() {
                break;
            }
            // A spool file is written by this tool, but the events directory
            // may come with a cloned repository: its size is checked before
            // it is read, its shape before it is sent, and what fails is set
            // aside once rather than met again by every hook.
            let problem = if e.bytes > spool::MAX_FILE_BYTES {
                Some(format!("is larger than {} bytes", spool::MAX_FILE_BYTES))
            } else {
                match spool.read(e) {
                    Ok(bytes) if well_formed(&bytes) => {
                        size += bytes.len() as u64;
                        batch.push(((*e).clone(), bytes));
                        None
                    }
                    Ok(_) => Some(format!("is not a valid {} request", signal.name())),
                    Err(err) => {
                        tally.messages.push(format!("otlp: {err}"));
                        None
                    }
                }
            };
            if let Some(problem) = problem {
                tally.set_aside += 1;
                tally.messages.push(format!(
                    "otlp: {}/{} {problem}; moved to {}/",
                    spool.path().display(),
                    e.name,
                    spool::REJECTED
                ));
                if let Err(err) = spool.reject(e) {
                    tally.messages.push(format!("otlp: {err}"));
                }
            }
            i += 1;
        }
    }
    None
}

fn send_batch(
    spool: &Spool,
    ep: &otlp_config::Endpoint,
    signal: Signal,
    sender: &mut Sender,
    batch: Vec<(Entry, Vec<u8>)>,
    timeout: &mut dyn FnMut() -> Duration,
    tally: &mut Tally,
) -> Option<String> {
    let body: Vec<u8> = batch.iter().flat_map(|(_, b)| b.iter().copied()).collect();
    match sender.send(ep, signal, &body, timeout()) {
        Delivery::Accepted { rejected, message } => {
            let entries: Vec<Entry> = batch.into_iter().map(|(e, _)| e).collect();
            let items: u64 = entries.iter().map(|e| e.items).sum();
            tally.requests += 1;
            match signal {
                Signal::Logs => tally.sent_events += items,
                Signal::Traces => tally.sent_spans += items,
            }
            if rejected > 0 {
                tally
                    .messages
                    .push(partial_line(signal, rejected, &message));
            }
            if let Err(e) = spool.remove(&entries) {
                tally.messages.push(format!("otlp: {e}"));
            }
            None
        }
        Delivery::Retry(why) => Some(why),
        Delivery::Refused(why) if batch.len() > 1 => {
            // Find the culprit: send them one by one.
            let _ = why;
            for one in batch {
                if let Some(why) = send_batch(spool, ep, signal, sender, vec![one], timeout, tally)
                {
                    return Some(why);
                }
            }
            None
        }
        Delivery::Refused(why) => {
            tally.set_aside += 1;
            tally.messages.push(refused_line(spool, signal, &why));
            for (e, _) in &batch {
                if let Err(err) = spool.reject(e) {
                    tally.messages.push(format!("otlp: {err}"));
                }
            }
            None
        }
    }
}

/// Most resources in one spooled request; this tool writes one.
const MAX_RESOURCES: usize = 64;

/// Whether `bytes` is a sequence of whole `resource_logs` / `resource_spans`
/// fields (field 1, length-delimited), at most `MAX_RESOURCES` of them, so
/// that requests concatenate into one valid request. Checked without
/// decoding: decoding allocates per field, and a planted file of empty
/// fields (`0a 00` repeated) costs gigabytes. What is inside each resource
/// is the collector's to judge (a refusal sets the request aside).
fn well_formed(mut bytes: &[u8]) -> bool {
    let mut resources = 0;
    while !bytes.is_empty() {
        let Some((tag, rest)) = varint(bytes) else {
            return false;
        };
        let Some((len, rest)) = varint(rest) else {
            return false;
        };
        resources += 1;
        if tag != (1 << 3 | 2) || len > rest.len() as u64 || resources > MAX_RESOURCES {
            return false;
        }
        bytes = &rest[len as usize..];
    }
    true
}

fn varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().take(10).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

fn partial_line(signal: Signal, rejected: i64, message: &str) -> String {
    format!(
        "otlp: the collector accepted the request but rejected {rejected} {}(s){}",
        signal.item(),
        if message.is_empty() {
            String::new()
        } else {
            format!(": {message}")
        }
    )
}

fn refused_line(spool: &Spool, signal: Signal, why: &str) -> String {
    format!(
        "otlp: the collector refused a {} request as malformed ({why}); set aside in {}/{}/",
        signal.name(),
        spool.path().display(),
        spool::REJECTED
    )
}

/// What `flush` did and what is left.
#[derive(Debug, Default)]
pub struct FlushReport {
    pub spool: Option<std::path::PathBuf>,
    pub sent_requests: u64,
    pub sent_events: u64,
    pub sent_spans: u64,
    pub left_files: u64,
    pub left_events: u64,
    pub left_spans: u64,
    pub left_bytes: u64,
    /// Requests moved to `rejected/` by this flush, and all there.
    pub set_aside: u64,
    pub rejected_total: u64,
    /// Requests (and their events and spans) dropped because the spool was full.
    pub dropped_requests: u64,
    pub dropped_items: u64,
    /// Why sending stopped, if it did.
    pub error: Option<String>,
    pub messages: Vec<String>,
}

/// Sends everything in the spool (the breaker is ignored), each request
/// with `timeout` (at least `FLUSH_MIN_TIMEOUT` by default), to `otlp`
/// (off: nothing is sent).
pub fn flush(
    otlp: Option<&OtlpConfig>,
    events_dir: &Path,
    timeout: Option<Duration>,
) -> Result<FlushReport> {
    let mut report = FlushReport::default();
    let Some(spool) = Spool::existing(events_dir)? else {
        return Ok(report);
    };
    report.spool = Some(spool.path().to_path_buf());
    let Some(_lock) = spool.lock(FLUSH_LOCK_PATIENCE)? else {
        return Err(Error::new(format!(
            "another event-publisher process has held {} for {} s; try again",
            spool.path().display(),
            FLUSH_LOCK_PATIENCE.as_secs()
        )));
    };
    spool.clean_temp(Duration::from_secs(3600));
    let entries = spool.all_entries()?;
    match otlp {
        None if !entries.is_empty() => {
            report.error = Some(
                "the OTLP sink is off (no otlp endpoint configured); nothing sent".to_string(),
            );
        }
        None => {}
        Some(cfg) => {
            let per_request = timeout.unwrap_or(cfg.timeout.max(FLUSH_MIN_TIMEOUT));
            let mut sender = Sender::new();
            let mut tally = Tally::default();
            for signal in Signal::ALL {
                if cfg.endpoint(signal).is_none() && entries.iter().any(|e| e.signal == signal) {
                    report.messages.push(format!(
                        "otlp: no {} endpoint is configured; spooled {} requests are kept",
                        signal.name(),
                        signal.name()
                    ));
                }
            }
            let failure = send_entries(
                &spool,
                cfg,
                &mut sender,
                entries,
                &mut || per_request,
                &mut tally,
            );
            let _ = spool.update_state(|s| match &failure {
                Some(why) => {
                    s.failed(now_ms(), why);
                }
                None => s.succeeded(),
            });
            report.sent_requests = tally.requests;
            report.sent_events = tally.sent_events;
            report.sent_spans = tally.sent_spans;
            report.set_aside = tally.set_aside;
            report.messages.append(&mut tally.messages);
            report.error = failure;
        }
    }
    let left = spool.all_entries()?;
    for e in &left {
        report.left_files += 1;
        report.left_bytes += e.bytes;
        match e.signal {
            Signal::Logs => report.left_events += e.items,
            Signal::Traces => report.left_spans += e.items,
        }
    }
    let st = spool.state();
    report.dropped_requests = st.dropped_requests;
    report.dropped_items = st.dropped_items;
    report.rejected_total = spool.rejected_count() as u64;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_requests_are_whole_resource_fields() {
        let real = encode::logs_request(
            &OtlpConfig::resolve(
                serde_json::from_str(r#"{"endpoint": "http://c"}"#).unwrap(),
                &mut Vec::new(),
            )
            .unwrap(),
            &[],
        )
        .encode_to_vec();
        assert!(well_formed(&real));
        assert!(well_formed(&[real.clone(), real.clone()].concat()));
        assert!(well_formed(&[0x0a, 0x00]));
        assert!(!well_formed(&[0x0a, 0x00].repeat(MAX_RESOURCES + 1)));
        assert!(!well_formed(&[0x0a, 0x05, 0x00]), "truncated");
        assert!(!well_formed(&[0x12, 0x00]), "another field");
        assert!(!well_formed(&[0xff; 12]), "endless varint");
    }

    #[test]
    fn nothing_is_read_past_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&dir.path().join(".events")).unwrap();
        spool.write(Signal::Logs, 1, b"\xff\xff", true).unwrap();
        let cfg = OtlpConfig::resolve(
            serde_json::from_str(r#"{"endpoint": "http://127.0.0.1:1"}"#).unwrap(),
            &mut Vec::new(),
        )
        .unwrap();
        let mut tally = Tally::default();
        let entries = spool.all_entries().unwrap();
        let failure = send_entries(
            &spool,
            &cfg,
            &mut Sender::new(),
            entries,
            &mut || Duration::ZERO,
            &mut tally,
        );
        assert!(failure.is_none());
        assert_eq!(tally.set_aside, 0);
        assert_eq!(spool.all_entries().unwrap().len(), 1, "left for later");
    }
}
