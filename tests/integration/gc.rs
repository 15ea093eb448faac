//! `gc`: deleting old records and dead letters (both hard links), empty
//! day folders and stale temp files; `--dry-run` deletes nothing.

use std::time::{Duration as StdDuration, SystemTime};

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::test::Env;
use crate::test::{emit, event, jsonl, published};

fn ago(d: Duration) -> String {
    (Utc::now() - d).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The day of the 40-day-old events of `aged`.
fn old_day(env: &Env) -> String {
    let r = env.dead_letters();
    r[0]["timestamp"].as_str().unwrap()[..10].to_string()
}

/// Valid events 40 days, 10 days and 1 hour old, and a dead letter 40 days old.
fn aged() -> Env {
    let env = Env::new();
    let v = |url: &str, ts: &str| event("urlCacher.urlValidated", ts, json!({"url": url}));
    let old = ago(Duration::days(40));
    emit(&env, "s-gc", None, "toolu_1", &[v("https://40d/", &old)]);
    emit(
        &env,
        "s-gc",
        None,
        "toolu_2",
        &[v("https://10d/", &ago(Duration::days(10)))],
    );
    emit(
        &env,
        "s-gc",
        None,
        "toolu_3",
        &[v("https://1h/", &ago(Duration::hours(1)))],
    );
    emit(
        &env,
        "s-gc",
        None,
        "toolu_4",
        &[event(
            "urlCacher.cacheFailed",
            &old,
            json!({"url": "https://dead/"}),
        )],
    );
    assert_eq!((env.records().len(), env.dead_letters().len()), (3, 1));
    env
}

fn urls(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["attributes"]["url"].as_str().unwrap().to_string())
        .collect()
}

fn index_entries(env: &Env) -> usize {
    env.files(&env.events().join(".ids")).len()
}

#[test]
fn dry_run_says_what_would_go_and_deletes_nothing() {
    let env = aged();
    let before = env.files(&env.events());
    let out = env
        .test()
        .args(&["gc", "--older-than", "30d", "--dry-run"])
        .run();
    assert!(
        out.stdout.starts_with(
            "would delete 1 record and 1 dead letter, 2 empty day folders, 0 stale temp files\n"
        ),
        "{}",
        out.stdout
    );
    let day = &old_day(&env);
    assert!(out.stdout.contains(&format!("  {day} ")), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("  invalid/{day} ")),
        "{}",
        out.stdout
    );
    assert_eq!(env.files(&env.events()), before);
}

#[test]
fn older_than_deletes_both_links_and_empty_day_folders() {
    let env = aged();
    let old = env
        .records()
        .into_iter()
        .find(|r| r["attributes"]["url"] == "https://40d/")
        .unwrap();
    let old_id = old["id"].as_str().unwrap().to_string();
    assert_eq!(index_entries(&env), 4);
    let day = old_day(&env);
    env.test()
        .args(&["gc", "--older-than", "30d"])
        .stdout("deleted 1 record and 1 dead letter, 2 empty day folders, 0 stale temp files\n")
        .run();
    assert_eq!(urls(&env.records()), ["https://10d/", "https://1h/"]);
    assert!(env.dead_letters().is_empty());
    assert_eq!(index_entries(&env), 2, "the .ids/ links went too");
    assert!(!env.events().join(&day).exists());
    assert!(!env.events().join("invalid").join(&day).exists());
    env.test().args(&["show", &old_id]).status(1).run();
    // The hook can store that event again: its id is free.
    let v = event(
        "urlCacher.urlValidated",
        old["timestamp"].as_str().unwrap(),
        json!({"url": "https://40d/"}),
    );
    emit(&env, "s-gc", None, "toolu_1", &[v]);
    assert_eq!(env.records().len(), 3);
    // Nothing older than 30 days is left.
    env.test()
        .args(&["gc", "--older-than", "30d"])
        .stdout_has("deleted 1 record")
        .run();
    env.test()
        .args(&["gc", "--older-than", "30d"])
        .stdout_has("deleted 0 records and 0 dead letters")
        .run();
    env.test()
        .args(&["gc", "--older-than", "2d", "--json"])
        .run();
    assert_eq!(urls(&env.records()), ["https://1h/"]);
}

#[test]
fn keep_keeps_the_newest() {
    let env = aged();
    let s = env
        .test()
        .args(&["gc", "--keep", "2", "--json"])
        .run()
        .json();
    assert_eq!(
        (s["records"].as_u64(), s["dead_letters"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(s["dry_run"], false);
    assert_eq!(urls(&env.records()), ["https://10d/", "https://1h/"]);
    // With both flags, either one is reason enough.
    let s = env
        .test()
        .args(&[
            "gc",
            "--keep",
            "2",
            "--older-than",
            "5d",
            "--dry-run",
            "--json",
        ])
        .run()
        .json();
    assert_eq!(s["records"], 1);
    assert_eq!(s["dry_run"], true);
    assert_eq!(env.records().len(), 2);
}

#[test]
fn filters_narrow_what_is_deleted() {
    let env = published();
    env.test()
        .args(&["gc", "--keep", "0", "--name", "urlCacher.url*"])
        .stdout_has("deleted 2 records")
        .run();
    let left = jsonl(&env.test().args(&["ls", "--jsonl"]).run());
    assert_eq!(left.len(), 4);
    assert!(left.iter().all(|r| r["name"] != "urlCacher.urlValidated"));
    let aged = aged();
    aged.test()
        .args(&["gc", "--keep", "0", "--invalid"])
        .stdout_has("deleted 0 records and 1 dead letter")
        .run();
    assert_eq!(aged.records().len(), 3);
}

#[test]
fn stale_temp_files_go() {
    let env = aged();
    let tmp = env.events().join(".tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let stale = tmp.join(".1-0-1.tmp");
    let fresh = tmp.join(".2-0-2.tmp");
    std::fs::write(&stale, "{").unwrap();
    std::fs::write(&fresh, "{").unwrap();
    // Both times are set from this process's clock, so the test holds when
    // that clock is faked (the kernel stamps writes with the real one).
    let now = SystemTime::now();
    for (file, age) in [(&stale, 7200), (&fresh, 0)] {
        std::fs::File::options()
            .write(true)
            .open(file)
            .unwrap()
            .set_modified(now - StdDuration::from_secs(age))
            .unwrap();
    }
    env.test()
        .args(&["gc", "--older-than", "1000d", "--dry-run"])
        .stdout_has("1 stale temp file")
        .run();
    assert!(stale.exists());
    env.test()
        .args(&["gc", "--older-than", "1000d"])
        .stdout_has("0 empty day folders, 1 stale temp file")
        .run();
    assert!(!stale.exists());
    assert!(fresh.exists());
}

#[test]
fn gc_needs_an_age_or_a_count() {
    let env = aged();
    env.test()
        .args(&["gc"])
        .status(64)
        .stderr_has("--older-than")
        .run();
    env.test()
        .args(&["gc", "--older-than", "soon"])
        .status(64)
        .stderr_has("--older-than: \"soon\" is not a duration")
        .run();
    assert_eq!(env.records().len(), 3);
}
