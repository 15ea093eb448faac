//! `publish`, the hook command, on the captured Claude Code payloads and on
//! made-up ones.

use std::path::Path;

use serde_json::{Value, json};

use crate::test::{Env, REPO, Test};

const FG: &str = "claude-code-2.1.328/foreground-";
const BG: &str = "claude-code-2.1.328/background-";
const OLD: &str = "claude-code-1.0.80/";

/// What each captured session's agent printed: one Bash marker, two in its report.
const SESSION_EVENTS: [&str; 3] = [
    "urlCacher.cacheCheckStarted",
    "urlCacher.cacheRequested",
    "urlCacher.urlValidated",
];

fn publish(env: &Env, fixture: &str) {
    env.test()
        .args(&["publish"])
        .fixture(fixture)
        .stdout("")
        .run();
}

fn names(records: &[Value]) -> Vec<String> {
    let mut n: Vec<String> = records
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

fn schema(name: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(Path::new(REPO).join("schemas").join(name)).unwrap();
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&serde_json::from_str(&text).unwrap())
        .unwrap()
}

fn assert_matches(validator: &jsonschema::Validator, record: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(record)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{record:#}");
}

fn bash_payload(session: &str, tool_use_id: &str, stdout: &str) -> Vec<u8> {
    crate::test::bash(session, tool_use_id, stdout)
}

fn marker(name: &str, attributes: Value) -> String {
    format!(
        "<EVENT>{}</EVENT>",
        json!({"name": name, "attributes": attributes})
    )
}

#[test]
fn foreground_session_stores_each_event_once() {
    let env = Env::new();
    for f in [
        "post-tool-use-bash-in-subagent",
        "post-tool-use-agent",
        "subagent-stop",
        "stop",
    ] {
        publish(&env, &format!("{FG}{f}.json"));
    }
    let records = env.records();
    assert_eq!(names(&records), SESSION_EVENTS);
    assert!(env.dead_letters().is_empty());
    let requested = records
        .iter()
        .find(|r| r["name"] == "urlCacher.cacheRequested")
        .unwrap();
    assert_eq!(requested["timestamp"], "2025-08-12T16:30:00.000Z");
    assert_eq!(requested["attributes"]["url"], "https://docs.astral.sh/uv/");
    // The report belongs to the subagent, whichever hook stored it.
    for r in &records {
        assert_eq!(r["source"]["agent_id"], "a038d4b520bfd4de3", "{r:#}");
        assert_eq!(
            r["source"]["session_id"],
            "e0d02c63-fe6e-4116-bbe1-d984038ca784"
        );
    }
}

#[test]
fn foreground_report_is_stored_once_in_either_order() {
    let env = Env::new();
    publish(&env, &format!("{FG}subagent-stop.json"));
    let before = env.files(&env.events());
    publish(&env, &format!("{FG}post-tool-use-agent.json"));
    publish(&env, &format!("{FG}post-tool-use-bash-in-subagent.json"));
    assert_eq!(
        env.files(&env.events()),
        before,
        "nothing new after SubagentStop read the transcript"
    );
    assert_eq!(env.records().len(), 3);
}

#[test]
fn background_events_arrive_through_subagent_stop() {
    let env = Env::new();
    publish(&env, &format!("{BG}post-tool-use-agent.json"));
    assert!(
        env.records().is_empty(),
        "an async launch carries no report"
    );
    publish(&env, &format!("{BG}post-tool-use-bash-in-subagent.json"));
    publish(&env, &format!("{BG}stop.json"));
    publish(&env, &format!("{BG}subagent-stop.json"));
    publish(&env, &format!("{BG}stop-2.json"));
    assert_eq!(names(&env.records()), SESSION_EVENTS);
}

#[test]
fn subagent_stop_alone_recovers_events_printed_before_the_report() {
    let env = Env::new();
    publish(&env, &format!("{BG}subagent-stop.json"));
    let records = env.records();
    assert_eq!(names(&records).len(), 3);
    let started = records
        .iter()
        .find(|r| r["name"] == "urlCacher.cacheCheckStarted")
        .unwrap();
    assert_eq!(started["source"]["tool_use_id"], "toolu_0002bash");
    assert_eq!(started["source"]["tool_name"], "Bash");
    // No timestamp of its own: the time the transcript line was written.
    assert_eq!(started["timestamp"], "2026-11-21T16:38:03.593Z");
}

#[test]
fn claude_code_1_0_payloads_work() {
    let env = Env::new();
    for f in [
        "post-tool-use-bash.json",
        "post-tool-use-task.json",
        "subagent-stop.json",
    ] {
        publish(&env, &format!("{OLD}{f}"));
    }
    let records = env.records();
    assert_eq!(names(&records), SESSION_EVENTS);
    let report = records
        .iter()
        .find(|r| r["name"] == "urlCacher.urlValidated")
        .unwrap();
    assert_eq!(report["source"]["tool_name"], "Task");
    assert_eq!(report["source"]["tool_use_id"], Value::Null);
    assert_eq!(report["source"]["prompt_id"], Value::Null);
}

#[test]
fn every_captured_payload_publishes_and_records_match_the_contract() {
    let env = Env::new();
    let record_schema = schema("event-record.schema.json");
    let mut fixtures: Vec<String> = Vec::new();
    for dir in ["claude-code-2.1.328", "claude-code-1.0.80"] {
        for e in std::fs::read_dir(Path::new(REPO).join("fixtures").join(dir))
            .unwrap()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with(".json") {
                fixtures.push(format!("{dir}/{name}"));
            }
        }
    }
    assert_eq!(fixtures.len(), 12, "{fixtures:?}");
    for f in &fixtures {
        let out = env.test().args(&["publish"]).fixture(f).run();
        assert_eq!(out.stdout, "", "{f}");
        assert_eq!(out.stderr, "", "{f}");
    }
    let records = env.records();
    assert_eq!(records.len(), 9, "3 events in each of three sessions");
    for r in &records {
        assert_matches(&record_schema, r);
    }
}

