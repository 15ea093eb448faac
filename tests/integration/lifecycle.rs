//! Every hook path Claude Code 2.1.328 takes: failed tool calls
//! (PostToolUseFailure), transcripts that are still being written at
//! SubagentStop, and the session's own lifecycle, on captured payloads.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::collector::{Collector, nanos};
use crate::test::{Env, Test};

const LC: &str = "claude-code-2.1.328/lifecycle/";

/// Publishes with the default settings (the harness turns lifecycle
/// records off for the other modules).
fn publish(env: &Env, payload: impl Into<Vec<u8>>) -> String {
    on(env).args(&["publish"]).stdin(payload).run().stdout
}

fn on(env: &Env) -> Test {
    env.test().var("EVENT_PUBLISHER_LIFECYCLE", "")
}

fn fixture(env: &Env, name: &str) -> Vec<u8> {
    env.payload(&format!("{LC}{name}"))
}

/// The records that are not lifecycle records.
fn markers(env: &Env) -> Vec<Value> {
    env.records()
        .into_iter()
        .filter(|r| !r["name"].as_str().unwrap().starts_with("claudeCode."))
        .collect()
}

#[test]
fn a_failed_bash_call_in_the_main_agent_stores_its_marker_once() {
    let env = Env::new();
    publish(&env, fixture(&env, "main-post-tool-use-failure-bash.json"));
    let records = markers(&env);
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = &records[0];
    assert_eq!(r["name"], "urlCacher.cacheCheckStarted");
    assert_eq!(r["source"]["hook_event_name"], "PostToolUseFailure");
    assert_eq!(r["source"]["tool_use_id"], "toolu_0000mbash");
    assert_eq!(r["source"]["tool_name"], "Bash");
    assert!(r["source"]["agent_id"].is_null());
    assert!(r["parent_span_id"].is_null(), "the main agent's span");
    // Published again: nothing new.
    publish(&env, fixture(&env, "main-post-tool-use-failure-bash.json"));
    assert_eq!(markers(&env).len(), 1);
}

/// A session's transcript directory under the sandbox's projects.
fn session_dir(env: &Env, session: &str) -> PathBuf {
    env.home()
        .join(".claude/projects/-home-dev-project")
        .join(session)
}

