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

use serde_json::Value;

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
            .current_dir(
                self.current_dir
                    .clone()
                    .unwrap_or_else(|| self.env.project()),
            );
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
