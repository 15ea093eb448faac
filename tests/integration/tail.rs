//! `tail`: the latest events, and `tail -f` following new ones as other
//! processes store them, including in new day folders, until SIGINT.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::{Value, json};

use crate::test::{Env, Test};
use crate::test::{FG_SESSION, emit, event, ids, published, record_day};

#[test]
fn tail_shows_the_latest_events_oldest_of_them_first() {
    let env = published();
    let all = ids(&env.test().args(&["ls", "--jsonl"]).run());
    let last2 = ids(&env.test().args(&["tail", "-n", "2", "--jsonl"]).run());
    assert_eq!(last2, all[4..]);
    let text = env.test().args(&["tail"]).run();
    assert_eq!(text.stdout.lines().count(), 6);
    let arr = env.test().args(&["tail", "-n", "3", "--json"]).run().json();
    assert_eq!(arr.as_array().unwrap().len(), 3);
    let only = ids(&env
        .test()
        .args(&["tail", "-n", "1", "--jsonl", "--session", FG_SESSION])
        .run());
    let fg: Vec<String> = ids(&env
        .test()
        .args(&["ls", "--jsonl", "--session", FG_SESSION])
        .run());
    assert_eq!(only, fg[2..]);
}

/// A running `tail -f`, its stdout and stderr lines arriving on channels;
/// killed when dropped, so a failing test leaves no process behind.
struct Follower {
    child: Child,
    lines: Receiver<String>,
    errors: Receiver<String>,
    /// What it said on stderr before it was following.
    said: Vec<String>,
}

