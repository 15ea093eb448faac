//! The test harness: a sandbox (`Env`) holding a project and a home
//! directory, and a fluent builder (`Test`) that runs the binary in it, so a
//! CLI test reads like a sentence:
//!
//! ```ignore
//! Test::new().fixture("claude-code-2.1.328/foreground-stop.json").args(&["publish"]).status(0).run();
//! ```

// Not every test module uses every part of the harness.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use event_publisher::follow::{Follower, Position};
use event_publisher::journal;
use serde_json::{Value, json};

/// The binary under test: `$EVENT_PUBLISHER_TEST_BIN` when set (the
/// release build users get, e.g. `.ci/test`), else the one cargo built for
/// this test run. Usable wherever a path or an argument is.
pub const BIN: Bin = Bin;

#[derive(Clone, Copy)]
pub struct Bin;

impl Bin {
    pub fn path(self) -> &'static Path {
        static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
        PATH.get_or_init(|| match std::env::var_os("EVENT_PUBLISHER_TEST_BIN") {
            Some(p) => std::fs::canonicalize(&p).unwrap_or_else(|e| {
                panic!("EVENT_PUBLISHER_TEST_BIN={}: {e}", Path::new(&p).display())
            }),
            None => PathBuf::from(env!("CARGO_BIN_EXE_event-publisher")),
        })
    }
}

impl AsRef<Path> for Bin {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

impl AsRef<std::ffi::OsStr> for Bin {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.path().as_os_str()
    }
}

/// Variables passed from the test run to the binary despite `env_clear`.
const CLOCK_AND_LOCALE: [&str; 4] = ["TZ", "LC_ALL", "LANG", "LD_PRELOAD"];
pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// A temporary world: `<root>/home` (with the fixture transcripts under
/// `.claude/projects`), `<root>/project` (with this repository's schemas),
/// and nothing of the caller's environment.
#[derive(Clone)]
pub struct Env {
    root: Rc<tempfile::TempDir>,
}

