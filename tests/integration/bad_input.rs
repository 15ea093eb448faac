//! The bad-input corpus: hostile or broken payloads, schemas and transcript
//! paths, each run through `publish`. Every run must exit 0, end in bounded
//! time and memory, write nothing outside `.events/` and nothing partial
//! inside it, keep a dead letter where there was an event, and say what went
//! wrong in one line per problem on stderr.
//!
//! Set `BAD_INPUT_REPORT=<file>` to append one line per case (name, status,
//! seconds, peak RSS KB, records, dead letters, stderr lines) for the README.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::test::{BIN, Env, REPO};

/// Bounds every case must stay within (the debug binary; a release build is
/// several times faster).
const MAX_TIME: Duration = Duration::from_secs(10);
const MAX_RSS_KB: u64 = 256 * 1024;

const VALID: &str = r#"<EVENT>{"name": "urlCacher.cacheRequested", "attributes": {"url": "https://example.com", "cache_path": "/tmp/c"}}</EVENT>"#;

pub struct Outcome {
    pub records: Vec<Value>,
    pub dead: Vec<Value>,
    pub stderr: String,
    pub stdout: String,
}

/// Runs `publish` on `stdin` in `env` under `/usr/bin/time` (peak RSS) and
/// checks what every case must hold.
pub fn run(env: &Env, case: &str, stdin: &[u8], vars: &[(&str, &str)]) -> Outcome {
    let before = outside_events(env);
    let mut t = env.test().args(&["publish"]);
    for (k, v) in vars {
        t = t.var(k, v);
    }
    let inner = t.command();
    let rss_file = env.root().join("rss");
    // Peak memory is measured by GNU time; without it (said, and a failure
    // in CI) the case runs unmeasured.
    let measured = crate::test::available(
        "/usr/bin/time",
        crate::test::on_path("/usr/bin/time"),
        "apt-get install time",
    );
    let mut cmd = Command::new(if measured {
        Path::new("/usr/bin/time")
    } else {
        BIN.path()
    });
    if measured {
        cmd.args(["-f", "%M", "-o"]).arg(&rss_file).arg(BIN);
    }
    cmd.args(inner.get_args())
        .env_clear()
        .current_dir(inner.get_current_dir().unwrap());
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn publish");
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = loop {
        if child.try_wait().unwrap().is_some() {
            break child.wait_with_output().unwrap();
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("{case}: publish hung (60 s)");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = start.elapsed();
    let _ = writer.join();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let rss: u64 = match measured {
        true => std::fs::read_to_string(&rss_file)
            .unwrap_or_default()
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("{case}: no RSS figure from /usr/bin/time\n{stderr}")),
        false => 0,
    };
    if measured {
        std::fs::remove_file(&rss_file).unwrap();
    }
    let ctx = format!("{case}\nstderr:\n{stderr}");

    assert_eq!(out.status.code(), Some(0), "{ctx}");
    assert!(elapsed < MAX_TIME, "{case}: took {elapsed:?}");
    assert!(rss < MAX_RSS_KB, "{case}: peak RSS {rss} KB");
    for line in stderr.lines() {
        assert!(line.starts_with("event-publisher: "), "{ctx}");
        assert!(
            line.len() <= 2000,
            "{case}: stderr line of {} bytes",
            line.len()
        );
    }
    assert!(stderr.lines().count() <= 3, "{ctx}");
    assert_eq!(
        outside_events(env),
        before,
        "{case}: wrote outside .events/"
    );
    let events = env.events();
    for f in env.record_files() {
        assert!(
            !f.starts_with(".tmp"),
            "{case}: temp file left: {}",
            f.display()
        );
        let bytes = std::fs::read(events.join(&f)).unwrap();
        serde_json::from_slice::<Value>(&bytes)
            .unwrap_or_else(|e| panic!("{case}: {} is not whole JSON: {e}", f.display()));
    }
    let outcome = Outcome {
        records: env.records(),
        dead: env.dead_letters(),
        stderr,
        stdout,
    };
    if let Some(report) = std::env::var_os("BAD_INPUT_REPORT") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(report)
            .unwrap();
        writeln!(
            f,
            "{case}\t{}\t{:.3}\t{rss}\t{}\t{}\t{}",
            out.status.code().unwrap_or(-1),
            elapsed.as_secs_f64(),
            outcome.records.len(),
            outcome.dead.len(),
            outcome.stderr.lines().count()
        )
        .unwrap();
    }
    outcome
}