/// Sends the lines of `from` on a channel.
fn lines_of(from: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(from).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

impl Follower {
    /// Starts `test` (a `tail -f`) and waits until it says it is following:
    /// every event stored from then on is printed.
    fn start(test: Test) -> Follower {
        let mut child = test
            .arg("--ready-line")
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tail -f");
        let lines = lines_of(child.stdout.take().unwrap());
        let errors = lines_of(child.stderr.take().unwrap());
        let mut f = Follower {
            child,
            lines,
            errors,
            said: Vec::new(),
        };
        loop {
            let l = f
                .errors
                .recv_timeout(Duration::from_secs(10))
                .expect("tail -f said it is following");
            if l.starts_with("event-publisher: following ") {
                return f;
            }
            f.said.push(l);
        }
    }

    /// The next line; fails after 10 s (a bound against hanging, not a speed test).
    fn next(&self) -> Value {
        let l = self
            .lines
            .recv_timeout(Duration::from_secs(10))
            .expect("tail -f printed a line");
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l}"))
    }

    /// Nothing more printed once `probe` (an event stored after whatever
    /// must not be printed) is: the follower prints in storing order.
    fn nothing_before(&self, probe: &str) {
        let next = self.next();
        assert_eq!(
            next["attributes"]["url"], probe,
            "an unexpected line: {next}"
        );
    }

    /// Ends it with `signal` (Ctrl-C is INT); returns its exit code and the
    /// rest of its stderr. Fails if it does not end within 10 s.
    fn stop(&mut self, signal: &str) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        for _ in 0..1000 {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = std::mem::take(&mut self.said);
                err.extend(self.errors.iter());
                let mut err = err.join("\n");
                if !err.is_empty() {
                    err.push('\n');
                }
                return (status.code(), err);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("tail -f did not end on {signal}");
    }

    fn interrupt(&mut self) -> (Option<i32>, String) {
        self.stop("-INT")
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stores a probe event (a dead letter when `dead`) and checks it is the
/// next line: nothing unexpected came before it.
fn probe(env: &Env, f: &Follower, dead: bool) {
    let name = if dead {
        "urlCacher.cacheFailed"
    } else {
        "urlCacher.urlValidated"
    };
    emit(
        env,
        "s-probe",
        None,
        "toolu_probe",
        &[event(
            name,
            "2026-01-01T00:00:00Z",
            json!({"url": "https://probe/"}),
        )],
    );
    f.nothing_before("https://probe/");
}

fn validated(url: &str, ts: &str) -> Value {
    event("urlCacher.urlValidated", ts, json!({"url": url}))
}

#[test]
fn follow_prints_new_events_as_they_land_and_ends_on_sigint() {
    let env = published();
    let mut f = Follower::start(env.test().args(&["tail", "-f", "--jsonl", "-n", "1"]));
    let latest = ids(&env
        .test()
        .args(&["ls", "--jsonl", "--reverse", "-n", "1"])
        .run());
    assert_eq!(f.next()["id"], latest[0].as_str());
    // Written by other processes: an existing day folder, then a new one.
    emit(
        &env,
        "s-follow",
        None,
        "toolu_f1",
        &[validated("https://one/", "2026-11-21T10:00:00Z")],
    );
    assert_eq!(f.next()["attributes"]["url"], "https://one/");
    emit(
        &env,
        "s-follow",
        None,
        "toolu_f2",
        &[validated("https://two/", "2031-05-06T07:08:09Z")],
    );
    let two = f.next();
    assert_eq!(two["attributes"]["url"], "https://two/");
    assert!(env.events().join("2031-05-06").is_dir());
    emit(
        &env,
        "s-follow",
        None,
        "toolu_f3",
        &[validated("https://three/", "2031-05-06T08:00:00Z")],
    );
    assert_eq!(f.next()["attributes"]["url"], "https://three/");
    // Seen again: nothing new stored, nothing printed.
    emit(
        &env,
        "s-follow",
        None,
        "toolu_f1",
        &[validated("https://one/", "2026-11-21T10:00:00Z")],
    );
    probe(&env, &f, false);
    let (code, stderr) = f.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn follow_applies_the_filters() {
    let env = published();
    // A relative events directory works too.
    let mut f = Follower::start(env.test().args(&[
        "--events-dir",
        ".events",
        "tail",
        "-f",
        "--jsonl",
        "-n",
        "0",
        "--where",
        "url=https://yes/",
    ]));
    emit(
        &env,
        "s-f",
        None,
        "toolu_a",
        &[validated("https://no/", "2026-11-21T10:00:00Z")],
    );
    emit(
        &env,
        "s-f",
        None,
        "toolu_b",
        &[validated("https://yes/", "2026-11-21T10:00:01Z")],
    );
    assert_eq!(f.next()["attributes"]["url"], "https://yes/");
    assert_eq!(f.interrupt().0, Some(0));
}

#[test]
fn follow_invalid_shows_new_dead_letters() {
    let env = published();
    let mut f = Follower::start(env.test().args(&["tail", "-f", "--jsonl", "--invalid"]));
    // invalid/ and its day folder do not exist yet.
    assert!(!env.events().join("invalid").exists());
    emit(
        &env,
        "s-bad",
        None,
        "toolu_bad",
        &[event(
            "urlCacher.cacheFailed",
            "2026-03-04T00:00:00Z",
            json!({"url": "https://x/"}),
        )],
    );
    emit(
        &env,
        "s-bad",
        None,
        "toolu_ok",
        &[validated("https://fine/", "2026-03-04T00:00:01Z")],
    );
    let dead = f.next();
    assert_eq!(dead["name"], "urlCacher.cacheFailed");
    assert!(!dead["errors"].as_array().unwrap().is_empty());
    probe(&env, &f, true);
    assert_eq!(f.interrupt().0, Some(0));
}

#[test]
fn follow_waits_for_the_events_dir_to_be_created() {
    let env = Env::new();
    let mut f = Follower::start(env.test().args(&["tail", "-f", "--jsonl"]));
    emit(
        &env,
        "s-new",
        None,
        "toolu_n",
        &[validated("https://first/", "2026-11-21T10:00:00Z")],
    );
    assert_eq!(f.next()["attributes"]["url"], "https://first/");
    emit(
        &env,
        "s-new",
        None,
        "toolu_n2",
        &[validated("https://second/", "2026-11-22T10:00:00Z")],
    );
    assert_eq!(f.next()["attributes"]["url"], "https://second/");
    let (code, stderr) = f.interrupt();
    assert_eq!(code, Some(0));
    assert!(
        stderr.contains("waiting for") && stderr.contains(".events to be created"),
        "{stderr}"
    );
}

#[test]
fn follow_prints_in_storing_order_whatever_the_timestamps() {
    let env = published();
    let mut f = Follower::start(env.test().args(&["tail", "-f", "--jsonl", "-n", "0"]));
    // A file written into a day folder by hand was not stored: not printed.
    let mut planted = env.records()[0].clone();
    let id = "0b3c9d7e-1111-5222-8333-444455556666";
    planted["id"] = json!(id);
    let (day, compact) = record_day(&env);
    std::fs::write(
        env.events().join(day).join(format!(
            "{compact}T000000.000Z-urlCacher.urlValidated-{id}.json"
        )),
        serde_json::to_vec_pretty(&planted).unwrap(),
    )
    .unwrap();
    // Stored now, with timestamps out of order (file names sort by them).
    for (i, ts) in [
        "2031-01-01T00:00:00Z",
        "2001-01-01T00:00:00Z",
        "2020-06-06T00:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        emit(
            &env,
            "s-order",
            None,
            &format!("toolu_o{i}"),
            &[validated(&format!("https://{i}/"), ts)],
        );
    }
    for i in 0..3 {
        assert_eq!(f.next()["attributes"]["url"], format!("https://{i}/"));
    }
    probe(&env, &f, false);
    assert_eq!(f.interrupt(), (Some(0), String::new()));
}

#[test]
fn follow_neither_hangs_on_a_fifo_nor_ignores_sigterm() {
    let env = published();
    let (day, compact) = record_day(&env);
    let fifo_id = "0b3c9d7e-1111-5222-8333-444455556667";
    let mode = rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR;
    let name = format!("{compact}T235959.999Z-urlCacher.urlValidated-{fifo_id}.json");
    // In a day folder, where the latest are read first...
    rustix::fs::mkfifoat(rustix::fs::CWD, env.events().join(&day).join(&name), mode).unwrap();
    // ...and as the index entry of a record the journal says was stored.
    let bucket = env.events().join(".ids").join(&fifo_id[..2]);
    std::fs::create_dir_all(&bucket).unwrap();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        bucket.join(format!("{fifo_id}.json")),
        mode,
    )
    .unwrap();
    let mut f = Follower::start(env.test().args(&["tail", "-f", "--jsonl", "-n", "1"]));
    assert!(f.next()["id"].is_string());
    // Planted while following (what used to block `tail -f` in open(2),
    // deaf to SIGTERM): never opened, it is no stored record.
    let later = name
        .replace("T235959.999Z", "T235959.998Z")
        .replace("6667", "6668");
    rustix::fs::mkfifoat(rustix::fs::CWD, env.events().join(&day).join(&later), mode).unwrap();
    let mut journal = std::fs::OpenOptions::new()
        .append(true)
        .open(env.events().join(".journal/arrivals"))
        .unwrap();
    use std::io::Write;
    journal
        .write_all(format!("{day}/{name}\n").as_bytes())
        .unwrap();
    drop(journal);
    probe(&env, &f, false);
    let (code, stderr) = f.stop("-TERM");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("a FIFO, not a record"), "{stderr}");
}

