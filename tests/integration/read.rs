//! `ls` (alias `query`) and `show`, the filters every reading command
//! shares, and how readers cope with empty, missing and partly corrupt
//! `.events/`.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::test::{
    BG_SESSION, Env, FG_AGENT, FG_SESSION, Output, emit, event, ids, jsonl, names, published,
    record_day, record_path,
};

fn lines(out: &Output) -> Vec<&str> {
    out.stdout.lines().collect()
}

#[test]
fn ls_lists_events_oldest_first_one_line_each() {
    let env = published();
    let out = env.test().args(&["ls"]).run();
    let lines = lines(&out);
    assert_eq!(lines.len(), 6, "{}", out.stdout);
    // The agent-given time of the report comes first.
    assert!(lines[0].starts_with("2025-08-12T16:30:00.000Z  urlCacher.cacheRequested"));
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("general-purpose/{}", &FG_AGENT[..8])))
    );
    assert!(
        lines[0].ends_with(
            "url=https://docs.astral.sh/uv/ cache_path=.metadata/cache/docs-astral-sh/uv/"
        )
    );
    let times: Vec<&str> = lines.iter().map(|l| &l[..24]).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    // Columns are aligned: the agent column starts at the same place.
    let col = |l: &str| l.find("general-purpose").unwrap();
    assert!(
        lines.iter().all(|l| col(l) == col(lines[0])),
        "{}",
        out.stdout
    );
    assert_eq!(out.stderr, "");
    // `query` is the same command.
    env.test().args(&["query"]).stdout(&out.stdout).run();
}

#[test]
fn ls_json_is_the_records_as_stored() {
    let env = published();
    let out = env.test().args(&["ls", "--json"]).run();
    let mut listed = out.json().as_array().unwrap().clone();
    let mut stored = env.records();
    let key = |v: &Value| v["id"].as_str().unwrap().to_string();
    listed.sort_by_key(key);
    stored.sort_by_key(key);
    assert_eq!(listed, stored);
    let out = env.test().args(&["ls", "--jsonl"]).run();
    assert_eq!(jsonl(&out).len(), 6);
    let none = env
        .test()
        .args(&["ls", "--json", "--name", "nothing.*"])
        .stdout("[]\n")
        .run();
    assert_eq!(none.stderr, "");
}

#[test]
fn ls_limit_and_reverse() {
    let env = published();
    let all = ids(&env.test().args(&["ls", "--jsonl"]).run());
    let first = ids(&env.test().args(&["ls", "--jsonl", "--limit", "2"]).run());
    assert_eq!(first, all[..2]);
    let newest = ids(&env
        .test()
        .args(&["ls", "--jsonl", "--reverse", "-n", "2"])
        .run());
    let mut rev = all.clone();
    rev.reverse();
    assert_eq!(newest, rev[..2]);
}

#[test]
fn name_filter_is_a_glob() {
    let env = published();
    let out = env
        .test()
        .args(&["ls", "--jsonl", "--name", "urlCacher.cache*"])
        .run();
    let mut n = names(&out);
    n.sort();
    assert_eq!(
        n,
        [
            "urlCacher.cacheCheckStarted",
            "urlCacher.cacheCheckStarted",
            "urlCacher.cacheRequested",
            "urlCacher.cacheRequested"
        ]
    );
    let out = env
        .test()
        .args(&["ls", "--jsonl", "--name", "*Validated"])
        .run();
    assert_eq!(
        names(&out),
        ["urlCacher.urlValidated", "urlCacher.urlValidated"]
    );
    env.test()
        .args(&["ls", "--name", "[oops"])
        .status(64)
        .stderr_has("--name \"[oops\" is not a glob")
        .run();
}