/// Every path under the sandbox outside `project/.events`, to show nothing
/// escaped.
fn outside_events(env: &Env) -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, skip: &Path, out: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p == skip || p.file_name().is_some_and(|n| n == "rss") {
                continue;
            }
            out.insert(p.clone());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&p, skip, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(env.root(), &env.events(), &mut out);
    // The usual targets of an escape, too.
    for p in ["/tmp/x", "/tmp/x.json", "/etc/x", "/x"] {
        if Path::new(p).exists() {
            out.insert(PathBuf::from(p));
        }
    }
    out
}

fn bash(stdout: &str) -> Vec<u8> {
    crate::test::bash("s-bad", "toolu_bad", stdout)
}

fn event(name: Value, attributes: Value) -> String {
    format!(
        "<EVENT>{}</EVENT>",
        json!({"name": name, "attributes": attributes})
    )
}

#[test]
fn payloads_that_are_not_hook_payloads() {
    let fixture = Env::new().payload("claude-code-2.1.328/foreground-post-tool-use-agent.json");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty stdin", Vec::new(), ""),
        ("not JSON", format!("hello {VALID}").into_bytes(), "unreadable payload"),
        (
            "truncated JSON",
            fixture[..fixture.len() / 2].to_vec(),
            "unreadable payload",
        ),
        (
            "a JSON array",
            format!("[{}]", String::from_utf8(bash(VALID)).unwrap()).into_bytes(),
            "expected a JSON object",
        ),
        (
            "a JSON scalar",
            serde_json::to_vec(&json!(VALID)).unwrap(),
            "expected a JSON object",
        ),
        (
            "a raw NUL byte in a string",
            bash(VALID)
                .iter()
                .flat_map(|b| if *b == b'<' { vec![0, b'<'] } else { vec![*b] })
                .collect(),
            "unreadable payload",
        ),
        (
            "100,000-level nested array payload",
            format!(
                "{{\"hook_event_name\": \"Stop\", \"x\": {}{}, \"last_assistant_message\": \"{}\"}}",
                "[".repeat(100_000),
                "]".repeat(100_000),
                VALID.replace('"', "\\\"")
            )
            .into_bytes(),
            "unreadable payload",
        ),
    ];
    for (case, stdin, says) in cases {
        let env = Env::new();
        let o = run(&env, case, &stdin, &[]);
        assert!(o.records.is_empty() && o.dead.is_empty(), "{case}");
        assert_eq!(o.stdout, "", "{case}");
        if says.is_empty() {
            assert_eq!(o.stderr, "", "{case}");
        } else {
            assert_eq!(o.stderr.lines().count(), 1, "{case}: {}", o.stderr);
            assert!(o.stderr.contains(says), "{case}: {}", o.stderr);
        }
    }
}

#[test]
fn encodings_keep_their_events() {
    // Invalid UTF-8 next to a marker: replaced, the event kept.
    let mut stdin = bash(&format!("bad byte: X {VALID}"));
    let at = stdin.windows(3).position(|w| w == b"X <").unwrap();
    stdin[at] = 0xff;
    let env = Env::new();
    let o = run(&env, "invalid UTF-8", &stdin, &[]);
    assert_eq!(o.records.len(), 1, "{}", o.stderr);
    // An escaped NUL (\u0000) and control characters around a marker.
    let env = Env::new();
    let o = run(
        &env,
        "NUL and control characters",
        &bash(&format!("\u{0}\u{1}\u{7f}{VALID}\u{0}")),
        &[],
    );
    assert_eq!(o.records.len(), 1, "{}", o.stderr);
}

