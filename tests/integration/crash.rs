//! Crashes and concurrency: `publish` killed with SIGKILL at random points
//! leaves nothing partial under `.events/`, and a replay completes the set
//! without duplicates; 200 processes publishing overlapping events at once
//! store each distinct event exactly once. Meanwhile a follower, restarted
//! at random points from its persisted position, is given every stored
//! record once: no gap, no repeat.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use event_publisher::Problems;
use event_publisher::follow::{Follower, Position};

use serde_json::{Value, json};

use crate::test::Env;

fn bash(tool_use_id: &str, stdout: &str) -> Vec<u8> {
    crate::test::bash("s-crash", tool_use_id, stdout)
}

/// `n` distinct valid events and, every tenth, an invalid one.
fn markers(n: usize) -> String {
    (0..n)
        .map(|i| {
            let attributes = match i % 10 {
                9 => json!({"i": i}),
                _ => json!({"url": format!("https://example.com/{i}"), "cache_path": "/c"}),
            };
            format!(
                "<EVENT>{}</EVENT>\n",
                json!({"name": "urlCacher.cacheRequested", "attributes": attributes})
            )
        })
        .collect()
}

fn spawn(env: &Env, stdin: &[u8]) -> Child {
    let mut child = env
        .test()
        .args(&["publish", "--no-feedback"])
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Small payloads fit the pipe: no writer thread needed.
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child
}

/// Every file under `.events/`: parses as a record, and no temp file is
/// left. Returns the number of files per record id (day folders and
/// `invalid/`, not the id index).
fn check_tree(events: &Path) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    fn visit(dir: &Path, rel: &str, ids: &mut HashMap<String, usize>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                assert_ne!(name, ".tmp", "temp dir used: {}", path.display());
                if name == ".journal" {
                    continue;
                }
                visit(&path, &format!("{rel}/{name}"), ids);
                continue;
            }
            assert!(
                !name.ends_with(".tmp"),
                "temp file left: {}",
                path.display()
            );
            let bytes = std::fs::read(&path).unwrap();
            let record: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{} is partial or corrupt: {e}", path.display()));
            let id = record["id"].as_str().expect("a record id").to_string();
            assert!(
                path.file_name().unwrap().to_string_lossy().contains(&id),
                "{}: not the file of record {id}",
                path.display()
            );
            if !rel.starts_with("/.ids") {
                *ids.entry(id).or_insert(0) += 1;
            }
        }
    }
    visit(events, "", &mut ids);
    ids
}

/// A small deterministic generator (xorshift), seeded from the clock; the
/// seed is printed so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below.max(1)
    }
}

/// A follower of `events` on a thread until `stop`, restarted after a
/// random number of polls from its position written out and parsed back
/// (as a subscriber's cursor file would); returns the ids it was given.
fn follower(events: PathBuf, stop: Arc<AtomicBool>, seed: u64) -> JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut rng = Rng(seed);
        let mut saved = Position::START.to_string();
        let mut given = Vec::new();
        let mut problems = Problems::quiet();
        loop {
            let done = stop.load(Ordering::SeqCst);
            let mut f = Follower::new(&events, Position::parse(&saved).unwrap());
            for _ in 0..=rng.next(8) {
                for a in f.poll(&mut |_, _| true, &mut problems) {
                    given.push(a.record.id.to_string());
                }
                if f.caught_up() && !done {
                    std::thread::sleep(Duration::from_micros(rng.next(2000)));
                }
            }
            saved = f.position().to_string();
            if done && f.caught_up() {
                return given;
            }
        }
    })
}

/// No gap, no repeat: the follower was given each stored record once.
fn given_each_once(given: &[String], stored: &HashMap<String, usize>) {
    let unique: HashSet<&String> = given.iter().collect();
    assert_eq!(unique.len(), given.len(), "a record given twice");
    let stored: HashSet<&String> = stored.keys().collect();
    assert_eq!(unique, stored, "given and stored differ");
}

