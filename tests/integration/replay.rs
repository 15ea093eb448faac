//! `replay`: the captured transcripts through the hook's pipeline. Replay
//! after the hook adds nothing; replay alone stores what the hook stores,
//! with the same ids.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::collector::Collector;
use crate::test::{BG_SESSION, FG_AGENT, FG_SESSION, published, session_fixtures};
use crate::test::{Env, REPO};

fn projects(env: &Env) -> PathBuf {
    env.home().join(".claude/projects/-home-dev-project")
}

/// A session's transcripts in the sandbox: its main one and its subagents'.
fn transcripts(env: &Env, session: &str) -> Vec<PathBuf> {
    let mut out = vec![projects(env).join(format!("{session}.jsonl"))];
    for e in std::fs::read_dir(projects(env).join(session).join("subagents"))
        .unwrap()
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "jsonl") {
            out.push(e.path());
        }
    }
    out
}

fn replay(env: &Env, paths: &[PathBuf]) -> Value {
    let mut t = env.test().args(&["replay", "--json"]);
    for p in paths {
        t = t.arg(p);
    }
    // No progress bar and nothing to say when not on a terminal.
    t.stderr("").run().json()
}

fn ids(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn replay_after_the_hook_adds_nothing() {
    for (foreground, session) in [(true, FG_SESSION), (false, BG_SESSION)] {
        let env = Env::new();
        for f in session_fixtures(foreground) {
            env.test().args(&["publish"]).fixture(&f).stdout("").run();
        }
        let before = env.files(&env.events());
        assert_eq!(env.records().len(), 3);
        let files = transcripts(&env, session);
        assert_eq!(files.len(), 2);
        let s = replay(&env, &files);
        assert_eq!(s["files"], 2);
        assert_eq!(s["stored"], 0, "{s}");
        assert!(s["present"].as_u64().unwrap() >= 3, "{s}");
        assert_eq!(s["failed"], 0);
        assert_eq!(env.files(&env.events()), before, "nothing new in .events/");
    }
}

#[test]
fn replay_alone_stores_what_the_hook_stores() {
    let hooked = published();
    let replayed = Env::new();
    let s = replay(&replayed, &[replayed.home().join(".claude/projects")]);
    assert_eq!(s["files"], 4);
    assert_eq!(s["stored"], 6);
    assert_eq!(s["stored_invalid"], 0);
    let (a, b) = (hooked.records(), replayed.records());
    assert_eq!(ids(&a), ids(&b), "the same ids as the hook's");
    for session in [FG_SESSION, BG_SESSION] {
        let of = |rs: &[Value]| {
            rs.iter()
                .filter(|r| r["source"]["session_id"] == session)
                .count()
        };
        assert_eq!((of(&a), of(&b)), (3, 3));
    }
    // Same events, same trace context, same agent.
    for r in &b {
        let h = a.iter().find(|h| h["id"] == r["id"]).unwrap();
        for k in [
            "name",
            "attributes",
            "trace_id",
            "span_id",
            "parent_span_id",
        ] {
            assert_eq!(h[k], r[k], "{k} of {}", r["id"]);
        }
        assert_eq!(h["source"]["agent_id"], r["source"]["agent_id"]);
        assert_eq!(r["source"]["agent_type"], "general-purpose");
    }
    // The records keep the contract.
    let text =
        std::fs::read_to_string(Path::new(REPO).join("schemas/event-record.schema.json")).unwrap();
    let contract = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&serde_json::from_str(&text).unwrap())
        .unwrap();
    for r in &b {
        let errors: Vec<String> = contract
            .iter_errors(r)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:?}\n{r:#}");
    }
    // Replaying again adds nothing; so does the hook after a replay.
    let again = replay(&replayed, &[replayed.home().join(".claude/projects")]);
    assert_eq!(again["stored"], 0);
    let before = replayed.files(&replayed.events());
    for f in session_fixtures(true)
        .into_iter()
        .chain(session_fixtures(false))
    {
        replayed
            .test()
            .args(&["publish"])
            .fixture(&f)
            .stdout("")
            .run();
    }
    assert_eq!(
        replayed.files(&replayed.events()),
        before,
        "the hook after a replay adds nothing"
    );
}

