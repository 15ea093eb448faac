//! Hook latency: one `event-publisher publish` process on a captured
//! payload, against `cat` of the same payload (the floor for a process that
//! reads stdin) and, when `python3` has `jsonschema`, a plain Python
//! implementation of the same hook (`benches/python_hook.py`).
//!
//! Two cases: "new events", the payload under a new session id each run, so
//! the hook stores its events into an existing `.events/` (the common
//! case); and "seen again", the same payload each run, so the hook finds its
//! events stored (a foreground report arrives twice). Payloads are written
//! outside the timed part.
//!
//! Run: `cargo bench --bench hook`. The ratios printed first compare
//! medians measured in the same run, interleaved.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

struct Setup {
    dir: tempfile::TempDir,
    project: PathBuf,
    /// The hook binary as `cargo install` leaves it: a copy of the build's.
    bin: PathBuf,
    payloads: Vec<(&'static str, PathBuf)>,
}

/// A copy of `payload` under a new session id, written to `to`: the hook
/// then stores new events.
fn new_session(payload: &Path, to: &Path, part: &str, n: usize) {
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(payload).unwrap()).unwrap();
    v["session_id"] = format!("bench-{}-{part}-{n}", std::process::id()).into();
    std::fs::write(to, serde_json::to_vec(&v).unwrap()).unwrap();
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("schemas")).unwrap();
    for e in std::fs::read_dir(Path::new(REPO).join("schemas"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(e.path(), project.join("schemas").join(e.file_name())).unwrap();
    }
    let mut payloads = Vec::new();
    for (label, fixture) in [
        (
            "agent report (2 markers)",
            "claude-code-2.1.328/foreground-post-tool-use-agent.json",
        ),
        (
            "bash, no marker",
            "claude-code-2.1.328/background-stop.json",
        ),
    ] {
        let text = std::fs::read_to_string(Path::new(REPO).join("fixtures").join(fixture)).unwrap();
        let text = text.replace("/home/dev/project", &project.display().to_string());
        let path = dir.path().join(fixture.replace('/', "_"));
        std::fs::write(&path, text).unwrap();
        payloads.push((label, path));
    }
    // The binary is timed as installed (`cargo install` copies it): the
    // linker's own output file is mapped in smaller page-cache pieces until
    // it is evicted and read again, which costs its start-up about 15 more
    // page faults. `ratios` times that file too.
    let bin = dir.path().join("event-publisher");
    std::fs::copy(built_bin(), &bin).unwrap();
    Setup {
        dir,
        bin,
        project,
        payloads,
    }
}

fn run(cmd: &mut Command, stdin: &Path) {
    // `cargo bench` points LD_LIBRARY_PATH at its own directories, which the
    // dynamic loader then searches for every shared library before the
    // system's: a cost Claude Code's hooks do not pay, and one a binary with
    // three libraries pays more than `cat` with one.
    let status = cmd
        .env_remove("LD_LIBRARY_PATH")
        .stdin(std::fs::File::open(stdin).unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

fn built_bin() -> PathBuf {
    // Benches build in the release-like `bench` profile; use that binary.
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("event-publisher")
}

fn python_available() -> bool {
    Command::new("python3")
        .args(["-c", "import jsonschema"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// One project for the whole run, deleted at the end: ext4 skips inodes freed
/// in the last half minute when it allocates new ones, so deleting a
/// project's records between the two parts would slow the second one.
fn shared() -> &'static Setup {
    static SETUP: std::sync::OnceLock<Setup> = std::sync::OnceLock::new();
    SETUP.get_or_init(setup)
}

fn bench(c: &mut Criterion) {
    let s = shared();
    let bin = &s.bin;
    let publish = || {
        let mut cmd = Command::new(bin);
        cmd.arg("publish").env("CLAUDE_PROJECT_DIR", &s.project);
        cmd
    };
    let mut g = c.benchmark_group("hook");
    g.sample_size(200).measurement_time(Duration::from_secs(8));
    let fresh = s.dir.path().join("new-session.json");
    let mut n = 0;
    for (label, payload) in &s.payloads {
        g.bench_function(format!("cat/{label}"), |b| {
            b.iter(|| run(&mut Command::new("cat"), payload))
        });
        g.bench_function(format!("event-publisher/{label}, new events"), |b| {
            b.iter_batched(
                || {
                    n += 1;
                    new_session(payload, &fresh, label, n)
                },
                |()| run(&mut publish(), &fresh),
                BatchSize::PerIteration,
            )
        });
        g.bench_function(format!("event-publisher/{label}, seen again"), |b| {
            b.iter(|| run(&mut publish(), payload))
        });
    }
    g.finish();
}

/// Medians of a few hundred runs of each, interleaved, printed as ratios:
/// the figures the README quotes.
fn ratios() {
    let s = shared();
    let (bin, built) = (&s.bin, built_bin());
    let py = python_available();
    let (label, payload) = &s.payloads[0];
    let fresh = s.dir.path().join("new-session.json");
    let n = 300;
    let (mut cat, mut new, mut again, mut linked, mut pyt) =
        (vec![], vec![], vec![], vec![], vec![]);
    let time = |cmd: &mut Command, stdin: &Path| {
        let t = Instant::now();
        run(cmd, stdin);
        t.elapsed()
    };
    for i in 0..n {
        let publish = || {
            let mut cmd = Command::new(bin);
            cmd.arg("publish").env("CLAUDE_PROJECT_DIR", &s.project);
            cmd
        };
        new_session(payload, &fresh, "ratios", i);
        cat.push(time(&mut Command::new("cat"), payload));
        new.push(time(&mut publish(), &fresh));
        again.push(time(&mut publish(), payload));
        linked.push(time(
            Command::new(&built)
                .arg("publish")
                .env("CLAUDE_PROJECT_DIR", &s.project),
            payload,
        ));
        if py && i < n / 5 {
            let events = s.project.join(format!(".py-events-{}", i % 2));
            pyt.push(time(
                Command::new("python3")
                    .arg(Path::new(REPO).join("benches/python_hook.py"))
                    .env("SCHEMAS_DIR", s.project.join("schemas"))
                    .env("EVENTS_DIR", &events),
                payload,
            ));
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e3
    };
    let c = median(&mut cat);
    println!("\nhook latency on {label}, medians of {n} interleaved runs:");
    println!("  cat (floor)                   {c:>8.3} ms  1.00x");
    for (what, v) in [
        ("new events", &mut new),
        ("seen again", &mut again),
        ("seen again, the linker's output file", &mut linked),
    ] {
        let e = median(v);
        println!(
            "  event-publisher, {what:<11} {e:>8.3} ms  {:.2}x the floor",
            e / c
        );
    }
    if py {
        let (p, e) = (median(&mut pyt), median(&mut new));
        println!(
            "  python hook                   {p:>8.3} ms  {:.2}x the floor; event-publisher (new events) is {:.1}x faster",
            p / c,
            p / e
        );
    } else {
        println!("  python hook        not measured: python3 with jsonschema is not installed");
    }
}

criterion_group!(benches, bench);

fn main() {
    // `cargo test --all-targets` runs benches once as a smoke test; the
    // ratio runs are for `cargo bench` only.
    if std::env::args().any(|a| a == "--bench") {
        ratios();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    let _ = std::fs::remove_dir_all(shared().dir.path());
}