#[test]
fn publishing_the_same_payload_again_adds_nothing() {
    let env = Env::new();
    publish(&env, &format!("{FG}subagent-stop.json"));
    let before: Vec<_> = env
        .files(&env.events())
        .into_iter()
        .map(|f| (f.clone(), std::fs::read(env.events().join(f)).unwrap()))
        .collect();
    for _ in 0..3 {
        publish(&env, &format!("{FG}subagent-stop.json"));
    }
    let after: Vec<_> = env
        .files(&env.events())
        .into_iter()
        .map(|f| (f.clone(), std::fs::read(env.events().join(f)).unwrap()))
        .collect();
    assert_eq!(before, after);
}

#[test]
fn ids_follow_the_documented_formulas() {
    use sha2::{Digest, Sha256};
    let env = Env::new();
    publish(&env, &format!("{FG}post-tool-use-bash-in-subagent.json"));
    let r = &env.records()[0];
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let session = "e0d02c63-fe6e-4116-bbe1-d984038ca784";
    assert_eq!(
        r["trace_id"],
        hex(&Sha256::digest(format!("event-publisher/trace/{session}"))[..16])
    );
    assert_eq!(
        r["span_id"],
        hex(&Sha256::digest(format!(
            "event-publisher/span/{session}/agent/a038d4b520bfd4de3"
        ))[..8])
    );
    assert_eq!(
        r["parent_span_id"],
        hex(&Sha256::digest(format!("event-publisher/span/{session}/main"))[..8])
    );
    let canonical = r#"{"attributes":{"cache_path":".metadata/cache/docs-astral-sh/uv/","url":"https://docs.astral.sh/uv/"},"name":"urlCacher.cacheCheckStarted"}"#;
    let digest = hex(&Sha256::digest(canonical));
    let ns = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        b"https://github.com/event-publisher/event-publisher/event",
    );
    let id = uuid::Uuid::new_v5(
        &ns,
        format!("{session}\ntool/toolu_0001bash\n{digest}\n0").as_bytes(),
    );
    assert_eq!(r["id"], id.to_string());
}

