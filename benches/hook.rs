//! Hook latency: one `event-publisher publish` process on a captured
//! payload, against `cat` of the same payload (the floor for a process that
//! reads stdin) and, when `python3` has `jsonschema`, a plain Python
//! implementation of the same hook (`benches/python_hook.py`).
//!
//! Run: `cargo bench --bench hook`. The ratios printed at the end compare
//! medians measured in the same run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

struct Setup {
    _dir: tempfile::TempDir,
    project: PathBuf,
    payloads: Vec<(&'static str, PathBuf)>,
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
    Setup {
        _dir: dir,
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

fn bin() -> PathBuf {
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

fn bench(c: &mut Criterion) {
    let s = setup();
    let bin = bin();
    let mut g = c.benchmark_group("hook");
    g.sample_size(200).measurement_time(Duration::from_secs(8));
    for (label, payload) in &s.payloads {
        g.bench_function(format!("cat/{label}"), |b| {
            b.iter(|| run(&mut Command::new("cat"), payload))
        });
        g.bench_function(format!("event-publisher/{label}"), |b| {
            b.iter(|| {
                // A fresh events dir each time would measure mkdir; the
                // steady state of a hook is a project that has one, where
                // a repeated payload finds its ids present. Both paths are
                // exercised: first iteration stores, the rest find them.
                run(
                    Command::new(&bin)
                        .arg("publish")
                        .env("CLAUDE_PROJECT_DIR", &s.project),
                    payload,
                )
            })
        });
    }
    g.finish();
}

/// Medians of a few hundred runs of each, interleaved, printed as ratios:
/// the figures the README quotes.
fn ratios() {
    let s = setup();
    let bin = bin();
    let py = python_available();
    let (label, payload) = &s.payloads[0];
    let n = 300;
    let mut cat = Vec::new();
    let mut ep = Vec::new();
    let mut pyt = Vec::new();
    for i in 0..n {
        let t = Instant::now();
        run(&mut Command::new("cat"), payload);
        cat.push(t.elapsed());
        let t = Instant::now();
        run(
            Command::new(&bin)
                .arg("publish")
                .env("CLAUDE_PROJECT_DIR", &s.project),
            payload,
        );
        ep.push(t.elapsed());
        if py && i < n / 5 {
            let events = s.project.join(format!(".py-events-{}", i % 2));
            let t = Instant::now();
            run(
                Command::new("python3")
                    .arg(Path::new(REPO).join("benches/python_hook.py"))
                    .env("SCHEMAS_DIR", s.project.join("schemas"))
                    .env("EVENTS_DIR", &events),
                payload,
            );
            pyt.push(t.elapsed());
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (c, e) = (median(&mut cat), median(&mut ep));
    println!("\nhook latency on {label}, medians of {n} interleaved runs:");
    println!(
        "  cat (floor)        {:>8.3} ms  1.00x",
        c.as_secs_f64() * 1e3
    );
    println!(
        "  event-publisher    {:>8.3} ms  {:.2}x the floor",
        e.as_secs_f64() * 1e3,
        e.as_secs_f64() / c.as_secs_f64()
    );
    if py {
        let p = median(&mut pyt);
        println!(
            "  python hook        {:>8.3} ms  {:.2}x the floor; event-publisher is {:.1}x faster",
            p.as_secs_f64() * 1e3,
            p.as_secs_f64() / c.as_secs_f64(),
            p.as_secs_f64() / e.as_secs_f64()
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
}