#[test]
fn sigkill_at_random_points_leaves_nothing_partial_and_replay_completes() {
    let env = Env::new();
    // 300 tool calls of 30 markers each, each killed once at a random
    // point, so every kill meets work still to do.
    let (rounds, kills_per_round, n) = (300, 1, 30);
    let payloads: Vec<Vec<u8>> = (0..rounds)
        .map(|r| bash(&format!("toolu_crash_{r}"), &markers(n)))
        .collect();
    // How long a whole run takes here sets the range of kill points.
    let mut full = (0..5)
        .map(|_| {
            let probe = Env::new();
            let start = Instant::now();
            spawn(&probe, &payloads[0]).wait().unwrap();
            assert_eq!(probe.records().len() + probe.dead_letters().len(), n);
            start.elapsed().as_micros() as u64
        })
        .min()
        .unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("sigkill test: seed {seed}, a whole run takes {full} µs");
    let mut rng = Rng(seed);
    let stop = Arc::new(AtomicBool::new(false));
    let following = follower(env.events(), stop.clone(), seed);
    let mut finished = 0;
    for payload in &payloads {
        for _ in 0..kills_per_round {
            let mut child = spawn(&env, payload);
            std::thread::sleep(Duration::from_micros(rng.next(full)));
            if child.try_wait().unwrap().is_some() {
                finished += 1;
                // The machine got faster than when `full` was measured (other
                // tests ended): kill earlier, so kills keep meeting work.
                full = (full * 3 / 4).max(200);
            }
            let _ = child.kill();
            child.wait().unwrap();
        }
    }
    let kills = rounds * kills_per_round;
    let partial = check_tree(&env.events());
    eprintln!(
        "sigkill test: {kills} runs killed ({finished} had finished), {} of {} events stored before the replay",
        partial.len(),
        rounds * n
    );
    assert!(partial.values().all(|&k| k == 1), "duplicates after kills");
    assert!(
        finished < kills * 2 / 3,
        "most runs ended before their kill"
    );

    for payload in &payloads {
        env.test()
            .args(&["publish", "--no-feedback"])
            .stdin(payload.clone())
            .stderr("")
            .run();
    }
    let ids = check_tree(&env.events());
    assert_eq!(
        ids.len(),
        rounds * n,
        "not every event stored after the replay"
    );
    assert!(ids.values().all(|&k| k == 1), "duplicates after the replay");
    assert_eq!(env.dead_letters().len(), rounds * n / 10);
    stop.store(true, Ordering::SeqCst);
    given_each_once(&following.join().unwrap(), &ids);
    // A follower from the start, without restarts, agrees on the order.
    let once: Vec<String> = env.arrivals().into_iter().map(|(id, _)| id).collect();
    given_each_once(&once, &ids);
}

#[test]
fn two_hundred_concurrent_publishers_store_each_distinct_event_once() {
    let env = Env::new();
    // Process p publishes events with agent ids (p .. p+10) mod 50; every
    // other process repeats its neighbour's payload (same tool call), so
    // events are shared both by id and by origin.
    let payloads: Vec<Vec<u8>> = (0..200)
        .map(|p| {
            let first = p - p % 2;
            let text: String = (first..first + 10)
                .map(|k| {
                    format!(
                        "<EVENT>{}</EVENT>",
                        json!({"name": "urlCacher.cacheRequested", "id": format!("evt-{}", k % 50),
                               "attributes": {"url": format!("https://example.com/{}", k % 50), "cache_path": "/c"}})
                    )
                })
                .chain(std::iter::once(format!(
                    "<EVENT>{}</EVENT>",
                    json!({"name": "urlCacher.urlValidated", "attributes": {"url": format!("u{}", p / 2)}})
                )))
                .collect();
            bash(&format!("toolu_{}", p / 2), &text)
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let following = follower(env.events(), stop.clone(), 0x9e3779b97f4a7c15);
    let children: Vec<Child> = payloads.iter().map(|p| spawn(&env, p)).collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    stop.store(true, Ordering::SeqCst);
    let ids = check_tree(&env.events());
    given_each_once(&following.join().unwrap(), &ids);
    // 50 events by id, and one per tool call (100) by origin.
    assert_eq!(ids.len(), 150);
    assert!(ids.values().all(|&k| k == 1), "an event stored twice");
    assert_eq!(env.records().len(), 150);
}
