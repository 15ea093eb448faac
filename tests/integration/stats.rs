//! `stats` and `trace`: counts, durations of start/finish pairs, and a
//! session as a tree of runs and events.

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::test::Env;
use crate::test::{FG_AGENT, FG_SESSION, emit, event, published};

fn at(base: &str, ms: i64) -> String {
    (chrono::DateTime::parse_from_rfc3339(base).unwrap() + Duration::milliseconds(ms))
        .with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn count(list: &Value, key: &str) -> u64 {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == key)
        .map_or(0, |c| c["count"].as_u64().unwrap())
}

#[test]
fn stats_counts_by_name_agent_and_validity() {
    let env = published();
    emit(
        &env,
        "s-main",
        None,
        "toolu_m",
        &[
            event(
                "urlCacher.urlValidated",
                "2026-01-01T00:00:00Z",
                json!({"url": "https://m/"}),
            ),
            event(
                "urlCacher.cacheFailed",
                "2026-01-01T00:00:01Z",
                json!({"url": "https://m/"}),
            ),
        ],
    );
    let s = env.test().args(&["stats", "--json"]).run().json();
    assert_eq!(s["events"], 8);
    assert_eq!(s["valid"], 7);
    assert_eq!(s["invalid"], 1);
    assert_eq!(s["first"], "2025-08-12T16:30:00.000Z");
    assert_eq!(count(&s["by_name"], "urlCacher.cacheRequested"), 2);
    assert_eq!(count(&s["by_name"], "urlCacher.urlValidated"), 3);
    assert_eq!(count(&s["by_name"], "urlCacher.cacheFailed"), 1);
    assert_eq!(count(&s["by_agent_type"], "general-purpose"), 6);
    assert_eq!(count(&s["by_agent_type"], "main"), 2);
    assert!(s["per_minute"].as_f64().unwrap() > 0.0);
    let text = env.test().args(&["stats"]).run().stdout;
    for part in [
        "events     8  (7 valid, 1 invalid)",
        "first      2025-08-12T16:30:00.000Z",
        "by name",
        "  urlCacher.urlValidated       3",
        "by agent type",
        "  general-purpose  6",
    ] {
        assert!(text.contains(part), "lacks {part:?}:\n{text}");
    }
    // Filters narrow the range; --invalid counts the dead letters only.
    let s = env
        .test()
        .args(&["stats", "--json", "--session", FG_SESSION])
        .run()
        .json();
    assert_eq!(s["events"], 3);
    let s = env
        .test()
        .args(&["stats", "--json", "--invalid"])
        .run()
        .json();
    assert_eq!(
        (s["events"].as_u64(), s["invalid"].as_u64()),
        (Some(1), Some(1))
    );
    let s = env
        .test()
        .args(&["stats", "--jsonl", "--until", "2026-01-01"])
        .run();
    assert_eq!(s.stdout.lines().count(), 1);
    assert_eq!(s.json()["events"], 2);
}