#[test]
fn distinct_markers_are_never_merged() {
    let env = Env::new();
    let m = marker("urlCacher.urlValidated", json!({"url": "u"}));
    // Two Bash calls printing the same marker: two events.
    env.test()
        .args(&["publish"])
        .stdin(bash_payload("s", "t1", &m))
        .run();
    env.test()
        .args(&["publish"])
        .stdin(bash_payload("s", "t2", &m))
        .run();
    // One output holding it twice: two more.
    env.test()
        .args(&["publish"])
        .stdin(bash_payload("s", "t3", &format!("{m}\n{m}")))
        .run();
    assert_eq!(env.records().len(), 4);
    // And all of it again: nothing new.
    env.test()
        .args(&["publish"])
        .stdin(bash_payload("s", "t3", &format!("{m}\n{m}")))
        .run();
    assert_eq!(env.records().len(), 4);
}

#[test]
fn a_given_id_is_an_idempotency_key() {
    let env = Env::new();
    let m =
        r#"<EVENT>{"name":"urlCacher.urlValidated","id":"evt-1","attributes":{"url":"u"}}</EVENT>"#;
    env.test()
        .args(&["publish"])
        .stdin(bash_payload("s", "t1", m))
        .run();
    env.test()
        .args(&["publish"])
        .stdin(bash_payload("s", "t2", m))
        .run();
    let records = env.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["given_id"], "evt-1");
}

#[test]
fn a_rejected_event_with_an_id_can_be_printed_again_corrected() {
    let env = Env::new();
    let bad = r#"<EVENT>{"name":"urlCacher.urlValidated","id":"evt-2","attributes":{}}</EVENT>"#;
    let good =
        r#"<EVENT>{"name":"urlCacher.urlValidated","id":"evt-2","attributes":{"url":"u"}}</EVENT>"#;
    env.test()
        .args(&["publish", "--no-feedback"])
        .stdin(bash_payload("s", "t1", bad))
        .run();
    env.test()
        .args(&["publish"])
        .stdin(bash_payload("s", "t2", good))
        .run();
    assert_eq!(env.dead_letters().len(), 1);
    assert_eq!(env.records().len(), 1);
}