#[test]
fn sizes_beyond_the_caps() {
    let env = Env::new();
    let mut big = bash(&format!("{VALID}{}", "x".repeat(200 << 20)));
    big.shrink_to_fit();
    let o = run(&env, "200 MB payload", &big, &[]);
    drop(big);
    assert!(o.stderr.contains("max_payload_bytes"), "{}", o.stderr);
    assert!(o.records.is_empty() && o.dead.is_empty());

    let env = Env::new();
    let long = format!(
        "<EVENT>{{\"name\": \"urlCacher.cacheRequested\", \"attributes\": {{\"url\": \"{}\"}}}}</EVENT>",
        "u".repeat(10 << 20)
    );
    let o = run(&env, "a 10 MB marker", &bash(&long), &[]);
    assert_eq!(o.dead.len(), 1, "{}", o.stderr);
    assert_eq!(o.dead[0]["errors"][0]["kind"], "marker_too_large");
    assert!(o.dead[0]["raw"].as_str().unwrap().len() <= (1 << 20) + 16);

    let env = Env::new();
    let many: String = (0..1_000_000).map(|_| "<EVENT>{}</EVENT>").collect();
    let payload = bash(&many);
    let o = run(&env, "1,000,000 markers", &payload, &[]);
    // The scan stops at max_markers (10,000). Writing 10,000 records may take
    // this machine's debug build, loaded, longer than the 5 s deadline: then
    // the watchdog ends the call with what is stored whole (a replay goes on).
    if o.stderr.contains("deadline_ms") {
        assert!(o.dead.len() < 10_000);
    } else {
        assert!(o.stderr.contains("max_markers"), "{}", o.stderr);
        assert_eq!(o.dead.len(), 10_000, "{}", o.stderr);
    }

    let env = Env::new();
    let nested = format!(
        "<EVENT>{{\"name\": \"a.b\", \"attributes\": {{\"x\": {}{}}}}}</EVENT>",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let o = run(
        &env,
        "100,000-level nested array in a marker",
        &bash(&nested),
        &[],
    );
    assert_eq!(o.dead.len(), 1, "{}", o.stderr);
}

#[test]
fn broken_markers_become_dead_letters() {
    let cases: Vec<(&str, String, usize, usize)> = vec![
        (
            "unclosed marker",
            r#"<EVENT>{"name": "urlCacher.cacheRequested""#.into(),
            0,
            1,
        ),
        ("nested markers", format!("<EVENT>{VALID}</EVENT>"), 1, 1),
        (
            "</EVENT> inside a string",
            r#"<EVENT>{"name": "urlCacher.cacheRequested", "attributes": {"url": "a</EVENT>b", "cache_path": "</EVENT>"}}</EVENT>"#.into(),
            1,
            0,
        ),
        (
            "duplicate JSON keys",
            r#"<EVENT>{"name": "../../x", "name": "urlCacher.cacheRequested", "attributes": {"url": "u", "cache_path": "c"}}</EVENT>"#.into(),
            1,
            0,
        ),
        (
            "numbers beyond i64 and f64",
            r#"<EVENT>{"name": "urlCacher.contentFetched", "attributes": {"url": "u", "status_code": 99999999999999999999999, "bytes": 1e400}}</EVENT>"#.into(),
            0,
            1,
        ),
        (
            "timestamp in the year 10000",
            r#"<EVENT>{"name": "urlCacher.cacheRequested", "timestamp": "10000-01-01T00:00:00Z", "attributes": {"url": "u", "cache_path": "c"}}</EVENT>"#.into(),
            0,
            1,
        ),
        (
            "timestamp before 1970",
            r#"<EVENT>{"name": "urlCacher.cacheRequested", "timestamp": "1969-07-20T20:17:40Z", "attributes": {"url": "u", "cache_path": "c"}}</EVENT>"#.into(),
            1,
            0,
        ),
    ];
    for (case, text, records, dead) in cases {
        let env = Env::new();
        let o = run(&env, case, &bash(&text), &[]);
        assert_eq!(
            (o.records.len(), o.dead.len()),
            (records, dead),
            "{case}: {}",
            o.stderr
        );
    }
}

#[test]
fn a_marker_split_across_two_content_blocks() {
    let (a, b) = VALID.split_at(40);
    let payload = serde_json::to_vec(&json!({
        "session_id": "s", "hook_event_name": "PostToolUse", "tool_name": "Agent",
        "tool_use_id": "toolu_split", "tool_input": {"prompt": "p"},
        "tool_response": {"content": [{"type": "text", "text": a}, {"type": "text", "text": b}]}
    }))
    .unwrap();
    let env = Env::new();
    let o = run(
        &env,
        "a marker split across two content blocks",
        &payload,
        &[],
    );
    // The first half is an unclosed marker, kept; the second has no marker.
    assert_eq!((o.records.len(), o.dead.len()), (0, 1), "{}", o.stderr);
}

#[test]
fn hostile_names_never_become_paths() {
    let names = [
        ("a name with /", json!("urlCacher/../../x")),
        ("a name with \\", json!("urlCacher\\..\\x")),
        ("a name with ..", json!("..")),
        ("a name with NUL", json!("urlCacher.cache\u{0}Requested")),
        (
            "a name with control characters",
            json!("urlCacher.\u{1b}[31mred"),
        ),
        (
            "a 10,000-character name",
            json!(format!("a.{}", "b".repeat(10_000))),
        ),
        (
            "a Unicode look-alike name",
            json!("urlCacher\u{2024}cacheRequested"),
        ),
        (
            "a Cyrillic look-alike name",
            json!("urlC\u{430}cher.cacheRequested"),
        ),
        ("a name that is not a string", json!({"x": 1})),
    ];
    for (case, name) in names {
        let env = Env::new();
        let o = run(
            &env,
            case,
            &bash(&event(name, json!({"url": "u", "cache_path": "c"}))),
            &[],
        );
        assert_eq!(
            (o.records.len(), o.dead.len()),
            (0, 1),
            "{case}: {}",
            o.stderr
        );
        for f in env.files(&env.events()) {
            let s = f.to_string_lossy();
            assert!(s.len() < 300 && !s.contains(".."), "{case}: {s}");
        }
    }
}

#[test]
fn broken_schema_files() {
    for (case, text) in [
        ("a schema file that is not JSON", "{ not json"),
        ("a schema that does not compile", r#"{"type": 12}"#),
    ] {
        let env = Env::new();
        std::fs::write(
            env.project()
                .join("schemas/urlCacher.cacheRequested.schema.json"),
            text,
        )
        .unwrap();
        let o = run(&env, case, &bash(VALID), &[]);
        assert_eq!(
            (o.records.len(), o.dead.len()),
            (0, 1),
            "{case}: {}",
            o.stderr
        );
        assert!(
            o.stderr.contains("urlCacher.cacheRequested"),
            "{case}: {}",
            o.stderr
        );
    }
}

/// A case's name, transcript path and extra environment.
type TranscriptCase<'a> = (&'a str, PathBuf, Vec<(&'a str, String)>);

/// SubagentStop with a hostile `agent_transcript_path`: the transcript is
/// refused or read within its caps, and the final message's event is kept.
#[test]
fn hostile_transcript_paths() {
    let env = Env::new();
    let projects = env.home().join(".claude/projects");
    let fifo = projects.join("fifo.jsonl");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let sparse = projects.join("sparse.jsonl");
    let f = std::fs::File::create(&sparse).unwrap();
    f.set_len(2 << 30).unwrap();
    let link = projects.join("link.jsonl");
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    let dir = projects.join("dir.jsonl");
    std::fs::create_dir(&dir).unwrap();
    let cases: Vec<TranscriptCase> = vec![
        ("transcript /dev/zero", "/dev/zero".into(), vec![]),
        (
            "transcript /dev/zero inside the roots",
            "/dev/zero".into(),
            vec![(
                "EVENT_PUBLISHER_TRANSCRIPT_ROOTS",
                format!("/dev:{}", projects.display()),
            )],
        ),
        ("transcript a FIFO", fifo, vec![]),
        ("transcript a directory", dir, vec![]),
        ("transcript a 2 GB sparse file", sparse, vec![]),
        (
            "transcript outside the projects",
            "/etc/passwd".into(),
            vec![],
        ),
        ("transcript a symlink out of the projects", link, vec![]),
    ];
    for (i, (case, path, vars)) in cases.into_iter().enumerate() {
        let payload = serde_json::to_vec(&json!({
            "session_id": format!("s-{i}"), "hook_event_name": "SubagentStop",
            "agent_id": "a1", "agent_type": "url-cacher",
            "agent_transcript_path": path, "last_assistant_message": VALID
        }))
        .unwrap();
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let run_env = Env::new();
        std::fs::remove_dir_all(run_env.home()).unwrap();
        std::os::unix::fs::symlink(env.home(), run_env.home()).unwrap();
        let o = run(&run_env, case, &payload, &vars);
        assert_eq!(
            (o.records.len(), o.dead.len()),
            (1, 0),
            "{case}: {}",
            o.stderr
        );
        assert_eq!(o.stderr.lines().count(), 1, "{case}: {}", o.stderr);
        assert!(o.stderr.contains("transcript"), "{case}: {}", o.stderr);
    }
    let _ = REPO;
}

/// Runs `publish` on `payload` with `prepare` applied to its descriptors
/// between fork and exec; returns (exit status, signal, stderr).
fn publish_with_descriptors(
    env: &Env,
    payload: &[u8],
    prepare: fn() -> std::io::Result<()>,
) -> (Option<i32>, Option<i32>, String) {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let mut cmd = env.test().args(&["publish"]).command();
    cmd.stdin(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: `prepare` makes only async-signal-safe calls.
    unsafe { cmd.pre_exec(prepare) };
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(payload).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        out.status.signal(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A hook started with stdout and stderr closed finds them open on
/// /dev/null: otherwise the next file it opened would take descriptor 1, and
/// output meant for the agent could land in a record. Seen in /proc while
/// the hook waits for its payload, before it opens anything of its own.
#[cfg(target_os = "linux")]
#[test]
fn closed_standard_descriptors_are_opened_on_dev_null() {
    use std::os::unix::process::CommandExt;
    let env = Env::new();
    let mut cmd = env.test().args(&["publish"]).command();
    // A preloaded library (libfaketime in the faked-clock run) opens files
    // of its own before the binary starts and would take descriptor 1.
    cmd.env_remove("LD_PRELOAD").stdin(Stdio::piped());
    // SAFETY: close(2) is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(1);
            libc::close(2);
            Ok(())
        })
    };
    let mut child = cmd.spawn().unwrap();
    let fd = |n: u32| std::fs::read_link(format!("/proc/{}/fd/{n}", child.id()));
    // Nothing but the start-up can open descriptor 1 before the payload
    // ends. A dynamic loader briefly holds it while it maps a library (the
    // faked-clock pass runs a dynamic build), so wait for /dev/null there.
    let dev_null = Path::new("/dev/null");
    let start = Instant::now();
    while fd(1).map_or(true, |p| p != dev_null) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (out, err) = (fd(1), fd(2));
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    assert_eq!(out.unwrap(), Path::new("/dev/null"));
    assert_eq!(err.unwrap(), Path::new("/dev/null"));
}

/// Feedback written to a pipe nobody reads any more fails with EPIPE; the
/// hook still exits 0 rather than dying of SIGPIPE.
#[test]
fn a_closed_stdout_pipe_does_not_kill_the_hook() {
    let env = Env::new();
    let payload = bash(&event(json!("urlCacher.cacheRequested"), json!({"url": 1})));
    let (code, signal, stderr) = publish_with_descriptors(&env, &payload, || {
        let mut fds = [0; 2];
        // SAFETY: pipe, dup2 and close are async-signal-safe; the fds are ours.
        unsafe {
            if libc::pipe(fds.as_mut_ptr()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::dup2(fds[1], 1);
            libc::close(fds[1]);
            libc::close(fds[0]);
        }
        Ok(())
    });
    assert_eq!((code, signal), (Some(0), None), "{stderr}");
    assert_eq!(env.dead_letters().len(), 1);
}
