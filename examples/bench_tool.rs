//! Helpers for `benches/read.sh` (not part of the product):
//!
//! - `events DIR [RECORDS] [DAYS]`: fills DIR (an events directory) with
//!   RECORDS records (default 100,000) over DAYS days (default 100) from
//!   2026-01-01, stored through the real sink (`FsSink`), so the layout is
//!   exactly the hook's: dated files, dead letters, `.ids/` hard links.
//!   1% of the events are named `bench.rareEvent`; 2% are dead letters.
//!   Prints what the filters of the benchmark should select, as JSON.
//! - `transcripts DIR MB`: writes a `~/.claude/projects`-like tree of
//!   about MB megabytes of transcripts (main and subagent) shaped like
//!   Claude Code's, with a marker about every 20 lines.
//! - `tail-latency EVENTS_DIR BIN [N]`: runs `BIN tail -f --jsonl` on
//!   EVENTS_DIR, stores N records (every 5th in a new day folder) and
//!   measures how long each takes to be printed after its file appeared;
//!   then stops tail with SIGINT and checks it exits 0.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use event_publisher::FsSink;
use event_publisher::Problem;
use event_publisher::Record;
use event_publisher::Source;
use event_publisher::format_time;
use event_publisher::ids;
use serde_json::{Map, Value, json};

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned();
    match arg(0).as_deref() {
        Some("events") => events(
            Path::new(&arg(1).expect("DIR")),
            arg(2).map_or(100_000, |n| n.parse().unwrap()),
            arg(3).map_or(100, |n| n.parse().unwrap()),
        ),
        Some("transcripts") => transcripts(
            Path::new(&arg(1).expect("DIR")),
            arg(2).map_or(1024, |n| n.parse().unwrap()),
        ),
        Some("tail-latency") => tail_latency(
            Path::new(&arg(1).expect("EVENTS_DIR")),
            Path::new(&arg(2).expect("BIN")),
            arg(3).map_or(50, |n| n.parse().unwrap()),
        ),
        _ => {
            eprintln!(
                "usage: bench_tool events DIR [RECORDS] [DAYS] | transcripts DIR MB | tail-latency EVENTS_DIR BIN [N]"
            );
            std::process::exit(64);
        }
    }
}

const NAMES: [&str; 8] = [
    "urlCacher.cacheRequested",
    "urlCacher.cacheCheckStarted",
    "urlCacher.cacheCheckCompleted",
    "urlCacher.contentFetched",
    "urlCacher.cacheStored",
    "urlCacher.urlValidated",
    "urlCacher.cacheFailed",
    "docs.pageIndexed",
];
const RARE: &str = "bench.rareEvent";
const AGENT_TYPES: [&str; 3] = ["general-purpose", "url-cacher", "researcher"];

fn uuid(rng: &mut Rng) -> String {
    uuid::Uuid::from_u64_pair(rng.next(), rng.next()).to_string()
}

fn record(
    rng: &mut Rng,
    i: u64,
    at: DateTime<Utc>,
    session: &str,
    agent: Option<(&str, &str)>,
) -> Record {
    let roll = rng.below(100);
    let name = if roll == 0 {
        RARE
    } else {
        NAMES[(rng.below(NAMES.len() as u64)) as usize]
    };
    let invalid = (1..=2).contains(&roll);
    let page = rng.below(10_000);
    let mut attributes = Map::new();
    attributes.insert(
        "url".into(),
        json!(format!("https://example.com/page/{page}")),
    );
    attributes.insert(
        "cache_path".into(),
        json!(format!(".metadata/cache/example-com/page/{page}/")),
    );
    if name.ends_with("Completed") {
        attributes.insert("hit".into(), json!(rng.below(2) == 0));
        attributes.insert("age_seconds".into(), json!(rng.below(86_400)));
    }
    let tool_use = format!("toolu_{:016x}", rng.next());
    let source = Source {
        hook_event_name: Some("PostToolUse".into()),
        session_id: Some(session.to_string()),
        prompt_id: Some(format!("{:08x}-prompt", i / 20)),
        agent_id: agent.map(|a| a.0.to_string()),
        agent_type: agent.map(|a| a.1.to_string()),
        tool_name: Some("Bash".into()),
        tool_use_id: Some(tool_use.clone()),
        cwd: Some("/home/dev/project".into()),
        transcript_path: Some(format!(
            "/home/dev/.claude/projects/-home-dev-project/{session}.jsonl"
        )),
    };
    let main = ids::main_span_id(session);
    let (span_id, parent_span_id) = match agent {
        Some((id, _)) => (ids::agent_span_id(session, id), Some(main)),
        None => (main, None),
    };
    let digest = ids::text_digest(&format!("{i}"));
    let ts = format_time(at);
    Record {
        id: ids::event_id(session, &format!("tool/{tool_use}"), &digest, 0),
        name: if invalid && roll == 2 {
            None
        } else {
            Some(name.to_string())
        },
        timestamp: ts.clone(),
        observed_timestamp: ts,
        attributes: attributes.clone(),
        trace_id: ids::trace_id(session),
        span_id,
        parent_span_id,
        source,
        given_id: None,
        raw: invalid.then(|| {
            format!(
                "<EVENT>{}</EVENT>",
                json!({"name": name, "attributes": attributes})
            )
        }),
        errors: if invalid {
            vec![Problem::new(
                "schema",
                "/attributes/url",
                "\"x\" is not a \"uri\"",
            )]
        } else {
            vec![]
        },
        caused_by: None,
    }
}

