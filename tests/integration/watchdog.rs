//! The watchdog: `publish` returns by its deadline, with exit 0 and one
//! line, whatever stalls it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::test::Env;

/// Runs `publish` with stdin left open and unwritten (the payload never
/// ends); returns (exit status, stderr, time taken). Fails past 30 s.
fn stalled_stdin(env: &Env, vars: &[(&str, &str)]) -> (i32, String, Duration) {
    stalled_stdin_with(env, vars, |_| {})
}

/// `stalled_stdin`, with the command adjusted by `prepare` first.
fn stalled_stdin_with(
    env: &Env,
    vars: &[(&str, &str)],
    prepare: impl FnOnce(&mut std::process::Command),
) -> (i32, String, Duration) {
    let mut t = env.test().args(&["publish"]);
    for (k, v) in vars {
        t = t.var(k, v);
    }
    let mut cmd = t.command();
    cmd.stderr(Stdio::piped());
    prepare(&mut cmd);
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("publish still running after 30 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    drop(stdin);
    let mut err = String::new();
    use std::io::Read;
    if let Some(mut stderr) = child.stderr.take() {
        stderr.read_to_string(&mut err).unwrap();
    }
    (status.code().unwrap_or(-1), err, elapsed)
}

#[test]
fn a_payload_that_never_ends_is_given_up_at_the_deadline() {
    let env = Env::new();
    let (status, err, took) = stalled_stdin(&env, &[("EVENT_PUBLISHER_DEADLINE_MS", "400")]);
    assert_eq!(status, 0, "{err}");
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("gave up after 400 ms (deadline_ms)"), "{err}");
    assert!(!env.events().exists());
}

#[test]
fn the_default_deadline_is_a_few_seconds() {
    let env = Env::new();
    let (status, err, took) = stalled_stdin(&env, &[]);
    assert_eq!(status, 0, "{err}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(err.contains("gave up after 5000 ms"), "{err}");
}

/// The deadline is a SIGALRM timer: a parent that leaves SIGALRM blocked
/// or ignored (both survive exec) must not disarm it.
#[test]
fn a_parent_blocking_or_ignoring_sigalrm_does_not_disarm_the_deadline() {
    use std::os::unix::process::CommandExt;
    for how in ["blocked", "ignored"] {
        let env = Env::new();
        let (status, err, took) =
            stalled_stdin_with(&env, &[("EVENT_PUBLISHER_DEADLINE_MS", "300")], |cmd| {
                let blocked = how == "blocked";
                // SAFETY: only async-signal-safe calls between fork and exec.
                unsafe {
                    cmd.pre_exec(move || {
                        if blocked {
                            let mut set: libc::sigset_t = std::mem::zeroed();
                            libc::sigemptyset(&mut set);
                            libc::sigaddset(&mut set, libc::SIGALRM);
                            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                        } else {
                            libc::signal(libc::SIGALRM, libc::SIG_IGN);
                        }
                        Ok(())
                    });
                }
            });
        assert_eq!(status, 0, "{how}: {err}");
        assert!(took < Duration::from_secs(5), "{how}: {took:?}");
        assert!(err.contains("gave up after 300 ms"), "{how}: {err}");
    }
}

/// A stderr nobody reads (a full pipe) cannot hold the exit back: the give-up
/// line is dropped after a short grace and the hook still exits 0.
#[test]
fn a_full_stderr_does_not_hold_the_deadline_back() {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let env = Env::new();
    let (reader, mut writer) = std::io::pipe().unwrap();
    // SAFETY: F_GETPIPE_SZ on a pipe we own.
    let capacity = unsafe { libc::fcntl(writer.as_raw_fd(), libc::F_GETPIPE_SZ) };
    assert!(capacity > 0);
    writer.write_all(&vec![b'.'; capacity as usize]).unwrap();
    let (status, _, took) =
        stalled_stdin_with(&env, &[("EVENT_PUBLISHER_DEADLINE_MS", "300")], |cmd| {
            cmd.stderr(Stdio::from(writer));
        });
    assert_eq!(status, 0);
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    drop(reader);
}

/// A user config file that is a FIFO blocks its reader forever (opening a
/// FIFO waits for a writer): a real stall after the payload was read.
#[test]
fn a_stall_after_the_payload_ends_at_the_deadline() {
    let env = Env::new();
    let dir = env.root().join("config/event-publisher");
    std::fs::create_dir_all(&dir).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(dir.join("config.json"))
        .status()
        .unwrap();
    assert!(made.success());
    let out = env
        .test()
        .args(&["publish"])
        .var("EVENT_PUBLISHER_DEADLINE_MS", "500")
        .fixture("claude-code-2.1.328/foreground-post-tool-use-agent.json")
        .stderr_has("gave up after 500 ms (deadline_ms)")
        .run();
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

/// Slow work (20,000 records to write) is cut at the deadline the project's
/// config file sets; what was stored by then is whole, and a replay with
/// time enough completes the set.
#[test]
fn slow_work_ends_at_the_config_files_deadline_leaving_whole_records() {
    let env = Env::new();
    std::fs::create_dir_all(env.project().join(".claude")).unwrap();
    let config = |deadline: u64| {
        std::fs::write(
            env.project().join(".claude/event-publisher.json"),
            json!({"deadline_ms": deadline, "unknown_events": "accept",
                   "limits": {"max_markers": 100000}})
            .to_string(),
        )
        .unwrap()
    };
    config(300);
    let n = 20_000;
    let stdout: String = (0..n)
        .map(|i| {
            format!("<EVENT>{{\"name\": \"load.item\", \"attributes\": {{\"i\": {i}}}}}</EVENT>\n")
        })
        .collect();
    let payload = crate::test::bash_value("s", "t", &stdout).to_string();
    let out = env
        .test()
        .args(&["publish"])
        .stdin(payload.clone())
        .stderr_has("gave up after 300 ms (deadline_ms)")
        .run();
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
    let first = env.records().len();
    assert!(
        first < n,
        "all {n} stored before the deadline: make the test harder"
    );
    // A project file cannot allow more than the user does (5 s by
    // default); the environment can.
    env.test()
        .args(&["publish"])
        .var("EVENT_PUBLISHER_DEADLINE_MS", "600000")
        .stdin(payload)
        .run();
    let records = env.records();
    assert_eq!(records.len(), n);
    let mut seen: Vec<i64> = records
        .iter()
        .map(|r| r["attributes"]["i"].as_i64().unwrap())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), n);
}