fn write_lines(path: &Path, lines: &[Value]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut text = String::new();
    for l in lines {
        text.push_str(&l.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// The transcript lines of a Bash call that failed, as Claude Code 2.1.328
/// writes them (tool result `is_error`, `toolUseResult` a string).
fn failed_call_lines(payload: &Value, ts: &str) -> Vec<Value> {
    let agent = &payload["agent_id"];
    let call = &payload["tool_use_id"];
    vec![
        json!({"type": "assistant", "agentId": agent, "sessionId": payload["session_id"], "timestamp": ts,
               "message": {"id": "msg_call", "role": "assistant", "content": [
                   {"type": "tool_use", "id": call, "name": "Bash", "input": payload["tool_input"]}]}}),
        json!({"type": "user", "agentId": agent, "sessionId": payload["session_id"], "timestamp": ts,
               "promptId": payload["prompt_id"],
               "message": {"role": "user", "content": [
                   {"type": "tool_result", "content": payload["error"], "is_error": true, "tool_use_id": call}]},
               "toolUseResult": format!("Error: {}", payload["error"].as_str().unwrap())}),
    ]
}

#[test]
fn a_failed_bash_call_in_a_subagent_has_the_runs_span_and_replays_ids() {
    let env = Env::new();
    let bytes = fixture(&env, "subagent-post-tool-use-failure-bash.json");
    let payload: Value = serde_json::from_slice(&bytes).unwrap();
    publish(&env, bytes);
    let records = markers(&env);
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = &records[0];
    assert_eq!(r["source"]["agent_id"], "ad4950a588b037230");
    assert_eq!(r["source"]["agent_type"], "url-cacher");
    assert!(r["parent_span_id"].is_string(), "a subagent run's span");

    // The same call read from the subagent's transcript is the same event.
    let session = payload["session_id"].as_str().unwrap();
    let path = session_dir(&env, session).join("subagents/agent-ad4950a588b037230.jsonl");
    write_lines(
        &path,
        &failed_call_lines(&payload, "2026-01-01T00:00:00.000Z"),
    );
    let out = on(&env).arg("replay").arg(&path).run();
    assert!(
        out.stdout.contains("0 events stored") && out.stdout.contains("1 already present"),
        "{}",
        out.stdout
    );
    assert_eq!(markers(&env).len(), 1);
}

#[test]
fn a_failed_call_gets_feedback_under_its_own_hook_name() {
    let env = Env::new();
    let mut payload: Value =
        serde_json::from_slice(&fixture(&env, "main-post-tool-use-failure-bash.json")).unwrap();
    payload["error"] = json!(
        "Exit code 1\n<EVENT>{\"name\": \"urlCacher.cacheRequested\", \"attributes\": {}}</EVENT>"
    );
    let out = publish(&env, serde_json::to_vec(&payload).unwrap());
    let hook: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        hook["hookSpecificOutput"]["hookEventName"],
        "PostToolUseFailure"
    );
    assert!(
        hook["hookSpecificOutput"]["additionalContext"]
            .as_str()
            .unwrap()
            .contains("rejected 1 event")
    );
}

/// The lifecycle records, by name.
fn lifecycle_records(env: &Env) -> Vec<Value> {
    let mut r: Vec<Value> = env
        .records()
        .into_iter()
        .filter(|r| r["name"].as_str().unwrap().starts_with("claudeCode."))
        .collect();
    r.sort_by_key(|r| r["name"].as_str().unwrap().to_string());
    r
}

const ALL: [&str; 7] = [
    "session-start.json",
    "subagent-start.json",
    "pre-tool-use-bash-in-subagent.json",
    "subagent-post-tool-use-failure-bash.json",
    "main-post-tool-use-failure-bash.json",
    "user-prompt-submit.json",
    "session-end.json",
];

#[test]
fn each_lifecycle_hook_is_one_record_in_any_order() {
    let env = Env::new();
    for f in ALL {
        publish(&env, fixture(&env, f));
    }
    let records = lifecycle_records(&env);
    let names: Vec<&str> = records
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "claudeCode.sessionEnded",
            "claudeCode.sessionStarted",
            "claudeCode.subagentStarted",
            "claudeCode.toolFailed",
            "claudeCode.toolFailed"
        ]
    );
    assert_eq!(records[0]["attributes"], json!({"reason": "other"}));
    assert_eq!(records[1]["attributes"], json!({"source": "startup"}));
    let started = &records[2];
    assert_eq!(started["attributes"], json!({"agent_type": "url-cacher"}));
    assert_eq!(started["source"]["agent_id"], "ad4950a588b037230");
    // The run's span: the one the subagent's events carry.
    let failed_in_run = records
        .iter()
        .find(|r| r["name"] == "claudeCode.toolFailed" && r["source"]["agent_id"].is_string())
        .unwrap();
    assert_eq!(started["span_id"], failed_in_run["span_id"]);
    assert_eq!(
        failed_in_run["attributes"],
        json!({"tool_name": "Bash", "duration_ms": 98, "is_interrupt": false, "error": "Exit code 1"})
    );
    let run_marker = markers(&env)
        .into_iter()
        .find(|r| r["source"]["agent_id"] == "ad4950a588b037230")
        .unwrap();
    assert_eq!(run_marker["span_id"], started["span_id"]);
    assert_eq!(run_marker["trace_id"], started["trace_id"]);

    // Every hook input again, in the reverse order: nothing new.
    let before = env.files(&env.events()).len();
    for f in ALL.iter().rev() {
        publish(&env, fixture(&env, f));
    }
    assert_eq!(env.files(&env.events()).len(), before);
    assert!(env.dead_letters().is_empty());
}