#[test]
fn invalid_events_become_dead_letters_and_the_agent_is_told() {
    let env = Env::new();
    let text = format!(
        "{} {} <EVENT>{{broken</EVENT>",
        marker("urlCacher.cacheRequested", json!({"url": "u"})),
        marker("urlCacher.urlValidated", json!({"url": "u"}))
    );
    let out = env
        .test()
        .args(&["publish"])
        .stdin(bash_payload("s", "t1", &text))
        .run();
    assert_eq!(env.records().len(), 1);
    let dead = env.dead_letters();
    assert_eq!(dead.len(), 2);
    let dl_schema = schema("dead-letter.schema.json");
    for d in &dead {
        assert_matches(&dl_schema, d);
    }
    let missing = dead
        .iter()
        .find(|d| d["name"] == "urlCacher.cacheRequested")
        .unwrap();
    assert_eq!(missing["errors"][0]["kind"], "schema");
    assert_eq!(missing["errors"][0]["instance_path"], "/attributes");
    assert!(
        missing["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cache_path")
    );
    assert!(missing["raw"].as_str().unwrap().starts_with("<EVENT>{"));
    let broken = dead.iter().find(|d| d["name"].is_null()).unwrap();
    assert_eq!(broken["errors"][0]["kind"], "malformed_json");
    assert_eq!(broken["raw"], "<EVENT>{broken</EVENT>");
    let hook = out.json();
    assert_eq!(hook["hookSpecificOutput"]["hookEventName"], "PostToolUse");
    let context = hook["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap();
    assert!(context.contains("rejected 2 events"), "{context}");
    assert!(
        context.contains(
            "urlCacher.cacheRequested: /attributes: \"cache_path\" is a required property"
        ),
        "{context}"
    );
}

#[test]
fn feedback_can_be_turned_off_and_is_not_repeated() {
    let env = Env::new();
    let bad = bash_payload("s", "t1", &marker("urlCacher.cacheRequested", json!({})));
    env.test()
        .args(&["publish", "--no-feedback"])
        .stdin(bad.clone())
        .stdout("")
        .run();
    // Already a dead letter: nothing new to tell.
    env.test().args(&["publish"]).stdin(bad).stdout("").run();
    let other = bash_payload("s", "t2", &marker("urlCacher.cacheRequested", json!({})));
    env.test()
        .args(&["publish"])
        .var("EVENT_PUBLISHER_FEEDBACK", "off")
        .stdin(other)
        .stdout("")
        .run();
    assert_eq!(env.dead_letters().len(), 2);
}

#[test]
fn names_never_escape_the_events_directory() {
    let env = Env::new();
    for name in [
        "../../escaped",
        "../x.y",
        "a/../../b.c",
        "/tmp/abs.x",
        "x.y/../../../z",
    ] {
        let m = format!("<EVENT>{}</EVENT>", json!({"name": name, "attributes": {}}));
        env.test()
            .args(&["publish"])
            .stdin(bash_payload("s", name, &m))
            .run();
    }
    assert!(env.records().is_empty());
    let dead = env.dead_letters();
    assert_eq!(dead.len(), 5);
    for d in &dead {
        assert_eq!(d["errors"][0]["kind"], "invalid_envelope");
    }
    let outside: Vec<_> = env
        .files(env.root())
        .into_iter()
        .filter(|f| {
            !f.starts_with("project/.events")
                && !f.starts_with("project/schemas")
                && !f.starts_with("home")
        })
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
}

#[test]
fn unknown_events_are_rejected_unless_accepted() {
    let env = Env::new();
    let m = marker("other.thing", json!({"x": 1}));
    env.test()
        .args(&["publish", "--no-feedback"])
        .stdin(bash_payload("s", "t1", &m))
        .run();
    assert_eq!(env.dead_letters()[0]["errors"][0]["kind"], "unknown_event");
    env.test()
        .args(&["--unknown-events", "accept", "publish"])
        .stdin(bash_payload("s", "t2", &m))
        .run();
    assert_eq!(env.records()[0]["name"], "other.thing");
}

#[test]
fn schemas_dir_can_be_moved_by_flag_env_and_config() {
    let env = Env::new();
    let elsewhere = env.root().join("elsewhere");
    std::fs::rename(env.project().join("schemas"), &elsewhere).unwrap();
    let m = marker("urlCacher.urlValidated", json!({"url": "u"}));
    env.test()
        .args(&["publish", "--no-feedback"])
        .stdin(bash_payload("s", "t1", &m))
        .run();
    assert_eq!(
        env.dead_letters().len(),
        1,
        "no schemas where expected: unknown"
    );
    env.test()
        .args(&["--schemas-dir"])
        .arg(&elsewhere)
        .args(&["publish"])
        .stdin(bash_payload("s", "t2", &m))
        .run();
    env.test()
        .args(&["publish"])
        .var("EVENT_PUBLISHER_SCHEMAS_DIR", &elsewhere)
        .stdin(bash_payload("s", "t3", &m))
        .run();
    std::fs::create_dir_all(env.project().join(".claude")).unwrap();
    std::fs::write(
        env.project().join(".claude/event-publisher.json"),
        r#"{"schemas_dir": "../elsewhere"}"#,
    )
    .unwrap();
    env.test()
        .args(&["publish"])
        .stdin(bash_payload("s", "t4", &m))
        .run();
    assert_eq!(env.records().len(), 3);
}

#[test]
fn events_dir_follows_the_payload_cwd_without_claude_project_dir() {
    let env = Env::new();
    let other = env.root().join("other-project");
    std::fs::create_dir_all(&other).unwrap();
    let mut payload: Value = serde_json::from_slice(&bash_payload(
        "s",
        "t1",
        &marker("urlCacher.urlValidated", json!({"url": "u"})),
    ))
    .unwrap();
    payload["cwd"] = json!(other);
    let mut t = env
        .test()
        .args(&["publish", "--unknown-events", "accept"])
        .stdin(serde_json::to_vec(&payload).unwrap());
    t = t.var("EVENT_PUBLISHER_SCHEMAS_DIR", env.project().join("schemas"));
    let mut cmd_env_cleared = t;
    cmd_env_cleared = cmd_env_cleared.var("CLAUDE_PROJECT_DIR", "");
    cmd_env_cleared.run();
    assert!(other.join(".events").is_dir());
    assert!(!env.events().exists());
}

#[test]
fn nothing_to_do_ends_quietly() {
    let env = Env::new();
    for input in [
        r#"{"hook_event_name":"PreToolUse","tool_input":{"command":"<EVENT>{}</EVENT>"}}"#
            .to_string(),
        r#"{"hook_event_name":"Notification","message":"hi"}"#.to_string(),
        String::from_utf8(bash_payload("s", "t", "no markers here")).unwrap(),
    ] {
        env.test()
            .args(&["publish"])
            .stdin(input)
            .stdout("")
            .stderr("")
            .run();
    }
    assert!(!env.events().exists());
}

#[test]
fn tool_input_is_never_scanned() {
    let env = Env::new();
    let mut payload = crate::test::bash_value("s", "t", "");
    payload["tool_input"] =
        json!({"command": marker("urlCacher.urlValidated", json!({"url": "u"}))});
    env.test()
        .args(&["publish"])
        .stdin(serde_json::to_vec(&payload).unwrap())
        .run();
    assert!(!env.events().exists());
}

#[test]
fn bad_input_exits_zero_with_one_line() {
    for input in [
        &b""[..],
        b"not json <EVENT>",
        b"[\"<EVENT>\"]",
        b"{\"tool_response\": <EVENT>",
    ] {
        let out = Test::new()
            .args(&["publish"])
            .stdin(input.to_vec())
            .stdout("")
            .run();
        assert!(
            out.stderr.is_empty()
                || (out.stderr.lines().count() == 1 && out.stderr.starts_with("event-publisher: ")),
            "{:?}",
            out.stderr
        );
    }
    Test::new()
        .args(&["publish"])
        .stdin(&b"[\"<EVENT>\"]"[..])
        .stderr("event-publisher: unreadable payload: expected a JSON object, got an array; no events stored\n")
        .run();
}

#[test]
fn caps_are_said_on_stderr() {
    let env = Env::new();
    let many = marker("urlCacher.urlValidated", json!({"url": "u"})).repeat(5);
    env.test()
        .args(&["publish", "--max-markers", "3"])
        .stdin(bash_payload("s", "t", &many))
        .stderr_has("stopped after 3 markers (max_markers)")
        .run();
    assert_eq!(env.records().len(), 3);
    let out = env
        .test()
        .args(&["publish", "--max-payload-bytes", "100"])
        .stdin(bash_payload("s", "t2", &many))
        .stderr_has("payload larger than 100 bytes (max_payload_bytes)")
        .run();
    assert_eq!(out.stderr.lines().count(), 1);
    let big = marker("urlCacher.urlValidated", json!({"url": "u".repeat(5000)}));
    env.test()
        .args(&["publish", "--max-marker-bytes", "1000", "--no-feedback"])
        .stdin(bash_payload("s", "t3", &big))
        .run();
    let dead = env.dead_letters();
    assert_eq!(dead[0]["errors"][0]["kind"], "marker_too_large");
    assert!(dead[0]["raw"].as_str().unwrap().len() <= 1000);
}

#[test]
fn an_unwritable_events_directory_is_reported_not_fatal() {
    let env = Env::new();
    std::fs::write(env.events(), "a file, not a directory").unwrap();
    env.test()
        .args(&["publish"])
        .stdin(bash_payload(
            "s",
            "t",
            &marker("urlCacher.urlValidated", json!({"url": "u"})),
        ))
        .stderr_has("refusing to write through it")
        .stderr_has("1 event(s) not stored")
        .run();
}

#[test]
fn a_bad_schema_file_is_reported_and_the_event_kept() {
    let env = Env::new();
    std::fs::write(
        env.project()
            .join("schemas/urlCacher.urlValidated.schema.json"),
        "{ not json",
    )
    .unwrap();
    env.test()
        .args(&["publish", "--no-feedback"])
        .stdin(bash_payload(
            "s",
            "t",
            &marker("urlCacher.urlValidated", json!({"url": "u"})),
        ))
        .stderr_has("urlCacher.urlValidated.schema.json is not JSON")
        .run();
    let dead = env.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["errors"][0]["kind"], "schema_unusable");
}

