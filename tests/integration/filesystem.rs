//! The file system as an adversary: symlinks planted as `.events`, a day
//! folder or `invalid/`, a file planted where a record goes, a read-only or
//! full `.events` (a bind or tmpfs mount in a private mount namespace), and
//! the permissions records get.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::test::{BIN, Env};

const TS: &str = "2025-08-12T16:30:00Z";

fn bash(stdout: &str) -> Vec<u8> {
    crate::test::bash("s-fs", "toolu_fs", stdout)
}

fn valid(i: usize) -> String {
    format!(
        "<EVENT>{}</EVENT>",
        json!({"name": "urlCacher.cacheRequested", "timestamp": TS,
               "attributes": {"url": format!("https://example.com/{i}"), "cache_path": "/c"}})
    )
}

fn invalid() -> String {
    format!(
        "<EVENT>{}</EVENT>",
        json!({"name": "urlCacher.cacheRequested", "timestamp": TS, "attributes": {}})
    )
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        out.push(e.file_name().to_string_lossy().to_string());
    }
    out
}

/// Every record file under `.events` parses as JSON (nothing partial).
fn all_whole(events: &Path) {
    let env_files = walk(events);
    for f in env_files
        .iter()
        .filter(|f| !f.starts_with(events.join(".journal")))
    {
        let bytes = std::fs::read(f).unwrap();
        serde_json::from_slice::<Value>(&bytes)
            .unwrap_or_else(|e| panic!("{} is not whole: {e}", f.display()));
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let t = e.file_type().unwrap();
        if t.is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn a_symlinked_events_dir_is_refused() {
    let env = Env::new();
    let elsewhere = env.root().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    symlink(&elsewhere, env.events()).unwrap();
    let out = env
        .test()
        .args(&["publish"])
        .stdin(bash(&valid(0)))
        .stderr_has("refusing to write through it")
        .run();
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(files_under(&elsewhere).is_empty());
}

#[test]
fn a_symlinked_day_folder_or_invalid_dir_is_refused_and_replay_repairs() {
    for (dir, text) in [("2025-08-12", valid(0)), ("invalid", invalid())] {
        let env = Env::new();
        let elsewhere = env.root().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::create_dir(env.events()).unwrap();
        symlink(&elsewhere, env.events().join(dir)).unwrap();
        let out = env
            .test()
            .args(&["publish", "--no-feedback"])
            .stdin(bash(&text))
            .stderr_has("refusing to write through it")
            .run();
        assert_eq!(out.stderr.lines().count(), 1, "{dir}: {}", out.stderr);
        assert!(walk(&elsewhere).is_empty(), "{dir}: written through");
        // Once the symlink is gone, a replay stores the record.
        std::fs::remove_file(env.events().join(dir)).unwrap();
        env.test()
            .args(&["publish", "--no-feedback"])
            .stdin(bash(&text))
            .stderr("")
            .run();
        assert_eq!(env.records().len() + env.dead_letters().len(), 1, "{dir}");
    }
}

#[test]
fn a_file_planted_at_the_records_path_is_never_overwritten_or_followed() {
    // The record's name is deterministic: learn it from a clean run.
    let probe = Env::new();
    probe.test().args(&["publish"]).stdin(bash(&valid(0))).run();
    let name = &probe.files(&probe.events().join("2025-08-12"))[0];

    let env = Env::new();
    let day = env.events().join("2025-08-12");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::write(day.join(name), "planted").unwrap();
    env.test()
        .args(&["publish"])
        .stdin(bash(&valid(0)))
        .stderr_has("exists and is not this record; left as it is")
        .run();
    assert_eq!(std::fs::read_to_string(day.join(name)).unwrap(), "planted");

    // A symlink planted there is not followed either.
    let env = Env::new();
    let target = env.root().join("target.json");
    std::fs::write(&target, "outside").unwrap();
    let day = env.events().join("2025-08-12");
    std::fs::create_dir_all(&day).unwrap();
    symlink(&target, day.join(name)).unwrap();
    env.test()
        .args(&["publish"])
        .stdin(bash(&valid(0)))
        .stderr_has("left as it is")
        .run();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "outside");
    assert!(
        std::fs::symlink_metadata(day.join(name))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn records_never_get_wider_permissions_than_the_project_dir() {
    let env = Env::new();
    std::fs::set_permissions(env.project(), std::fs::Permissions::from_mode(0o700)).unwrap();
    env.test()
        .args(&["publish", "--no-feedback"])
        .stdin(bash(&format!("{}{}", valid(0), invalid())))
        .run();
    let mut seen = 0;
    let mut check = |p: &Path| {
        let mode = std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} has mode {mode:o}", p.display());
        seen += 1;
    };
    fn visit(dir: &Path, check: &mut dyn FnMut(&Path)) {
        check(dir);
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                visit(&e.path(), check);
            } else {
                check(&e.path());
            }
        }
    }
    visit(&env.events(), &mut check);
    assert!(seen >= 8, "only {seen} paths checked");
}