#[test]
fn lifecycle_false_stores_no_lifecycle_record() {
    let env = Env::new();
    for f in ALL {
        env.test()
            .args(&["publish"])
            .var("EVENT_PUBLISHER_LIFECYCLE", "false")
            .stdin(fixture(&env, f))
            .stdout("")
            .stderr("")
            .run();
    }
    assert!(lifecycle_records(&env).is_empty());
    assert_eq!(
        markers(&env).len(),
        2,
        "the failed calls' markers still are"
    );
}

#[test]
fn hooks_this_tool_does_not_use_store_nothing_and_say_so() {
    let env = Env::new();
    for f in [
        "user-prompt-submit.json",
        "pre-tool-use-bash-in-subagent.json",
    ] {
        on(&env)
            .args(&["publish", "-v"])
            .stdin(fixture(&env, f))
            .stdout("")
            .stderr("event-publisher: no markers in this payload; nothing stored\n")
            .run();
    }
    assert!(!env.events().exists(), "not even the events directory");
}

#[test]
fn agents_cannot_print_the_reserved_name_space() {
    let env = Env::new();
    let m = "<EVENT>{\"name\": \"claudeCode.sessionEnded\", \"attributes\": {\"reason\": \"fake\"}}</EVENT>";
    let payload = crate::test::bash_value("s", "t", m);
    let out = publish(&env, serde_json::to_vec(&payload).unwrap());
    assert!(lifecycle_records(&env).is_empty());
    let dead = env.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["errors"][0]["kind"], "reserved_name");
    let message = dead[0]["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("reserved"), "{message}");
    assert!(out.contains("reserved"), "the agent is told: {out}");
}

const M1: &str = "<EVENT>{\"name\": \"urlCacher.cacheCheckStarted\", \"attributes\": {\"url\": \"u\", \"cache_path\": \"c\"}}</EVENT>";
const M2: &str =
    "<EVENT>{\"name\": \"urlCacher.urlValidated\", \"attributes\": {\"url\": \"u\"}}</EVENT>";
const M3: &str = "<EVENT>{\"name\": \"urlCacher.cacheRequested\", \"attributes\": {\"url\": \"u\", \"cache_path\": \"c\"}}</EVENT>";

/// A subagent run as its transcript records it: a Bash call whose result
/// prints M1 (no hook saw it), a message printing M2, the report printing M3.
fn subagent_lines(session: &str, agent: &str) -> Vec<Value> {
    let line = |kind: &str, ts: &str, message: Value| {
        json!({"type": kind, "agentId": agent, "sessionId": session, "promptId": "p1",
               "timestamp": ts, "message": message})
    };
    vec![
        line(
            "user",
            "2026-01-01T00:00:01.000Z",
            json!({"role": "user", "content": "cache u"}),
        ),
        line(
            "assistant",
            "2026-01-01T00:00:02.000Z",
            json!({"id": "msg_1", "role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_late", "name": "Bash", "input": {"command": "echo"}}]}),
        ),
        line(
            "user",
            "2026-01-01T00:00:03.000Z",
            json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_late", "content": M1}]}),
        ),
        line(
            "assistant",
            "2026-01-01T00:00:04.000Z",
            json!({"id": "msg_2", "role": "assistant", "content": [{"type": "text", "text": format!("checked {M2}")}]}),
        ),
        line(
            "assistant",
            "2026-01-01T00:00:05.000Z",
            json!({"id": "msg_3", "role": "assistant", "content": [{"type": "text", "text": format!("Cached. {M3}")}]}),
        ),
    ]
}

/// The paths of a session's main transcript and of one subagent's, as
/// Claude Code lays them out (the subagents folder created).
fn transcripts(env: &Env, session: &str, agent: &str) -> (PathBuf, PathBuf) {
    let main = session_dir(env, session).with_extension("jsonl");
    let sub = session_dir(env, session).join(format!("subagents/agent-{agent}.jsonl"));
    std::fs::create_dir_all(sub.parent().unwrap()).unwrap();
    (main, sub)
}