#[test]
fn replay_prints_a_summary() {
    let env = Env::new();
    let out = env
        .test()
        .args(&["replay"])
        .arg(env.home().join(".claude/projects"))
        .stderr("")
        .run();
    assert!(
        out.stdout
            .starts_with("replayed 4 transcripts (0.0 MB) in "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(": 6 events stored in "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("(0 invalid), 2 already present"),
        "{}",
        out.stdout
    );
}

#[test]
fn replay_reads_named_paths_anywhere_and_takes_the_agent_from_the_file_name() {
    let env = Env::new();
    // Outside ~/.claude/projects (the transcript roots guard the hook only),
    // and with the agentId fields removed from the lines.
    let elsewhere = env
        .root()
        .join("elsewhere")
        .join(FG_SESSION)
        .join("subagents");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let src = projects(&env)
        .join(FG_SESSION)
        .join("subagents")
        .join(format!("agent-{FG_AGENT}.jsonl"));
    let text = std::fs::read_to_string(src).unwrap();
    let stripped = text.replace(&format!("\"agentId\":\"{FG_AGENT}\","), "");
    assert!(!stripped.contains("agentId"));
    let copy = elsewhere.join(format!("agent-{FG_AGENT}.jsonl"));
    std::fs::write(&copy, stripped).unwrap();
    let s = replay(&env, &[copy]);
    assert_eq!(s["stored"], 3, "{s}");
    let hooked = published();
    assert_eq!(
        ids(&env.records()),
        ids(&hooked
            .records()
            .into_iter()
            .filter(|r| r["source"]["session_id"] == FG_SESSION)
            .collect::<Vec<_>>())
    );
    for r in env.records() {
        assert_eq!(r["source"]["agent_id"], FG_AGENT);
    }
}

#[test]
fn unreadable_paths_are_reported_and_the_rest_replayed() {
    let env = Env::new();
    let out = env
        .test()
        .args(&["replay", "--json", "/no/such/transcripts"])
        .arg(env.home().join(".claude/projects"))
        .status(1)
        .stderr_has("/no/such/transcripts: No such file or directory")
        .run();
    let s = out.json();
    assert_eq!(
        (s["stored"].as_u64(), s["unreadable"].as_u64()),
        (Some(6), Some(1))
    );
}

#[test]
fn files_without_events_store_nothing() {
    let env = Env::new();
    let dir = env.root().join("junk");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a.jsonl"),
        "not json <EVENT>\n{\"type\":\"user\"}\n\u{0}\u{1}binary\n",
    )
    .unwrap();
    std::fs::write(dir.join("b.jsonl"), "").unwrap();
    std::fs::write(dir.join("notes.txt"), "<EVENT>{\"name\":\"a.b\"}</EVENT>").unwrap();
    let s = replay(&env, &[dir]);
    assert_eq!(s["files"], 2, "only .jsonl files in a tree: {s}");
    assert_eq!(s["stored"], 0);
    assert!(
        env.records().is_empty() && env.dead_letters().is_empty(),
        "nothing stored, on any day"
    );
}

#[test]
fn replay_stores_events_that_gc_deleted() {
    // Documented: gc forgets ids, so replaying the transcripts brings the
    // events back.
    let env = published();
    env.test()
        .args(&["gc", "--keep", "0"])
        .stdout_has("deleted 6 records")
        .run();
    assert!(env.records().is_empty());
    let s = replay(&env, &[env.home().join(".claude/projects")]);
    assert_eq!(s["stored"], 6);
    assert_eq!(env.records().len(), 6);
}

#[test]
fn replay_exports_to_the_collector_what_the_hook_did_not() {
    let Some(collector) = Collector::start() else {
        return;
    };
    let env = Env::new();
    let out = env
        .test()
        .var("EVENT_PUBLISHER_OTLP_ENDPOINT", collector.http())
        .args(&["replay"])
        .arg(env.home().join(".claude/projects"))
        .stderr("")
        .run();
    assert!(
        out.stdout.contains("; otlp: sent 6 event(s) and 2 span(s)"),
        "{}",
        out.stdout
    );
    let got = collector.wait_for(6, 2);
    assert_eq!(got.logs.len(), 6);
    let records = env.records();
    for r in &records {
        let log = got
            .logs
            .iter()
            .find(|l| l.attributes["log.record.uid"] == r["id"].as_str().unwrap())
            .unwrap();
        assert_eq!(log.span_id, r["span_id"].as_str().unwrap());
    }
    // Each subagent transcript is its run's span, with the records' span id.
    assert_eq!(got.spans.len(), 2);
    for span in &got.spans {
        assert_eq!(span.name, "invoke_agent general-purpose");
        assert!(
            records
                .iter()
                .any(|r| r["span_id"] == span.span_id.as_str())
        );
        assert!(span.end > span.start);
    }
    // Again: nothing new to send.
    let again = env
        .test()
        .var("EVENT_PUBLISHER_OTLP_ENDPOINT", collector.http())
        .args(&["replay", "--json"])
        .arg(env.home().join(".claude/projects"))
        .run()
        .json();
    assert_eq!(
        (again["otlp_events"].as_u64(), again["otlp_spans"].as_u64()),
        (Some(0), Some(0))
    );
}

#[test]
fn replay_after_the_hook_sends_the_collector_nothing_new() {
    let Some(collector) = Collector::start() else {
        return;
    };
    let env = Env::new();
    for f in session_fixtures(true) {
        env.test()
            .var("EVENT_PUBLISHER_OTLP_ENDPOINT", collector.http())
            .args(&["publish"])
            .fixture(&f)
            .stdout("")
            .run();
    }
    let got = collector.wait_for(3, 1);
    let (logs, spans) = (got.logs.len(), got.spans.len());
    let s = env
        .test()
        .var("EVENT_PUBLISHER_OTLP_ENDPOINT", collector.http())
        .args(&["replay", "--json"])
        .arg(projects(&env).join(format!("{FG_SESSION}.jsonl")))
        .arg(projects(&env).join(FG_SESSION))
        .stderr("")
        .run()
        .json();
    assert_eq!(
        (
            s["stored"].as_u64(),
            s["otlp_events"].as_u64(),
            s["otlp_spans"].as_u64()
        ),
        (Some(0), Some(0), Some(0))
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let after = collector.received();
    assert_eq!((after.logs.len(), after.spans.len()), (logs, spans));
}