impl Env {
    pub fn new() -> Env {
        let root = tempfile::tempdir().expect("temp dir");
        let env = Env {
            root: Rc::new(root),
        };
        std::fs::create_dir_all(env.project()).unwrap();
        std::fs::create_dir_all(env.home().join(".claude/projects")).unwrap();
        copy_dir(
            &Path::new(REPO).join("schemas"),
            &env.project().join("schemas"),
        );
        copy_dir(
            &Path::new(REPO).join("fixtures/claude-code-2.1.328/transcripts"),
            &env.home().join(".claude/projects"),
        );
        env
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    pub fn project(&self) -> PathBuf {
        self.root().join("project")
    }

    pub fn events(&self) -> PathBuf {
        self.project().join(".events")
    }

    pub fn test(&self) -> Test {
        Test {
            env: self.clone(),
            args: Vec::new(),
            stdin: Vec::new(),
            vars: Vec::new(),
            current_dir: None,
            status: Some(0),
            stdout: None,
            stdout_has: Vec::new(),
            stderr: None,
            stderr_has: Vec::new(),
        }
    }

    /// A fixture payload with its paths moved into this sandbox:
    /// `/home/dev/.claude` → `<home>/.claude`, `/home/dev/project` → `<project>`.
    pub fn payload(&self, fixture: &str) -> Vec<u8> {
        let text = std::fs::read_to_string(Path::new(REPO).join("fixtures").join(fixture))
            .unwrap_or_else(|e| panic!("fixture {fixture}: {e}"));
        text.replace(
            "/home/dev/.claude",
            &self.home().join(".claude").display().to_string(),
        )
        .replace("/home/dev/project", &self.project().display().to_string())
        .into_bytes()
    }

    /// Every valid record under `.events/` (day folders only), sorted by file name.
    pub fn records(&self) -> Vec<Value> {
        read_records(&self.events(), false)
    }

    /// Every dead letter under `.events/invalid/`.
    pub fn dead_letters(&self) -> Vec<Value> {
        read_records(&self.events().join("invalid"), false)
    }

    /// Paths of every file below `dir` (relative), sorted.
    pub fn files(&self, dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        out.sort();
        out
    }

    /// Paths (relative) of every file under `.events/` that holds a record:
    /// day folders, `invalid/`, the id index and temp files, not the
    /// arrival journal, whose every entry is checked whole here.
    pub fn record_files(&self) -> Vec<PathBuf> {
        let events = self.events();
        let journal = events.join(".journal/arrivals");
        if let Ok(text) = std::fs::read(&journal) {
            assert!(
                text.is_empty() || text.ends_with(b"\n"),
                "the journal ends with a torn entry"
            );
            for (i, line) in text.split(|b| *b == b'\n').enumerate() {
                let ok = match i {
                    0 => line.starts_with(b"event-publisher arrivals "),
                    _ => line.is_empty() || journal::Entry::parse(line).is_some(),
                };
                assert!(ok, "journal line {i}: {}", String::from_utf8_lossy(line));
            }
        }
        self.files(&events)
            .into_iter()
            .filter(|p| !p.starts_with(".journal"))
            .collect()
    }

    /// Every record the store gives from the start of its arrival journal,
    /// as (id, position after it), in storing order.
    pub fn arrivals(&self) -> Vec<(String, String)> {
        follow_from(&self.events(), Position::START)
    }
}

/// What a follower of `events` gives from `from` until it is caught up.
pub fn follow_from(events: &Path, from: Position) -> Vec<(String, String)> {
    let mut f = Follower::new(events, from);
    let mut problems = event_publisher::Problems::quiet();
    let mut out = Vec::new();
    loop {
        for a in f.poll(&mut |_, _| true, &mut problems) {
            out.push((a.record.id.to_string(), a.position.to_string()));
        }
        if f.caught_up() {
            return out;
        }
    }
}

fn read_records(dir: &Path, _: bool) -> Vec<Value> {
    let mut files = Vec::new();
    let Ok(days) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    for day in days.flatten() {
        let name = day.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name == "invalid" || !day.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(day.path()).unwrap().flatten() {
            files.push(f.path());
        }
    }
    files.sort();
    files
        .iter()
        .map(|f| {
            serde_json::from_slice(&std::fs::read(f).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()))
        })
        .collect()
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(base, &p, out);
        } else {
            out.push(p.strip_prefix(base).unwrap().to_path_buf());
        }
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
            let mut perm = std::fs::metadata(&target).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&target, perm).unwrap();
        }
    }
}

/// Whether an external tool a test needs is here. When it is not, the test
/// says what is missing and is skipped (false) on a developer's machine,
/// and fails in CI (`CI=true`), where every test must run.
pub fn available(what: &str, found: bool, install: &str) -> bool {
    if found {
        return true;
    }
    let missing = format!("{what} is not installed ({install})");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{missing}; CI runs every test");
    }
    eprintln!("skipped: {missing}");
    false
}

/// Whether `command` is an executable file on `PATH` (or a path to one).
pub fn on_path(command: &str) -> bool {
    if command.contains('/') {
        return Path::new(command).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(command).is_file()))
}

/// A Bash PostToolUse payload as Claude Code sends it: `stdout` is what the
/// command printed.
pub fn bash_value(session: &str, tool_use_id: &str, stdout: &str) -> Value {
    json!({
        "session_id": session, "hook_event_name": "PostToolUse", "tool_name": "Bash",
        "tool_use_id": tool_use_id, "tool_input": {"command": "echo"},
        "tool_response": {"stdout": stdout, "stderr": ""}
    })
}

/// `bash_value`, as the bytes on the hook's stdin.
pub fn bash(session: &str, tool_use_id: &str, stdout: &str) -> Vec<u8> {
    serde_json::to_vec(&bash_value(session, tool_use_id, stdout)).unwrap()
}

// Stored events: sandboxes with records in them, and reading them back.

pub const FG: &str = "claude-code-2.1.328/foreground-";
pub const BG: &str = "claude-code-2.1.328/background-";
pub const FG_SESSION: &str = "e0d02c63-fe6e-4116-bbe1-d984038ca784";
pub const BG_SESSION: &str = "ae619f5d-d6ea-4ede-91de-4840d311b5ad";
pub const FG_AGENT: &str = "a038d4b520bfd4de3";