fn jsonl(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn a_transcript_finished_after_subagent_stop_is_read_by_the_next_stop_once() {
    let env = Env::new();
    let (session, agent) = ("late-session", "alate");
    let (main, sub) = transcripts(&env, session, agent);
    let lines = subagent_lines(session, agent);
    let all = jsonl(&lines);
    // At SubagentStop, Claude Code has written two lines and half the third.
    let cut = jsonl(&lines[..2]).len() + 40;
    std::fs::write(&sub, &all[..cut]).unwrap();
    std::fs::write(
        &main,
        jsonl(&[
            json!({"type": "user", "sessionId": session, "promptId": "p1", "timestamp": "2026-01-01T00:00:00.000Z",
                   "message": {"role": "user", "content": "go"}}),
            json!({"type": "assistant", "sessionId": session, "timestamp": "2026-01-01T00:00:06.000Z",
                   "message": {"id": "msg_main", "role": "assistant", "content": [{"type": "text", "text": "Finished."}]}}),
        ]),
    )
    .unwrap();
    let hook = |name: &str, extra: Value| {
        let mut p = json!({"session_id": session, "prompt_id": "p1", "cwd": "/home/dev/project",
            "transcript_path": main, "hook_event_name": name});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        serde_json::to_vec(&p).unwrap()
    };
    let subagent_stop = hook(
        "SubagentStop",
        json!({"agent_id": agent, "agent_type": "url-cacher", "agent_transcript_path": sub,
               "last_assistant_message": format!("Cached. {M3}")}),
    );
    publish(&env, subagent_stop.clone());
    let names = |env: &Env| -> Vec<String> {
        let mut n: Vec<String> = markers(env)
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&env), ["urlCacher.cacheRequested"], "the report only");

    // Claude Code finishes the transcript; the main agent stops.
    std::fs::write(&sub, &all).unwrap();
    let stop = hook("Stop", json!({"last_assistant_message": "Finished."}));
    publish(&env, stop.clone());
    assert_eq!(
        names(&env),
        [
            "urlCacher.cacheCheckStarted",
            "urlCacher.cacheRequested",
            "urlCacher.urlValidated"
        ],
        "each once"
    );
    let late = markers(&env)
        .into_iter()
        .find(|r| r["name"] == "urlCacher.cacheCheckStarted")
        .unwrap();
    assert_eq!(late["source"]["tool_use_id"], "toolu_late");
    assert_eq!(late["source"]["agent_id"], agent);
    assert_eq!(late["timestamp"], "2026-01-01T00:00:03.000Z");

    // The ids are replay's: replaying the whole tree adds nothing.
    let out = on(&env).arg("replay").arg(&main).arg(&sub).run();
    assert!(out.stdout.contains(" 0 events stored"), "{}", out.stdout);

    // The session ends; then every hook input again, in another order.
    let end = hook("SessionEnd", json!({"reason": "other"}));
    let before = names(&env);
    for p in [end.clone(), stop, subagent_stop, end] {
        publish(&env, p);
    }
    assert_eq!(names(&env), before);
    assert!(env.dead_letters().is_empty());
}

#[test]
fn nothing_new_in_the_transcripts_reads_nothing() {
    let env = Env::new();
    let (session, agent) = ("quiet-session", "aquiet");
    let (main, sub) = transcripts(&env, session, agent);
    std::fs::write(&sub, jsonl(&subagent_lines(session, agent))).unwrap();
    std::fs::write(&main, "").unwrap();
    let stop = serde_json::to_vec(&json!({"session_id": session, "prompt_id": "p1",
        "transcript_path": main, "hook_event_name": "Stop", "last_assistant_message": "Finished."}))
    .unwrap();
    on(&env)
        .args(&["publish", "-v"])
        .stdin(stop.clone())
        .stderr("event-publisher: 2 markers: 2 stored (0 invalid), 0 already present\n")
        .run();
    // The subagent's last message waits for its SubagentStop or the session's end.
    on(&env)
        .args(&["publish", "-v"])
        .stdin(stop)
        .stderr("event-publisher: no markers in this payload; nothing stored\n")
        .run();
}

