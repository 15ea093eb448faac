//! Every hook path Claude Code 2.1.328 takes: failed tool calls
//! (PostToolUseFailure), transcripts that are still being written at
//! SubagentStop, and the session's own lifecycle, on captured payloads.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::test::Env;

const LC: &str = "claude-code-2.1.328/lifecycle/";

fn publish(env: &Env, payload: impl Into<Vec<u8>>) -> String {
    env.test().args(&["publish"]).stdin(payload).run().stdout
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
    let out = env.test().arg("replay").arg(&path).run();
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