#[test]
fn stats_pairs_starts_and_finishes_of_one_run_by_key() {
    let env = Env::new();
    let t0 = "2026-02-03T04:05:06.000Z";
    let a1 = Some(("a1111", "url-cacher"));
    let a2 = Some(("a2222", "url-cacher"));
    let started = |url: &str, ms| {
        event(
            "urlCacher.cacheCheckStarted",
            &at(t0, ms),
            json!({"url": url, "cache_path": "p/"}),
        )
    };
    let completed = |url: &str, ms| {
        event(
            "urlCacher.cacheCheckCompleted",
            &at(t0, ms),
            json!({"url": url, "hit": true}),
        )
    };
    // B finishes before A: matched by url, not by order.
    emit(&env, "s-pairs", a1, "toolu_1", &[started("https://a/", 0)]);
    emit(
        &env,
        "s-pairs",
        a1,
        "toolu_2",
        &[started("https://b/", 1000)],
    );
    emit(
        &env,
        "s-pairs",
        a1,
        "toolu_3",
        &[completed("https://b/", 2000)],
    );
    emit(
        &env,
        "s-pairs",
        a1,
        "toolu_4",
        &[completed("https://a/", 5000)],
    );
    emit(
        &env,
        "s-pairs",
        a1,
        "toolu_5",
        &[started("https://c/", 6000)],
    );
    // Another run's finish closes nothing of the first.
    emit(
        &env,
        "s-pairs",
        a2,
        "toolu_6",
        &[completed("https://c/", 7000)],
    );
    assert_eq!(env.records().len(), 6);
    let s = env.test().args(&["stats", "--json"]).run().json();
    let d = &s["durations"][0];
    assert_eq!(d["name"], "urlCacher.cacheCheck");
    assert_eq!(d["pairs"], 2);
    assert_eq!(d["p50_ms"], 1000);
    assert_eq!(d["p90_ms"], 5000);
    assert_eq!(d["max_ms"], 5000);
    assert_eq!(d["unfinished"], 1);
    assert_eq!(d["unmatched"], 1);
    let text = env.test().args(&["stats"]).run().stdout;
    assert!(
        text.contains("urlCacher.cacheCheck  2 pairs  p50 1.000s  p90 5.000s  max 5.000s  1 unfinished, 1 finish without start"),
        "{text}"
    );
    // --pair-key matches on that attribute alone: finishes lack cache_path.
    let s = env
        .test()
        .args(&["stats", "--json", "--pair-key", "cache_path"])
        .run()
        .json();
    assert_eq!(s["durations"][0]["pairs"], 0);
    assert_eq!(s["durations"][0]["unfinished"], 3);
    let text = env
        .test()
        .args(&["stats", "--pair-key", "cache_path"])
        .run()
        .stdout;
    assert!(
        text.contains("urlCacher.cacheCheck  0 pairs  p50 -  p90 -  max -  3 unfinished, 3 finish"),
        "{text}"
    );
    let s = env
        .test()
        .args(&["stats", "--json", "--pair-key", "url"])
        .run()
        .json();
    assert_eq!(s["durations"][0]["pairs"], 2);
}