fn events(dir: &Path, records: u64, days: u64) {
    let mut sink = FsSink::open(dir).expect("events dir");
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let span_ms = (days * 86_400_000) as i64;
    let mut session = uuid(&mut rng);
    let mut agents: Vec<(String, &str)> = Vec::new();
    let (mut rare, mut invalid, mut in_day) = (0, 0, 0);
    let probe_day = start + chrono::Duration::days(days as i64 / 2);
    for i in 0..records {
        if i % 100 == 0 {
            session = uuid(&mut rng);
            agents = (0..3)
                .map(|k| (format!("a{:016x}", rng.next()), AGENT_TYPES[k]))
                .collect();
        }
        let at = start
            + chrono::Duration::milliseconds(
                i as i64 * span_ms / records as i64 + rng.below(1000) as i64,
            );
        let agent = match rng.below(4) {
            0 => None,
            k => Some((agents[k as usize - 1].0.as_str(), agents[k as usize - 1].1)),
        };
        let r = record(&mut rng, i, at, &session, agent);
        if r.name.as_deref() == Some(RARE) && r.is_valid() {
            rare += 1;
        }
        if !r.is_valid() {
            invalid += 1;
        } else if at.date_naive() == probe_day.date_naive() {
            in_day += 1;
        }
        sink.store(&r).expect("store");
    }
    println!(
        "{}",
        json!({
            "records": records, "rare_name": RARE, "rare_valid": rare, "invalid": invalid,
            "probe_since": format_time(probe_day), "probe_until": format_time(probe_day + chrono::Duration::days(1)),
            "probe_day_valid": in_day, "where": "url=https://example.com/page/4242",
        })
    );
}

/// One JSON line of a transcript.
fn line(out: &mut impl Write, v: Value) -> usize {
    let s = v.to_string();
    out.write_all(s.as_bytes()).unwrap();
    out.write_all(b"\n").unwrap();
    s.len() + 1
}

fn filler(rng: &mut Rng, bytes: usize) -> String {
    const WORDS: [&str; 12] = [
        "fn", "let", "cache", "the", "url", "return", "page", "value", "self", "match", "Ok(())",
        "=>",
    ];
    let mut s = String::with_capacity(bytes + 16);
    while s.len() < bytes {
        s.push_str(WORDS[rng.below(12) as usize]);
        s.push(if rng.below(9) == 0 { '\n' } else { ' ' });
    }
    s
}

fn marker(rng: &mut Rng) -> String {
    let page = rng.below(10_000);
    format!(
        "<EVENT>{}</EVENT>",
        json!({"name": "urlCacher.cacheCheckStarted", "attributes": {"url": format!("https://example.com/page/{page}"), "cache_path": format!(".metadata/cache/{page}/")}})
    )
}

/// Writes one transcript of about `size` bytes; returns the bytes written.
fn transcript(
    path: &Path,
    rng: &mut Rng,
    session: &str,
    agent: Option<&str>,
    size: usize,
) -> usize {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut n = 0;
    let mut t = 0u64;
    let mut msg = 0u64;
    let common = |v: &mut Value, t: u64| {
        let m = v.as_object_mut().unwrap();
        m.insert("uuid".into(), json!(format!("{:032x}", t)));
        m.insert(
            "timestamp".into(),
            json!(format_time(
                Utc.timestamp_millis_opt(1_790_000_000_000 + t as i64 * 37)
                    .unwrap()
            )),
        );
        m.insert("sessionId".into(), json!(session));
        m.insert("cwd".into(), json!("/home/dev/project"));
        m.insert("version".into(), json!("2.1.328"));
        m.insert("gitBranch".into(), json!("main"));
        m.insert("userType".into(), json!("external"));
        if let Some(a) = agent {
            m.insert("agentId".into(), json!(a));
            m.insert("isSidechain".into(), json!(true));
        }
    };
    while n < size {
        let prompt = format!("{:08x}-p", rng.next());
        let mut v = json!({"type": "user", "promptId": prompt, "message": {"role": "user", "content": filler(rng, 200)}});
        common(&mut v, t);
        n += line(&mut out, v);
        t += 1;
        let mut v =
            json!({"type": "attachment", "attachment": {"type": "date", "date": "2026-11-21"}});
        common(&mut v, t);
        n += line(&mut out, v);
        for _ in 0..8 {
            t += 1;
            msg += 1;
            let tool = format!("toolu_{:016x}", rng.next());
            let with_marker = rng.below(10) == 0;
            let command = if with_marker {
                format!("echo '{}'", marker(rng))
            } else {
                "cat src/lib.rs".to_string()
            };
            let mut v = json!({"type": "assistant", "message": {"id": format!("msg_{msg}"), "type": "message", "role": "assistant", "model": "claude-opus-5-5",
                "content": [{"type": "text", "text": filler(rng, 300)}, {"type": "tool_use", "id": tool, "name": "Bash", "input": {"command": command}}],
                "stop_reason": "tool_use", "usage": {"input_tokens": 10, "output_tokens": 10}}});
            common(&mut v, t);
            n += line(&mut out, v);
            t += 1;
            let len = 1000 + rng.below(12_000) as usize;
            let mut result = filler(rng, len);
            if with_marker {
                result.push_str(&marker(rng));
            }
            let mut v = json!({"type": "user", "promptId": prompt, "message": {"role": "user", "content": [{"tool_use_id": tool, "type": "tool_result", "content": result}]},
                "toolUseResult": {"stdout": "(see content)", "stderr": "", "interrupted": false}});
            common(&mut v, t);
            n += line(&mut out, v);
        }
        t += 1;
        msg += 1;
        let mut text = filler(rng, 400);
        if rng.below(2) == 0 {
            text.push_str(&marker(rng));
        }
        let mut v = json!({"type": "assistant", "message": {"id": format!("msg_{msg}"), "type": "message", "role": "assistant", "model": "claude-opus-5-5",
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "usage": {"input_tokens": 10, "output_tokens": 10}}});
        common(&mut v, t);
        n += line(&mut out, v);
        let mut v = json!({"type": "system", "subtype": "stop_hook_summary", "hookCount": 1});
        common(&mut v, t);
        n += line(&mut out, v);
    }
    out.flush().unwrap();
    n
}