/// A captured payload moved into session `session`.
fn in_session(env: &Env, name: &str, session: &str) -> Vec<u8> {
    let mut p: Value = serde_json::from_slice(&fixture(env, name)).unwrap();
    p["session_id"] = session.into();
    serde_json::to_vec(&p).unwrap()
}

fn record_named<'a>(records: &'a [Value], name: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn spans_take_their_times_from_the_lifecycle_and_go_once() {
    let Some(collector) = Collector::start() else {
        return;
    };
    let env = Env::new();
    let session = "e86e65b6-cf02-481c-a3de-6bbdb57491d6";
    let mut stop: Value = serde_json::from_slice(&fixture(&env, "subagent-start.json")).unwrap();
    stop["hook_event_name"] = "SubagentStop".into();
    stop["last_assistant_message"] = "Cached.".into();
    let payloads = [
        in_session(&env, "session-start.json", session),
        fixture(&env, "subagent-start.json"),
        fixture(&env, "subagent-post-tool-use-failure-bash.json"),
        serde_json::to_vec(&stop).unwrap(),
        in_session(&env, "main-post-tool-use-failure-bash.json", session),
        in_session(&env, "session-end.json", session),
    ];
    let send = |p: &Vec<u8>| {
        on(&env)
            .args(&["publish"])
            .var("EVENT_PUBLISHER_OTLP_ENDPOINT", collector.http())
            .stdin(p.clone())
            .stderr("")
            .run();
    };
    for p in &payloads {
        send(p);
    }
    // 2 markers and 6 lifecycle records; 2 failed calls, 1 run, the
    // session and its main agent.
    let got = collector.wait_for(8, 5);
    assert_eq!((got.logs.len(), got.spans.len()), (8, 5));
    let records = env.records();
    let time = |name: &str| nanos(record_named(&records, name)["timestamp"].as_str().unwrap());

    let run = got.span("invoke_agent url-cacher");
    assert_eq!(run.start, time("claudeCode.subagentStarted"));
    assert_eq!(run.end, time("claudeCode.subagentStopped"));
    assert_eq!(
        run.span_id,
        record_named(&records, "claudeCode.subagentStarted")["span_id"]
    );
    let s = got.span("session");
    assert_eq!(s.start, time("claudeCode.sessionStarted"));
    assert_eq!(s.end, time("claudeCode.sessionEnded"));
    assert_eq!(s.parent_id, "");
    let main = got.span("invoke_agent main");
    assert_eq!(main.parent_id, s.span_id);
    assert_eq!(run.parent_id, main.span_id);
    let tools: Vec<_> = got
        .spans
        .iter()
        .filter(|s| s.name == "execute_tool Bash")
        .collect();
    assert_eq!(tools.len(), 2);
    for t in &tools {
        assert_eq!(t.status, "STATUS_CODE_ERROR", "{t:?}");
    }
    let in_run = tools.iter().find(|t| t.parent_id == run.span_id).unwrap();
    assert_eq!(in_run.end - in_run.start, 98_000_000, "duration_ms");

    // Every hook again, in another order: nothing is sent twice.
    for p in payloads.iter().rev() {
        send(p);
    }
    let again = collector.wait_for(8, 5);
    assert_eq!((again.logs.len(), again.spans.len()), (8, 5));
}

/// Session e86e65b6's lifecycle: run `ad4950a588b037230` started, failed a
/// Bash call and stopped; run `b2` started and never stopped; the main
/// agent's Bash call failed.
fn lifecycle_session(env: &Env) -> &'static str {
    let session = "e86e65b6-cf02-481c-a3de-6bbdb57491d6";
    let start: Value = serde_json::from_slice(&fixture(env, "subagent-start.json")).unwrap();
    let mut stop = start.clone();
    stop["hook_event_name"] = "SubagentStop".into();
    let mut other = start.clone();
    other["agent_id"] = "b2".into();
    for p in [
        in_session(env, "session-start.json", session),
        serde_json::to_vec(&start).unwrap(),
        fixture(env, "subagent-post-tool-use-failure-bash.json"),
        serde_json::to_vec(&stop).unwrap(),
        serde_json::to_vec(&other).unwrap(),
        in_session(env, "main-post-tool-use-failure-bash.json", session),
    ] {
        publish(env, p);
    }
    session
}