/// Runs `publish` in a private mount namespace after `setup` (a shell
/// snippet; `$EV` is the events directory), then copies what `.events`
/// holds to `$OUT` before the mount goes away. Root (as CI runs) needs only
/// `unshare --mount`; others map themselves to root in a user namespace.
/// `None` (the test skipped) when `unshare` is not installed.
fn publish_in_namespace(env: &Env, setup: &str, stdin: &[u8]) -> Option<(i32, String, Duration)> {
    if !crate::test::available("unshare", crate::test::on_path("unshare"), "util-linux") {
        return None;
    }
    let out_dir = env.root().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let inner = env.test().args(&["publish", "--no-feedback"]).command();
    let mut cmd = Command::new("unshare");
    if !rustix::process::geteuid().is_root() {
        cmd.args(["--user", "--map-root-user"]);
    }
    let script = format!(
        "set -e; {setup}; set +e; \"$BIN\" publish --no-feedback; s=$?; cp -a \"$EV\"/. \"$OUT\"/; exit $s"
    );
    cmd.args(["--mount", "sh", "-c", &script])
        .env_clear()
        .current_dir(inner.get_current_dir().unwrap());
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env("BIN", BIN)
        .env("EV", env.events())
        .env("OUT", &out_dir);
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux)");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let took = start.elapsed();
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
        took,
    ))
}

#[test]
fn a_read_only_events_dir_is_reported_not_fatal() {
    let env = Env::new();
    std::fs::create_dir(env.events()).unwrap();
    let Some((status, err, took)) = publish_in_namespace(
        &env,
        "mount --bind \"$EV\" \"$EV\"; mount -o remount,ro,bind \"$EV\"",
        &bash(&valid(0)),
    ) else {
        return;
    };
    assert_eq!(status, 0, "{err}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("event-publisher: ") && err.contains("Read-only file system"),
        "{err}"
    );
    assert!(walk(&env.root().join("out")).is_empty());
}

