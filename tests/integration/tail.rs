//! `tail`: the latest events, and `tail -f` following new ones as other
//! processes store them, including in new day folders, until SIGINT.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::{Value, json};

use crate::read::{FG_SESSION, emit, event, ids, published, record_day};
use crate::test::{Env, Test};

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

/// A running `tail -f`, its stdout lines arriving on a channel; killed
/// when dropped, so a failing test leaves no process behind.
struct Follower {
    child: Child,
    lines: Receiver<String>,
}

impl Follower {
    fn start(test: Test) -> Follower {
        let mut child = test
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tail -f");
        let (tx, rx) = channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Follower { child, lines: rx }
    }

    /// The next line; fails after 10 s (a bound against hanging, not a speed test).
    fn next(&self) -> Value {
        let l = self
            .lines
            .recv_timeout(Duration::from_secs(10))
            .expect("tail -f printed a line");
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l}"))
    }

    fn nothing_more(&self) {
        assert!(
            self.lines.recv_timeout(Duration::from_millis(300)).is_err(),
            "tail printed an unexpected line"
        );
    }

    /// Ends it as Ctrl-C does; returns its exit code and stderr.
    fn interrupt(&mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        for _ in 0..1000 {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                return (status.code(), err);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("tail -f did not end on SIGINT");
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    f.nothing_more();
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
    // Give the watches a moment (nothing is printed to say they are ready).
    std::thread::sleep(Duration::from_millis(300));
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
    f.nothing_more();
    assert_eq!(f.interrupt().0, Some(0));
}

#[test]
fn follow_invalid_shows_new_dead_letters() {
    let env = published();
    let mut f = Follower::start(env.test().args(&["tail", "-f", "--jsonl", "--invalid"]));
    std::thread::sleep(Duration::from_millis(300));
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
    f.nothing_more();
    assert_eq!(f.interrupt().0, Some(0));
}

#[test]
fn follow_waits_for_the_events_dir_to_be_created() {
    let env = Env::new();
    let mut f = Follower::start(env.test().args(&["tail", "-f", "--jsonl"]));
    std::thread::sleep(Duration::from_millis(300));
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
fn follow_reads_a_file_written_in_place_once_it_is_complete() {
    let env = published();
    let mut f = Follower::start(env.test().args(&["tail", "-f", "--jsonl", "-n", "0"]));
    std::thread::sleep(Duration::from_millis(300));
    // Another writer creates the file first and fills it later.
    let mut record = env.records()[0].clone();
    let id = "0b3c9d7e-1111-5222-8333-444455556666";
    record["id"] = json!(id);
    let (day, compact) = record_day(&env);
    let path = env.events().join(day).join(format!(
        "{compact}T000000.000Z-urlCacher.urlValidated-{id}.json"
    ));
    use std::io::Write;
    let mut file = std::fs::File::create(&path).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let text = serde_json::to_vec_pretty(&record).unwrap();
    file.write_all(&text[..10]).unwrap();
    file.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    file.write_all(&text[10..]).unwrap();
    drop(file);
    assert_eq!(f.next()["id"], id);
    let (code, stderr) = f.interrupt();
    assert_eq!(code, Some(0));
    assert_eq!(
        stderr, "",
        "a file being written is not reported as corrupt"
    );
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
    std::thread::sleep(Duration::from_millis(300));
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