#[test]
fn agent_session_and_trace_filters() {
    let env = published();
    let count = |args: &[&str]| {
        let mut a = vec!["ls", "--jsonl"];
        a.extend_from_slice(args);
        jsonl(&env.test().args(&a).run()).len()
    };
    assert_eq!(count(&["--agent", FG_AGENT]), 3);
    assert_eq!(count(&["--agent", &FG_AGENT[..6]]), 3);
    assert_eq!(count(&["--agent", "general-purpose"]), 6);
    assert_eq!(count(&["--agent", "main"]), 0);
    assert_eq!(count(&["--agent", "Explore"]), 0);
    assert_eq!(count(&["--session", FG_SESSION]), 3);
    assert_eq!(count(&["--session", &BG_SESSION[..8]]), 3);
    let trace = env
        .records()
        .iter()
        .find(|r| r["source"]["session_id"] == BG_SESSION)
        .unwrap()["trace_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(count(&["--trace", &trace]), 3);
    assert_eq!(count(&["--trace", &trace[..10]]), 3);
    assert_eq!(count(&["--trace", "00000000"]), 0);
    assert_eq!(
        count(&[
            "--session",
            FG_SESSION,
            "--agent",
            FG_AGENT,
            "--name",
            "*Started"
        ]),
        1
    );
    // Events of the main agent.
    emit(
        &env,
        "s-main",
        None,
        "toolu_m1",
        &[event(
            "urlCacher.urlValidated",
            "2026-01-01T00:00:00Z",
            json!({"url": "https://m/"}),
        )],
    );
    assert_eq!(count(&["--agent", "main"]), 1);
}

#[test]
fn time_filters_take_rfc3339_dates_and_relative_times() {
    let env = published();
    let count = |args: &[&str]| {
        let mut a = vec!["ls", "--jsonl"];
        a.extend_from_slice(args);
        jsonl(&env.test().args(&a).run()).len()
    };
    assert_eq!(count(&["--until", "2026-01-01"]), 2);
    assert_eq!(
        count(&[
            "--since",
            "2025-08-12T16:30:00Z",
            "--until",
            "2025-08-12T16:30:00.001Z"
        ]),
        2
    );
    assert_eq!(
        count(&[
            "--since",
            "2025-08-12T16:30:00.001Z",
            "--until",
            "2026-01-01"
        ]),
        0
    );
    assert_eq!(
        count(&[
            "--since",
            "2025-08-12T18:30:00+02:00",
            "--until",
            "2025-08-13"
        ]),
        2
    );
    let now = chrono::Utc::now();
    let at =
        |ago: chrono::Duration| (now - ago).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    emit(
        &env,
        "s-rel",
        None,
        "toolu_r1",
        &[
            event(
                "urlCacher.urlValidated",
                &at(chrono::Duration::minutes(5)),
                json!({"url": "https://5m/"}),
            ),
            event(
                "urlCacher.urlValidated",
                &at(chrono::Duration::hours(3)),
                json!({"url": "https://3h/"}),
            ),
            event(
                "urlCacher.urlValidated",
                &at(chrono::Duration::days(3)),
                json!({"url": "https://3d/"}),
            ),
        ],
    );
    let urls = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ls", "--jsonl", "--session", "s-rel"];
        a.extend_from_slice(args);
        jsonl(&env.test().args(&a).run())
            .iter()
            .map(|r| r["attributes"]["url"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(urls(&["--since", "15m"]), ["https://5m/"]);
    assert_eq!(urls(&["--since", "2d"]), ["https://3h/", "https://5m/"]);
    assert_eq!(
        urls(&["--since", "1w", "--until", "2h"]),
        ["https://3d/", "https://3h/"]
    );
    env.test()
        .args(&["ls", "--since", "yesterday"])
        .status(64)
        .stderr_has("--since: \"yesterday\" is not a time")
        .run();
}

#[test]
fn where_filter_compares_attributes() {
    let env = Env::new();
    emit(
        &env,
        "s-where",
        None,
        "toolu_w1",
        &[
            event(
                "urlCacher.cacheCheckCompleted",
                "2026-01-01T00:00:01Z",
                json!({"url": "https://a/", "hit": true, "age_seconds": 5}),
            ),
            event(
                "urlCacher.cacheCheckCompleted",
                "2026-01-01T00:00:02Z",
                json!({"url": "https://b/", "hit": false, "age_seconds": 5.0}),
            ),
            event(
                "urlCacher.cacheCheckCompleted",
                "2026-01-01T00:00:03Z",
                json!({"url": "https://a/", "hit": false}),
            ),
        ],
    );
    let urls = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ls", "--jsonl"];
        a.extend_from_slice(args);
        jsonl(&env.test().args(&a).run())
            .iter()
            .map(|r| {
                format!(
                    "{}{}",
                    r["attributes"]["url"].as_str().unwrap(),
                    r["attributes"]["hit"]
                )
            })
            .collect()
    };
    assert_eq!(
        urls(&["--where", "url=https://a/"]),
        ["https://a/true", "https://a/false"]
    );
    assert_eq!(
        urls(&["--where", "hit=false"]),
        ["https://b/false", "https://a/false"]
    );
    assert_eq!(
        urls(&["--where", "url=https://a/", "--where", "hit=false"]),
        ["https://a/false"]
    );
    assert_eq!(
        urls(&["--where", "age_seconds=5"]),
        ["https://a/true", "https://b/false"]
    );
    assert!(urls(&["--where", "url=https://a"]).is_empty());
    assert!(urls(&["--where", "nope=1"]).is_empty());
    env.test()
        .args(&["ls", "--where", "novalue"])
        .status(64)
        .stderr_has("expected ATTR=VALUE")
        .run();
}

#[test]
fn invalid_lists_the_dead_letters_instead() {
    let env = published();
    emit(
        &env,
        "s-bad",
        None,
        "toolu_b1",
        &[event(
            "urlCacher.cacheCheckCompleted",
            "2026-01-01T00:00:00Z",
            json!({"url": "https://x/"}),
        )],
    );
    assert_eq!(env.dead_letters().len(), 1);
    let out = env.test().args(&["ls", "--invalid"]).run();
    assert_eq!(lines(&out).len(), 1, "{}", out.stdout);
    assert!(out.stdout.contains("urlCacher.cacheCheckCompleted"));
    assert!(out.stdout.contains("✗"), "{}", out.stdout);
    assert!(
        out.stdout.contains("hit"),
        "the error is shown: {}",
        out.stdout
    );
    let j = jsonl(&env.test().args(&["ls", "--invalid", "--jsonl"]).run());
    assert_eq!(j.len(), 1);
    assert!(!j[0]["errors"].as_array().unwrap().is_empty());
    // Plain ls shows only valid events.
    assert_eq!(jsonl(&env.test().args(&["ls", "--jsonl"]).run()).len(), 6);
}

#[test]
fn show_finds_a_record_by_id_or_unique_prefix() {
    let env = published();
    let r = env
        .records()
        .into_iter()
        .find(|r| {
            r["name"] == "urlCacher.cacheRequested" && r["source"]["session_id"] == FG_SESSION
        })
        .unwrap();
    let id = r["id"].as_str().unwrap();
    let out = env.test().args(&["show", id]).run();
    for part in [
        "urlCacher.cacheRequested  valid",
        &format!("id         {id}"),
        "time       2025-08-12T16:30:00.000Z",
        "url         https://docs.astral.sh/uv/",
        &format!("session     {FG_SESSION}"),
        &format!("agent       {FG_AGENT} (general-purpose)"),
        "2025-08-12/20250812T163000.000Z-urlCacher.cacheRequested-",
    ] {
        assert!(out.stdout.contains(part), "lacks {part:?}:\n{}", out.stdout);
    }
    let by_prefix = env.test().args(&["show", &id[..8].to_uppercase()]).run();
    assert_eq!(by_prefix.stdout, out.stdout);
    let json = env.test().args(&["show", "--json", &id[..8]]).run().json();
    assert_eq!(json, r);
    env.test()
        .args(&["show", "ffffffff-0000"])
        .status(1)
        .stderr_has("no record has an id starting with ffffffff-0000")
        .run();
    env.test().args(&["show", "not-an-id!"]).status(64).run();
}

#[test]
fn show_refuses_an_ambiguous_prefix() {
    let env = Env::new();
    // 40 events: some first hex digit is shared by at least three ids.
    let events: Vec<Value> = (0..40)
        .map(|i| {
            event(
                "urlCacher.urlValidated",
                "2026-01-01T00:00:00Z",
                json!({"url": format!("https://{i}/")}),
            )
        })
        .collect();
    emit(&env, "s-many", None, "toolu_many", &events);
    let records = env.records();
    assert_eq!(records.len(), 40);
    let mut firsts: Vec<char> = records
        .iter()
        .map(|r| r["id"].as_str().unwrap().chars().next().unwrap())
        .collect();
    firsts.sort();
    let shared = firsts.windows(2).find(|w| w[0] == w[1]).unwrap()[0].to_string();
    env.test()
        .args(&["show", &shared])
        .status(1)
        .stderr_has(&format!(
            "records have an id starting with {shared}; give more of it"
        ))
        .run();
}

#[test]
fn show_of_a_dead_letter_has_the_raw_marker_and_every_error() {
    let env = Env::new();
    emit(
        &env,
        "s-dead",
        None,
        "toolu_d1",
        &[event(
            "urlCacher.cacheFailed",
            "2026-01-01T00:00:00Z",
            json!({"url": 5}),
        )],
    );
    let dead = env.dead_letters();
    assert_eq!(dead.len(), 1);
    let id = dead[0]["id"].as_str().unwrap();
    let out = env.test().args(&["show", id]).run();
    assert!(out.stdout.contains("dead letter"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("<EVENT>{\"name\":\"urlCacher.cacheFailed\""),
        "{}",
        out.stdout
    );
    let errors = dead[0]["errors"].as_array().unwrap();
    assert!(errors.len() >= 2, "{errors:?}");
    for e in errors {
        assert!(
            out.stdout.contains(e["message"].as_str().unwrap()),
            "{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("invalid/2026-01-01/"), "{}", out.stdout);
}

#[test]
fn show_finds_a_record_whose_index_entry_is_gone() {
    let env = published();
    let id = env.records()[0]["id"].as_str().unwrap().to_string();
    std::fs::remove_file(
        env.events()
            .join(".ids")
            .join(&id[..2])
            .join(format!("{id}.json")),
    )
    .unwrap();
    env.test().args(&["show", &id]).stdout_has(&id).run();
}

#[test]
fn a_missing_or_empty_events_dir_is_not_an_error() {
    let env = Env::new();
    for cmd in [
        &["ls"][..],
        &["stats"],
        &["tail"],
        &["trace"],
        &["show", "abc"],
        &["gc", "--keep", "1"],
    ] {
        env.test()
            .args(cmd)
            .stdout("")
            .stderr_has("no events yet")
            .stderr_has(".events does not exist")
            .run();
    }
    std::fs::create_dir(env.events()).unwrap();
    env.test().args(&["ls"]).stdout("").stderr("").run();
    env.test().args(&["ls", "--json"]).stdout("[]\n").run();
    env.test()
        .args(&["tail", "--invalid"])
        .stdout("")
        .stderr("")
        .run();
    let stats = env.test().args(&["stats", "--json"]).run().json();
    assert_eq!(stats["events"], 0);
    assert!(
        !env.events().join("invalid").exists(),
        "readers create nothing"
    );
}

/// Writes `bytes` into the events directory at `rel`.
fn plant(env: &Env, rel: &str, bytes: &[u8]) -> PathBuf {
    let p = env.events().join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn stray_and_corrupt_files_are_reported_and_skipped() {
    let env = published();
    let (day, compact) = record_day(&env);
    let good = std::fs::read(record_path(&env, env.records()[0]["id"].as_str().unwrap())).unwrap();
    let id = "11111111-2222-5333-8444-555555555555";
    plant(
        &env,
        &format!("{day}/{compact}T000000.000Z-a.truncated-{id}.json"),
        &good[..good.len() / 2],
    );
    plant(&env, &format!("{day}/notes.txt"), b"hello");
    plant(
        &env,
        &format!(
            "{day}/{compact}T000000.000Z-a.empty-{}.json",
            "11111111-2222-5333-8444-555555555556"
        ),
        b"",
    );
    plant(
        &env,
        &format!(
            "{day}/{compact}T000000.000Z-a.array-{}.json",
            "11111111-2222-5333-8444-555555555557"
        ),
        b"[1, 2]",
    );
    plant(&env, "stuff/readme.md", b"not events");
    plant(&env, "README", b"not events");
    // Dot entries are not records and are not reported.
    plant(&env, &format!("{day}/.partial"), b"{");
    plant(&env, ".tmp/.1-2-3.tmp", b"{");
    let out = env.test().args(&["ls", "--jsonl"]).run();
    assert_eq!(jsonl(&out).len(), 6, "the good records are all listed");
    let reported: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(reported.len(), 6, "{}", out.stderr);
    for part in [
        "a.truncated",
        "truncated",
        "notes.txt",
        "a.empty",
        "a.array",
        "not a record",
        "stuff",
        "README",
    ] {
        assert!(
            out.stderr.contains(part),
            "stderr lacks {part:?}:\n{}",
            out.stderr
        );
    }
    assert!(
        reported
            .iter()
            .all(|l| l.starts_with("event-publisher: skipped "))
    );
    // The other readers cope too.
    env.test()
        .args(&["stats"])
        .stdout_has("events     6")
        .stderr_has("a.truncated")
        .run();
    env.test()
        .args(&["trace", FG_SESSION])
        .stdout_has("urlCacher.urlValidated")
        .run();
    env.test()
        .args(&["tail", "-n", "100"])
        .stderr_has("notes.txt")
        .run();
}

#[test]
fn many_bad_files_are_counted_not_each_named() {
    let env = published();
    let (day, _) = record_day(&env);
    for i in 0..25 {
        plant(&env, &format!("{day}/junk-{i}.txt"), b"x");
    }
    let out = env.test().args(&["ls"]).run();
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 11, "{}", out.stderr);
    assert_eq!(
        lines[10],
        "event-publisher: skipped 25 unreadable files in all (10 named above)"
    );
}

#[test]
fn symlinks_are_not_records() {
    let env = published();
    let (day, compact) = record_day(&env);
    let target = record_path(&env, env.records()[0]["id"].as_str().unwrap());
    let link = env.events().join(&day).join(format!(
        "{compact}T000000.000Z-a.link-{}.json",
        "11111111-2222-5333-8444-555555555558"
    ));
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = env
        .test()
        .args(&["ls", "--jsonl"])
        .stderr_has("a symlink, not a record")
        .run();
    assert_eq!(jsonl(&out).len(), 6);
}

#[test]
fn events_dir_follows_flag_env_and_config() {
    let env = published();
    let moved = env.root().join("elsewhere");
    std::fs::rename(env.events(), &moved).unwrap();
    env.test().args(&["ls"]).stderr_has("no events yet").run();
    let flag = env
        .test()
        .args(&["--events-dir"])
        .arg(&moved)
        .args(&["ls", "--jsonl"])
        .run();
    assert_eq!(jsonl(&flag).len(), 6);
    let var = env
        .test()
        .var("EVENT_PUBLISHER_EVENTS_DIR", &moved)
        .args(&["ls", "--jsonl"])
        .run();
    assert_eq!(jsonl(&var).len(), 6);
    std::fs::create_dir_all(env.project().join(".claude")).unwrap();
    std::fs::write(
        env.project().join(".claude/event-publisher.json"),
        json!({"events_dir": "../elsewhere"}).to_string(),
    )
    .unwrap();
    let file = env.test().args(&["ls", "--jsonl"]).run();
    assert_eq!(jsonl(&file).len(), 6);
}