#[test]
fn stats_gives_run_durations_by_type_and_failures_by_tool() {
    let env = Env::new();
    lifecycle_session(&env);
    let stats = on(&env).args(&["stats", "--json"]).run().json();
    let runs = stats["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{stats:#}");
    assert_eq!(runs[0]["name"], "url-cacher");
    assert_eq!(runs[0]["pairs"], 1);
    assert_eq!(runs[0]["unfinished"], 1, "run b2 never stopped");
    assert_eq!(
        stats["failures_by_tool"],
        json!([{"key": "Bash", "count": 2}])
    );
    // Lifecycle records are no start/finish pair of their own.
    assert!(
        stats["durations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| !d["name"].as_str().unwrap().starts_with("claudeCode."))
    );
    let text = on(&env).args(&["stats"]).run().stdout;
    assert!(text.contains("subagent runs by agent type"), "{text}");
    assert!(text.contains("1 never stopped"), "{text}");
    assert!(text.contains("failed tool calls by tool"), "{text}");
}

#[test]
fn trace_times_runs_by_their_lifecycle_and_shows_a_run_that_never_stopped() {
    let env = Env::new();
    let session = lifecycle_session(&env);
    let records = env.records();
    let trees = on(&env).args(&["trace", session, "--json"]).run().json();
    let runs = trees[0]["runs"].as_array().unwrap();
    let run = |agent: &str| {
        runs.iter()
            .find(|r| r["agent_id"] == agent)
            .unwrap_or_else(|| panic!("no run {agent} in {runs:#?}"))
    };
    let done = run("ad4950a588b037230");
    assert_eq!(done["never_stopped"], false);
    assert_eq!(
        done["start"],
        record_named(&records, "claudeCode.subagentStarted")["timestamp"]
    );
    let stopped = records
        .iter()
        .find(|r| r["name"] == "claudeCode.subagentStopped")
        .unwrap();
    let ms = |ts: &Value| (nanos(ts.as_str().unwrap()) / 1_000_000) as i64;
    assert_eq!(
        done["duration_ms"].as_i64().unwrap(),
        ms(&stopped["timestamp"]) - ms(&done["start"])
    );
    assert_eq!(run("b2")["never_stopped"], true);
    let text = on(&env).args(&["trace", session]).run().stdout;
    assert!(text.contains("url-cacher b2"), "{text}");
    assert!(text.contains("never stopped"), "{text}");
    assert!(text.contains("claudeCode.toolFailed"), "{text}");
}

#[test]
fn the_session_end_reads_a_report_kept_back_at_stop() {
    let env = Env::new();
    let (session, agent) = ("end-session", "aend");
    let (main, sub) = transcripts(&env, session, agent);
    std::fs::write(&sub, jsonl(&subagent_lines(session, agent))).unwrap();
    std::fs::write(&main, "").unwrap();
    let hook = |name: &str| {
        serde_json::to_vec(&json!({"session_id": session, "prompt_id": "p1",
            "transcript_path": main, "hook_event_name": name, "last_assistant_message": "Finished."}))
        .unwrap()
    };
    // No SubagentStop reached us: Stop cannot know the run's last message is its report.
    publish(&env, hook("Stop"));
    assert_eq!(markers(&env).len(), 2);
    publish(&env, hook("SessionEnd"));
    let records = markers(&env);
    assert_eq!(records.len(), 3);
    let report = record_named(&records, "urlCacher.cacheRequested");
    assert_eq!(report["source"]["agent_id"], agent);
    let out = on(&env).arg("replay").arg(&main).arg(&sub).run();
    assert!(out.stdout.contains(" 0 events stored"), "{}", out.stdout);
}