/// Every captured payload of a session, in the order Claude Code sent them.
pub fn session_fixtures(foreground: bool) -> Vec<String> {
    let (prefix, names): (&str, &[&str]) = if foreground {
        (
            FG,
            &[
                "post-tool-use-bash-in-subagent",
                "post-tool-use-agent",
                "subagent-stop",
                "stop",
            ],
        )
    } else {
        (
            BG,
            &[
                "post-tool-use-agent",
                "post-tool-use-bash-in-subagent",
                "stop",
                "subagent-stop",
                "stop-2",
            ],
        )
    };
    names.iter().map(|n| format!("{prefix}{n}.json")).collect()
}

/// A sandbox where the hook stored both captured sessions (6 events).
pub fn published() -> Env {
    let env = Env::new();
    for f in session_fixtures(true)
        .into_iter()
        .chain(session_fixtures(false))
    {
        env.test().args(&["publish"]).fixture(&f).stdout("").run();
    }
    assert_eq!(env.records().len(), 6);
    env
}

/// Publishes `events` as printed by one Bash call of `session` (by the
/// subagent `agent` = (id, type) when given), through the real hook.
pub fn emit(
    env: &Env,
    session: &str,
    agent: Option<(&str, &str)>,
    tool_use_id: &str,
    events: &[Value],
) {
    let stdout: Vec<String> = events
        .iter()
        .map(|e| format!("<EVENT>{e}</EVENT>"))
        .collect();
    let mut payload = bash_value(session, tool_use_id, &stdout.join("\n"));
    payload["cwd"] = json!(env.project());
    if let Some((id, kind)) = agent {
        payload["agent_id"] = json!(id);
        payload["agent_type"] = json!(kind);
    }
    env.test()
        .args(&["publish", "--no-feedback"])
        .stdin(serde_json::to_vec(&payload).unwrap())
        .run();
}

pub fn event(name: &str, timestamp: &str, attributes: Value) -> Value {
    json!({"name": name, "timestamp": timestamp, "attributes": attributes})
}