fn transcripts(dir: &Path, mb: usize) {
    let project = dir.join("-home-dev-project");
    std::fs::create_dir_all(&project).unwrap();
    let mut rng = Rng(0xfeed_beef_0bad_cafe);
    let target = mb << 20;
    let (mut total, mut files) = (0, 0);
    while total < target {
        let session = uuid(&mut rng);
        total += transcript(
            &project.join(format!("{session}.jsonl")),
            &mut rng,
            &session,
            None,
            300 << 10,
        );
        files += 1;
        let subagents = project.join(&session).join("subagents");
        std::fs::create_dir_all(&subagents).unwrap();
        for _ in 0..2 {
            let agent = format!("a{:016x}", rng.next());
            let path = subagents.join(format!("agent-{agent}.jsonl"));
            total += transcript(&path, &mut rng, &session, Some(&agent), 350 << 10);
            std::fs::write(
                subagents.join(format!("agent-{agent}.meta.json")),
                json!({"agentType": "general-purpose"}).to_string(),
            )
            .unwrap();
            files += 1;
        }
    }
    println!("{}", json!({"bytes": total, "files": files}));
}

fn tail_latency(events: &Path, bin: &Path, n: usize) {
    let mut sink = FsSink::open(events).expect("events dir");
    let mut rng = Rng(0x7a11_0000_0000_0001);
    let session = uuid(&mut rng);
    let seed = loop {
        let r = record(&mut rng, 0, Utc::now(), &session, None);
        if r.is_valid() {
            break r;
        }
    };
    sink.store(&seed).unwrap();
    let child = Command::new(bin)
        .args(["--events-dir"])
        .arg(events)
        .args(["tail", "-f", "--jsonl", "-n", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn tail");
    // Killed however this ends, so a failed run leaves no tail behind.
    struct Guard(std::process::Child);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Guard(child);
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            if tx.send((Instant::now(), l)).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("tail printed the latest event");
    assert!(first.1.contains(&seed.id.to_string()));
    std::thread::sleep(Duration::from_millis(300));
    let mut lat: Vec<(f64, bool)> = Vec::new();
    for i in 0..n {
        let new_day = i % 5 == 4;
        let at = if new_day {
            Utc.with_ymd_and_hms(2031, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::days(i as i64)
        } else {
            Utc::now()
        };
        // Dead letters go elsewhere (tail shows them with --invalid).
        let r = loop {
            let r = record(&mut rng, i as u64 + 1, at, &session, None);
            if r.is_valid() {
                break r;
            }
        };
        // From before the write: an upper bound on the delay after the
        // file appears (the link happens inside store).
        let t0 = Instant::now();
        sink.store(&r).unwrap();
        let (t1, l) = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("tail printed the new event");
        assert!(l.contains(&r.id.to_string()), "unexpected line {l}");
        lat.push((
            (t1.saturating_duration_since(t0)).as_secs_f64() * 1000.0,
            new_day,
        ));
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status();
    let status = child.0.wait().unwrap();
    let mut all: Vec<f64> = lat.iter().map(|l| l.0).collect();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let new_days: Vec<f64> = lat.iter().filter(|l| l.1).map(|l| l.0).collect();
    let pct = |p: usize| all[((p * all.len()).div_ceil(100)).max(1) - 1];
    println!(
        "{}",
        json!({"events": n, "p50_ms": pct(50), "p90_ms": pct(90), "max_ms": all[all.len() - 1],
               "max_new_day_ms": new_days.iter().cloned().fold(0.0, f64::max),
               "sigint_exit_code": status.code()})
    );
}