#[test]
fn follow_sees_a_day_folder_that_gc_deleted_come_back() {
    let env = Env::new();
    emit(
        &env,
        "s-gc",
        None,
        "toolu_1",
        &[validated("https://old/", "2026-05-05T00:00:00Z")],
    );
    emit(
        &env,
        "s-gc",
        None,
        "toolu_0",
        &[event(
            "urlCacher.cacheFailed",
            "2026-05-05T00:00:00Z",
            json!({"url": "https://x/"}),
        )],
    );
    let mut f = Follower::start(env.test().args(&["tail", "-f", "--jsonl", "-n", "0"]));
    env.test()
        .args(&["gc", "--keep", "0"])
        .stdout_has("2 empty day folders")
        .run();
    assert!(!env.events().join("2026-05-05").exists());
    emit(
        &env,
        "s-gc",
        None,
        "toolu_2",
        &[validated("https://again/", "2026-05-05T01:00:00Z")],
    );
    assert_eq!(f.next()["attributes"]["url"], "https://again/");
    emit(
        &env,
        "s-gc",
        None,
        "toolu_3",
        &[validated("https://more/", "2026-05-05T02:00:00Z")],
    );
    assert_eq!(f.next()["attributes"]["url"], "https://more/");
    assert_eq!(f.interrupt().0, Some(0));
}