/// The ids in a JSON Lines output, in order.
pub fn ids(out: &Output) -> Vec<String> {
    jsonl(out)
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

pub fn jsonl(out: &Output) -> Vec<Value> {
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

pub fn names(out: &Output) -> Vec<String> {
    jsonl(out)
        .iter()
        .map(|r| r["name"].as_str().unwrap_or("(none)").to_string())
        .collect()
}

/// The path of a stored record's dated file.
pub fn record_path(env: &Env, id: &str) -> PathBuf {
    env.files(&env.events())
        .into_iter()
        .find(|p| !p.starts_with(".ids") && p.to_string_lossy().contains(id))
        .map(|p| env.events().join(p))
        .unwrap_or_else(|| panic!("no record {id}"))
}

/// A day folder the store actually filed a record in, as (`YYYY-MM-DD`,
/// the file-name prefix `YYYYMMDD`): records without a timestamp of their
/// own land under the day they were seen, so tests that plant files next to
/// real records ask for it instead of naming a date.
pub fn record_day(env: &Env) -> (String, String) {
    let id = env.records()[0]["id"].as_str().unwrap().to_string();
    let dir = record_path(env, &id).parent().unwrap().to_path_buf();
    let day = dir.file_name().unwrap().to_str().unwrap().to_string();
    let compact = day.replace('-', "");
    (day, compact)
}

/// One run of the binary, described fluently, checked by `run`.
#[must_use]
pub struct Test {
    env: Env,
    args: Vec<String>,
    stdin: Vec<u8>,
    vars: Vec<(String, String)>,
    current_dir: Option<PathBuf>,
    status: Option<i32>,
    stdout: Option<String>,
    stdout_has: Vec<String>,
    stderr: Option<String>,
    stderr_has: Vec<String>,
}

impl Test {
    pub fn new() -> Test {
        Env::new().test()
    }

    pub fn env_(&self) -> &Env {
        &self.env
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.args.push(arg.as_ref().to_string_lossy().to_string());
        self
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = bytes.into();
        self
    }

    /// Stdin is this fixture payload, its paths moved into the sandbox.
    pub fn fixture(self, name: &str) -> Self {
        let bytes = self.env.payload(name);
        self.stdin(bytes)
    }

    pub fn var(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.vars.push((
            key.to_string(),
            value.as_ref().to_string_lossy().to_string(),
        ));
        self
    }

    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }

    /// The expected exit status (0 unless said otherwise); `None` to not check.
    pub fn status(mut self, code: impl Into<Option<i32>>) -> Self {
        self.status = code.into();
        self
    }

    pub fn stdout(mut self, exact: &str) -> Self {
        self.stdout = Some(exact.to_string());
        self
    }

    pub fn stdout_has(mut self, part: &str) -> Self {
        self.stdout_has.push(part.to_string());
        self
    }

    pub fn stderr(mut self, exact: &str) -> Self {
        self.stderr = Some(exact.to_string());
        self
    }

    pub fn stderr_has(mut self, part: &str) -> Self {
        self.stderr_has.push(part.to_string());
        self
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(&self.args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.env.home())
            .env("XDG_CONFIG_HOME", self.env.root().join("config"))
            .env("CLAUDE_PROJECT_DIR", self.env.project())
            // Lifecycle records (on by default) would join every count of
            // marker events; the tests of `lifecycle.rs` turn them on (an
            // empty value is unset: the default).
            .env("EVENT_PUBLISHER_LIFECYCLE", "false")
            .current_dir(
                self.current_dir
                    .clone()
                    .unwrap_or_else(|| self.env.project()),
            );
        // The clock, zone and locale of the test run reach the binary, so a
        // run under a faked clock (`.ci/test`'s libfaketime pass) or another
        // `TZ` tests the binary under them too.
        for (k, v) in std::env::vars_os() {
            let k_str = k.to_string_lossy();
            if CLOCK_AND_LOCALE.contains(&k_str.as_ref()) || k_str.starts_with("FAKETIME") {
                cmd.env(&k, v);
            }
        }
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs the binary (stdin piped, 60 s at most) and checks every expectation.
    pub fn run(self) -> Output {
        let mut cmd = self.command();
        let start = Instant::now();
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn event-publisher");
        let mut stdin = child.stdin.take().unwrap();
        let input = self.stdin.clone();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let output = wait_with_timeout(child, Duration::from_secs(60));
        let elapsed = start.elapsed();
        let _ = writer.join();
        let out = Output {
            env: self.env.clone(),
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).to_string(),
            elapsed,
        };
        let ctx = || {
            format!(
                "\nargs: {:?}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
                self.args, out.status, out.stdout, out.stderr
            )
        };
        if let Some(s) = self.status {
            assert_eq!(out.status, s, "unexpected exit status{}", ctx());
        }
        if let Some(s) = &self.stdout {
            assert_eq!(&out.stdout, s, "unexpected stdout{}", ctx());
        }
        for part in &self.stdout_has {
            assert!(out.stdout.contains(part), "stdout lacks {part:?}{}", ctx());
        }
        if let Some(s) = &self.stderr {
            assert_eq!(&out.stderr, s, "unexpected stderr{}", ctx());
        }
        for part in &self.stderr_has {
            assert!(out.stderr.contains(part), "stderr lacks {part:?}{}", ctx());
        }
        out
    }
}

/// Waits for the child while draining its output on threads (a full pipe
/// must not stall it); kills it and fails past `limit`.
fn wait_with_timeout(mut child: std::process::Child, limit: Duration) -> std::process::Output {
    use std::io::Read;
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out_pipe.read_to_end(&mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err_pipe.read_to_end(&mut b);
        b
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("event-publisher ran longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// What a run did.
pub struct Output {
    pub env: Env,
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// Another run in the same sandbox.
    pub fn then(&self) -> Test {
        self.env.test()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}