#[test]
fn a_full_disk_is_reported_with_the_count_of_events_not_stored() {
    let env = Env::new();
    std::fs::create_dir(env.events()).unwrap();
    let n = 300;
    let text: String = (0..n).map(valid).collect();
    let Some((status, err, took)) = publish_in_namespace(
        &env,
        "mount -t tmpfs -o size=64k tmpfs \"$EV\"",
        &bash(&text),
    ) else {
        return;
    };
    assert_eq!(status, 0, "{err}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(err.lines().count() <= 4, "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    let out = env.root().join("out");
    all_whole(&out);
    // The journal may end with an entry torn by the full disk; the follower
    // still gives each record once.
    let given = crate::test::follow_from(&out, event_publisher::follow::Position::START);
    let mut ids: Vec<_> = given.iter().map(|(id, _)| id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), given.len(), "a record given twice");
    let stored = walk(&out.join("2025-08-12")).len();
    assert!(stored < n, "the 64 KB disk held all {n} records");
    let not_stored: usize = err
        .split("; ")
        .find_map(|p| p.strip_suffix(" event(s) not stored in all\n"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of events not stored in: {err}"));
    assert_eq!(stored + not_stored, n, "{err}");
}

/// Plants, in the day folder of a stored record, a symlink named like a
/// record pointing at a record-shaped file outside `.events` (holding
/// `SECRET`), and a FIFO named like another record; returns their ids.
fn plant_symlink_and_fifo(env: &Env) -> (String, String) {
    let (day, compact) = crate::test::record_day(env);
    let mut outside = env.records()[0].clone();
    let link_id = "11111111-2222-5333-8444-555555555551";
    let fifo_id = "11111111-2222-5333-8444-555555555552";
    outside["id"] = json!(link_id);
    outside["attributes"] = json!({"url": "https://SECRET/"});
    let target = env.root().join("outside.json");
    std::fs::write(&target, serde_json::to_vec(&outside).unwrap()).unwrap();
    let dir = env.events().join(&day);
    symlink(
        &target,
        dir.join(format!(
            "{compact}T235959.998Z-urlCacher.urlValidated-{link_id}.json"
        )),
    )
    .unwrap();
    let fifo = dir.join(format!(
        "{compact}T235959.999Z-urlCacher.urlValidated-{fifo_id}.json"
    ));
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
    )
    .unwrap();
    (link_id.to_string(), fifo_id.to_string())
}

#[test]
fn every_reader_refuses_a_symlink_or_fifo_planted_as_a_record() {
    let env = crate::test::published();
    let (link_id, fifo_id) = plant_symlink_and_fifo(&env);
    for args in [
        &["ls", "--jsonl"][..],
        &["tail", "--jsonl"],
        &["stats", "--json"],
        &["trace"],
        &[
            "gc",
            "--older-than",
            "1s",
            "--dry-run",
            "--where",
            "url=https://SECRET/",
        ],
    ] {
        let out = env
            .test()
            .args(args)
            .stderr_has("a symlink, not a record")
            .stderr_has("a FIFO, not a record")
            .run();
        assert!(!out.stdout.contains("SECRET"), "{args:?}: {}", out.stdout);
        assert!(out.elapsed < Duration::from_secs(10), "{args:?} waited");
    }
    // `show` finds both by their file names (no index entry) and refuses them
    // the same way; so it does when the index entry itself is planted.
    for (id, why) in [
        (&link_id, "a symlink, not a record"),
        (&fifo_id, "a FIFO, not a record"),
    ] {
        let out = env
            .test()
            .args(&["show", id])
            .status(1)
            .stderr_has(why)
            .run();
        assert!(!out.stdout.contains("SECRET"), "{}", out.stdout);
    }
    let bucket = env.events().join(".ids").join(&link_id[..2]);
    std::fs::create_dir_all(&bucket).unwrap();
    symlink(
        env.root().join("outside.json"),
        bucket.join(format!("{link_id}.json")),
    )
    .unwrap();
    let out = env
        .test()
        .args(&["show", &link_id, "--json"])
        .status(1)
        .stderr_has("a symlink, not a record")
        .run();
    assert!(!out.stdout.contains("SECRET"), "{}", out.stdout);
}

/// Files outside `.events` that `gc` must never delete or list: a stale
/// temp-like file, and record-named files dated long ago.
fn victim(env: &Env) -> std::path::PathBuf {
    let dir = env.root().join("victim");
    std::fs::create_dir_all(&dir).unwrap();
    let record = env.records()[0].clone();
    for (i, name) in [
        "notes.txt".to_string(),
        ".1-2-3.tmp".to_string(),
        format!(
            "20000101T000000.000Z-urlCacher.urlValidated-{}.json",
            record["id"].as_str().unwrap()
        ),
        "11111111-2222-5333-8444-555555555553.json".to_string(),
    ]
    .iter()
    .enumerate()
    {
        let p = dir.join(name);
        std::fs::write(&p, serde_json::to_vec(&record).unwrap()).unwrap();
        let old = std::time::SystemTime::now() - Duration::from_secs(7200 + i as u64);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    dir
}

#[test]
fn gc_never_reaches_through_a_symlinked_state_or_day_folder() {
    use crate::test::{emit, event};
    let old = (chrono::Utc::now() - chrono::Duration::days(40))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let day = &old[..10];
    let env = Env::new();
    let v = |url: &str| event("urlCacher.urlValidated", &old, json!({"url": url}));
    emit(&env, "s-gc", None, "toolu_1", &[v("https://a/")]);
    emit(
        &env,
        "s-gc",
        None,
        "toolu_2",
        &[event(
            "urlCacher.cacheFailed",
            &old,
            json!({"url": "https://dead/"}),
        )],
    );
    let id = env.records()[0]["id"].as_str().unwrap().to_string();
    let victim = victim(&env);
    let before = walk(&victim);
    let stamp = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let stamps: Vec<_> = before.iter().map(|p| stamp(p)).collect();
    let bucket = format!(".ids/{}", &id[..2]);
    let invalid_day = format!("invalid/{day}");
    for folder in [
        ".tmp",
        ".ids",
        bucket.as_str(),
        "invalid",
        invalid_day.as_str(),
        day,
        ".spool",
        ".journal",
        ".cursors",
        ".dispatch",
    ] {
        // A fresh copy of the store with `folder` replaced by a symlink.
        let copy = env.root().join("copy");
        let _ = std::fs::remove_dir_all(&copy);
        crate::test::copy_dir(&env.events(), &copy);
        let at = copy.join(folder);
        if at.exists() {
            std::fs::remove_dir_all(&at).unwrap();
        }
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        let gc = |extra: &[&str]| {
            env.test()
                .arg("--events-dir")
                .arg(&copy)
                .args(&["gc", "--older-than", "30d", "--json"])
                .args(extra)
                .status(None)
                .run()
        };
        let absent = gc(&["--dry-run"]).json();
        symlink(&victim, &at).unwrap();
        let linked = gc(&["--dry-run"]);
        assert_eq!(
            linked.json(),
            absent,
            "{folder}: --dry-run listed through the symlink"
        );
        gc(&[]);
        assert_eq!(
            walk(&victim),
            before,
            "{folder}: gc deleted outside .events"
        );
        let now: Vec<_> = before.iter().map(|p| stamp(p)).collect();
        assert_eq!(now, stamps, "{folder}");
        assert!(
            std::fs::symlink_metadata(&at).unwrap().is_symlink(),
            "{folder}"
        );
    }
}