#[test]
fn transcripts_outside_the_roots_are_not_read() {
    let env = Env::new();
    let mut payload: Value =
        serde_json::from_slice(&env.payload(&format!("{BG}subagent-stop.json"))).unwrap();
    let outside = env.root().join("agent.jsonl");
    std::fs::copy(payload["agent_transcript_path"].as_str().unwrap(), &outside).unwrap();
    payload["agent_transcript_path"] = json!(outside);
    env.test()
        .args(&["publish"])
        .stdin(serde_json::to_vec(&payload).unwrap())
        .stderr_has("is outside the transcript roots")
        .run();
    // The report itself still came through last_assistant_message.
    assert_eq!(env.records().len(), 2);
}

#[test]
fn fifty_hooks_at_once_lose_and_duplicate_nothing() {
    let env = Env::new();
    let fixtures = [
        "post-tool-use-bash-in-subagent",
        "post-tool-use-agent",
        "subagent-stop",
    ];
    let mut children = Vec::new();
    for i in 0..50 {
        let (bytes, cmd) = if i % 5 == 4 {
            // Distinct events too: each of these prints one of its own.
            let m = marker("urlCacher.urlValidated", json!({"url": format!("u{i}")}));
            let t = env.test().args(&["publish"]);
            (
                bash_payload("e0d02c63-fe6e-4116-bbe1-d984038ca784", &format!("t{i}"), &m),
                t.command(),
            )
        } else {
            let f = format!("{FG}{}.json", fixtures[i % 3]);
            (env.payload(&f), env.test().args(&["publish"]).command())
        };
        let mut cmd = cmd;
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        children.push(child);
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    }
    let records = env.records();
    assert_eq!(records.len(), 3 + 10);
    let mut ids: Vec<_> = records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 13);
    let leftovers: Vec<_> = env
        .files(&env.events())
        .into_iter()
        .filter(|f| f.to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The environment is read once per hook call, before the payload; what it
/// holds that cannot be used is still said, once, and the rest applies.
#[test]
fn unusable_environment_values_are_said_once_and_the_rest_applies() {
    let env = Env::new();
    let out = env
        .test()
        .args(&["publish", "-v"])
        .var("EVENT_PUBLISHER_MAX_MARKERS", "many")
        .var("EVENT_PUBLISHER_UNKNOWN_EVENTS", "accept")
        .stdin(bash_payload(
            "s-env",
            "toolu_env",
            &marker("other.thing", json!({"k": 1})),
        ))
        .stderr_has("EVENT_PUBLISHER_MAX_MARKERS=\"many\" is not a whole number; ignored")
        .run();
    assert_eq!(
        out.stderr.matches("is not a whole number").count(),
        1,
        "{}",
        out.stderr
    );
    let records = env.records();
    assert_eq!(records.len(), 1, "{}", out.stderr);
    assert_eq!(records[0]["name"], "other.thing");
}