#[test]
fn trace_shows_a_session_as_runs_and_their_events() {
    let env = published();
    let out = env.test().args(&["trace", &FG_SESSION[..8]]).run();
    let text = &out.stdout;
    assert!(
        text.starts_with(&format!("session {FG_SESSION}  trace ")),
        "{text}"
    );
    assert!(
        text.contains(&format!("└─  general-purpose {FG_AGENT}")),
        "{text}"
    );
    assert!(text.contains("3 events"), "{text}");
    for name in [
        "urlCacher.cacheRequested",
        "urlCacher.urlValidated",
        "urlCacher.cacheCheckStarted",
    ] {
        assert!(text.contains(name), "{text}");
    }
    assert!(text.contains("+0.000s"), "{text}");
    assert!(!text.contains(crate::test::BG_SESSION), "one session only");
    let trees = env
        .test()
        .args(&["trace", FG_SESSION, "--json"])
        .run()
        .json();
    let tree = &trees[0];
    assert_eq!(tree["session_id"], FG_SESSION);
    assert_eq!(tree["events"], 3);
    let run = &tree["runs"][0];
    assert_eq!(run["agent_id"], FG_AGENT);
    assert_eq!(run["agent_type"], "general-purpose");
    let offsets: Vec<i64> = run["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["offset_ms"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets[0], 0);
    assert!(offsets.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(
        run["duration_ms"].as_i64().unwrap(),
        *offsets.last().unwrap()
    );
    // By trace id (or a prefix of one) too.
    let trace = tree["trace_id"].as_str().unwrap();
    let by_trace = env
        .test()
        .args(&["trace", &trace[..12], "--json"])
        .run()
        .json();
    assert_eq!(by_trace[0]["session_id"], FG_SESSION);
    env.test()
        .args(&["trace", "ffffffffffff"])
        .status(1)
        .stderr_has("no events of a session or trace ffffffffffff")
        .run();
}

#[test]
fn trace_groups_runs_in_time_order_and_marks_invalid_events() {
    let env = published();
    let t0 = "2030-01-01T00:00:00.000Z";
    let v = |url: &str, ms| event("urlCacher.urlValidated", &at(t0, ms), json!({"url": url}));
    emit(&env, "s-tree", None, "toolu_1", &[v("https://main/", 0)]);
    emit(
        &env,
        "s-tree",
        Some(("a1", "url-cacher")),
        "toolu_2",
        &[v("https://1a/", 1000)],
    );
    emit(
        &env,
        "s-tree",
        Some(("a2", "researcher")),
        "toolu_3",
        &[v("https://2/", 2000)],
    );
    emit(
        &env,
        "s-tree",
        Some(("a1", "url-cacher")),
        "toolu_4",
        &[v("https://1b/", 3000)],
    );
    emit(
        &env,
        "s-tree",
        Some(("a1", "url-cacher")),
        "toolu_5",
        &[event(
            "urlCacher.cacheFailed",
            &at(t0, 4000),
            json!({"url": "https://1c/"}),
        )],
    );
    // The latest session is the default.
    let trees = env.test().args(&["trace", "--json"]).run().json();
    assert_eq!(trees.as_array().unwrap().len(), 1);
    let t = &trees[0];
    assert_eq!(t["session_id"], "s-tree");
    assert_eq!(
        (
            t["events"].as_u64(),
            t["invalid"].as_u64(),
            t["duration_ms"].as_i64()
        ),
        (Some(5), Some(1), Some(4000))
    );
    let runs = t["runs"].as_array().unwrap();
    let labels: Vec<(Value, Value)> = runs
        .iter()
        .map(|r| (r["agent_id"].clone(), r["agent_type"].clone()))
        .collect();
    assert_eq!(
        labels,
        [
            (Value::Null, Value::Null),
            (json!("a1"), json!("url-cacher")),
            (json!("a2"), json!("researcher"))
        ]
    );
    let a1 = &runs[1];
    let offsets: Vec<i64> = a1["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["offset_ms"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [0, 2000, 3000]);
    assert_eq!(a1["duration_ms"], 3000);
    assert_eq!(a1["events"][2]["valid"], false);
    assert_eq!(a1["events"][1]["valid"], true);
    let text = env.test().args(&["trace"]).run().stdout;
    assert!(
        text.contains("├─  main agent  2030-01-01T00:00:00.000Z  0.000s  1 event"),
        "{text}"
    );
    assert!(
        text.contains("url-cacher a1  2030-01-01T00:00:01.000Z  3.000s  3 events"),
        "{text}"
    );
    assert!(text.contains("└─  researcher a2"), "{text}");
    assert!(
        text.contains("│  └─  +3.000s  ✗ urlCacher.cacheFailed  invalid: "),
        "{text}"
    );
    assert!(text.contains("5 events, 1 invalid"), "{text}");
    // Without the dead letters.
    let valid_only = env
        .test()
        .args(&["trace", "s-tree", "--name", "urlCacher.url*", "--json"])
        .run()
        .json();
    assert_eq!(valid_only[0]["events"], 4);
}

#[test]
fn trace_of_today_uses_relative_times() {
    let env = Env::new();
    let now = Utc::now();
    let ts = (now - Duration::minutes(1)).to_rfc3339_opts(SecondsFormat::Millis, true);
    emit(
        &env,
        "s-now",
        None,
        "toolu_n",
        &[event(
            "urlCacher.urlValidated",
            &ts,
            json!({"url": "https://n/"}),
        )],
    );
    let t = env
        .test()
        .args(&["trace", "--since", "10m", "--json"])
        .run()
        .json();
    assert_eq!(t[0]["session_id"], "s-now");
    env.test()
        .args(&["trace", "--until", "1h"])
        .stderr_has("no events match")
        .run();
}
