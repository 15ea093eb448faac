//! A hostile repository and a hostile agent (issue 13): what a cloned
//! project's files and an agent's markers must never achieve. Each test is
//! one attempt from the threat model in the README.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::test::Env;

const BASH: &str = "claude-code-2.1.328/foreground-post-tool-use-bash-in-subagent.json";

/// An HTTP server that answers every request `200 OK` (an empty OTLP
/// answer: accepted) and keeps each request's head (request line and
/// headers) and path, so a test can see what was sent where.
struct Catcher {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Catcher {
    fn start() -> Catcher {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let kept = heads.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut head = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                kept.lock().unwrap().push(head);
                let _ = reader.get_mut().write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Catcher { port, heads }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

fn write_project_file(env: &Env, value: serde_json::Value) {
    std::fs::create_dir_all(env.project().join(".claude")).unwrap();
    std::fs::write(
        env.project().join(".claude/event-publisher.json"),
        value.to_string(),
    )
    .unwrap();
}

fn write_user_file(env: &Env, value: serde_json::Value) {
    let dir = env.root().join("config/event-publisher");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), value.to_string()).unwrap();
}

// Finding 1: credentials follow a project endpoint.

#[test]
fn user_headers_never_go_to_an_endpoint_a_project_file_set() {
    let user = Catcher::start();
    let project = Catcher::start();
    let env = Env::new();
    write_user_file(
        &env,
        json!({"otlp": {"endpoint": user.url(), "headers": {"authorization": "Bearer USER-SECRET"}}}),
    );
    write_project_file(&env, json!({"otlp": {"endpoint": project.url()}}));
    let out = env.test().args(&["publish"]).fixture(BASH).run();
    let got = project.heads();
    assert!(
        got.iter().any(|h| h.starts_with("POST /v1/logs")),
        "the project's endpoint gets the project's events: {got:?}\n{}",
        out.stderr
    );
    for h in &got {
        assert!(!h.contains("USER-SECRET"), "credentials leaked: {h}");
    }
    assert!(
        out.stderr.contains("endpoint set by the project file"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("USER-SECRET"), "{}", out.stderr);
}

#[test]
fn environment_headers_never_go_to_a_per_signal_endpoint_a_project_file_set() {
    let trusted = Catcher::start();
    let project = Catcher::start();
    let env = Env::new();
    write_project_file(
        &env,
        json!({"otlp": {"logs_endpoint": format!("{}/v1/logs", project.url()),
                        "traces_endpoint": format!("{}/v1/traces", project.url()),
                        "headers": {"x-project": "p"}}}),
    );
    env.test()
        .args(&["publish"])
        .var("EVENT_PUBLISHER_OTLP_ENDPOINT", trusted.url())
        .var(
            "EVENT_PUBLISHER_OTLP_HEADERS",
            "authorization=Bearer%20ENV-SECRET",
        )
        .fixture(BASH)
        .run();
    let got = project.heads();
    assert!(got.len() >= 2, "logs and traces: {got:?}");
    for h in &got {
        assert!(!h.contains("ENV-SECRET"), "credentials leaked: {h}");
        // The project's own headers go with the project's own endpoint.
        assert!(h.contains("x-project: p"), "{h}");
    }
    assert!(trusted.heads().is_empty());
}

#[test]
fn user_headers_still_go_to_the_users_endpoint() {
    let user = Catcher::start();
    let env = Env::new();
    write_user_file(
        &env,
        json!({"otlp": {"endpoint": user.url(), "headers": {"authorization": "Bearer USER-SECRET"}}}),
    );
    // A project file that sets other OTLP keys changes nothing about that.
    write_project_file(&env, json!({"otlp": {"service_name": "proj"}}));
    env.test().args(&["publish"]).fixture(BASH).stderr("").run();
    let got = user.heads();
    assert!(!got.is_empty());
    for h in &got {
        assert!(h.contains("authorization: Bearer USER-SECRET"), "{h}");
    }
}

// Finding 3: every string that reaches a sink or the spool is redacted.

const GH: &str = "ghp_R4nd0mT0k3nV4lu3Xy9Zq8Wv7Ut6Sr5Qp4On3";
const SLACK: &str = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx";
const AWS: &str = "AKIAIOSFODNN7EXAMPLE";

fn bash_payload(stdout: &str, cwd: &str) -> Vec<u8> {
    let mut payload = crate::test::bash_value("s-hostile", "toolu_hostile", stdout);
    payload["cwd"] = json!(cwd);
    serde_json::to_vec(&payload).unwrap()
}

fn marker(event: serde_json::Value) -> String {
    format!("<EVENT>{event}</EVENT>")
}

/// Every byte under `.events/`, spool included, as text.
fn everything_stored(env: &Env) -> String {
    env.files(&env.events())
        .iter()
        .map(|f| String::from_utf8_lossy(&std::fs::read(env.events().join(f)).unwrap()).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn schema_messages_keys_paths_and_source_are_redacted_in_the_store_and_the_spool() {
    let env = Env::new();
    // A schema error quoting a secret value, a secret as a key (an
    // instance_path), a secret key in an accepted event, a secret in the cwd.
    let quoted = marker(json!({"name": "urlCacher.cacheRequested", "attributes": {
        "url": {"href": format!("https://x/?key={GH}")}, "cache_path": "/c"}}));
    let key = marker(json!({"name": "urlCacher.cacheRequested", "attributes": {
        "url": "https://x/", "cache_path": "/c", SLACK: "v"}}));
    let accepted = marker(json!({"name": "other.thing", "attributes": {
        "nested": {AWS: 1}, SLACK: "v"}}));
    let out = env
        .test()
        .args(&["publish", "--no-feedback", "--unknown-events", "accept"])
        .var("EVENT_PUBLISHER_OTLP_ENDPOINT", "http://127.0.0.1:1")
        .stdin(bash_payload(
            &format!("{quoted}\n{key}\n{accepted}"),
            &format!("/home/u/{GH}/project"),
        ))
        .run();
    assert_eq!(env.dead_letters().len(), 2, "{}", out.stderr);
    assert_eq!(env.records().len(), 1);
    let spooled = crate::collector::spool_files(&env.events());
    assert!(!spooled.is_empty(), "the requests wait in the spool");
    let all = everything_stored(&env);
    for secret in [GH, SLACK, AWS] {
        assert!(!all.contains(secret), "{secret} stored or spooled:\n{all}");
    }
    assert!(all.contains("[REDACTED:github_token]"));
    assert!(all.contains("[REDACTED:slack_token]"));
    assert!(all.contains("[REDACTED:aws_access_key_id]"));
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains(GH) && !text.contains(SLACK), "{text}");
    }
}

// Finding 8: no secret in any message.

#[test]
fn an_endpoint_query_string_is_never_shown_and_the_path_goes_before_it() {
    let catcher = Catcher::start();
    let env = Env::new();
    env.test()
        .args(&["publish", "-v"])
        .var(
            "EVENT_PUBLISHER_OTLP_ENDPOINT",
            format!("{}?api_key=Q5ECRETQ", catcher.url()),
        )
        .fixture(BASH)
        .run();
    let got = catcher.heads();
    assert!(
        got.iter()
            .any(|h| h.starts_with("POST /v1/logs?api_key=Q5ECRETQ ")),
        "{got:?}"
    );
    // Down, the failure names the endpoint without its query.
    let env = Env::new();
    let out = env
        .test()
        .args(&["publish", "-v"])
        .var(
            "EVENT_PUBLISHER_OTLP_ENDPOINT",
            "http://127.0.0.1:1/base?api_key=Q5ECRETQ#frag",
        )
        .fixture(BASH)
        .stderr_has("otlp export failed")
        .stderr_has("http://127.0.0.1:1/base/v1/logs")
        .run();
    let flush = env
        .test()
        .args(&["flush"])
        .var(
            "EVENT_PUBLISHER_OTLP_ENDPOINT",
            "https://127.0.0.1:1/?api_key=Q5ECRETQ",
        )
        .status(None)
        .run();
    let state = std::fs::read_to_string(env.events().join(".spool/state.json")).unwrap();
    for text in [&out.stderr, &flush.stdout, &flush.stderr, &state] {
        assert!(!text.contains("Q5ECRETQ"), "{text}");
    }
}

#[test]
fn headers_in_the_wrong_form_are_reported_without_their_value() {
    for headers in [
        json!("authorization=Bearer W5ECRETW"),
        json!(["authorization=Bearer W5ECRETW"]),
        json!({"authorization": ["Bearer W5ECRETW"]}),
    ] {
        let env = Env::new();
        write_project_file(
            &env,
            json!({"otlp": {"endpoint": "http://127.0.0.1:1", "headers": headers}}),
        );
        let out = env
            .test()
            .args(&["publish"])
            .fixture(BASH)
            .stderr_has("headers")
            .run();
        assert!(!out.stderr.contains("W5ECRETW"), "{}", out.stderr);
    }
}

// Finding 7: a planted spool file costs a bounded amount of work, once.

#[test]
fn planted_spool_bombs_are_set_aside_unread_and_not_retried() {
    let catcher = Catcher::start();
    let env = Env::new();
    let spool = env.events().join(".spool");
    std::fs::create_dir_all(&spool).unwrap();
    // Too large to read (past the cap), and small but a decompression bomb
    // (500,000 empty resources), and not protobuf at all.
    let big = "0000000000001-1-0.1.logs.pb";
    let dense = "0000000000002-1-0.1.logs.pb";
    let junk = "0000000000003-1-0.1.traces.pb";
    std::fs::write(spool.join(big), [0x0a, 0x00].repeat(10 << 20)).unwrap();
    std::fs::write(spool.join(dense), [0x0a, 0x00].repeat(500_000)).unwrap();
    std::fs::write(spool.join(junk), b"\xff\xff\xff\xff").unwrap();
    // The planted state says they wait to be sent.
    std::fs::write(spool.join("state.json"), r#"{"files": 3}"#).unwrap();
    let run = |env: &Env| {
        env.test()
            .args(&["publish"])
            .var("EVENT_PUBLISHER_OTLP_ENDPOINT", catcher.url())
            .fixture(BASH)
            .run()
    };
    let out = run(&env);
    for name in [big, dense, junk] {
        assert!(
            spool.join("rejected").join(name).exists(),
            "{name} not set aside: {}",
            out.stderr
        );
    }
    assert!(out.stderr.contains(big), "{}", out.stderr);
    // Nothing of them was sent: only this hook's two small requests.
    let heads = catcher.heads();
    assert_eq!(heads.len(), 2, "{heads:?}");
    for h in &heads {
        let length: usize = h
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(length < 10_000, "{h}");
    }
    // The next hook does not meet them again.
    let again = run(&env);
    assert!(!again.stderr.contains(big), "{}", again.stderr);
}

// Finding 5: what an agent prints never reaches a terminal as a control
// sequence; JSON output stays JSON.

const ESC: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J";

fn no_controls(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(bad.is_empty(), "{what} printed {bad:?}:\n{text}");
}

#[test]
fn control_characters_are_escaped_in_every_human_view() {
    let env = Env::new();
    let payload = serde_json::to_vec(&json!({
        "session_id": "s-esc", "hook_event_name": "PostToolUse", "tool_name": "Bash",
        "tool_use_id": "toolu_esc", "tool_input": {"command": "echo"},
        "agent_id": "a-esc", "agent_type": format!("evil{ESC}"),
        "tool_response": {"stdout": format!(
            "{}\n{}",
            marker(json!({"name": "esc.shown", "attributes": {
                "value": format!("x{ESC}\r\nfake line"), format!("key{ESC}"): "v"}})),
            marker(json!({"name": "urlCacher.cacheRequested", "attributes": {
                "url": 5, "cache_path": format!("{ESC}")}}))
        ), "stderr": ""}
    }))
    .unwrap();
    env.test()
        .args(&["publish", "--no-feedback", "--unknown-events", "accept"])
        .stdin(payload.clone())
        .run();
    let records = env.records();
    assert_eq!(records.len(), 1);
    let id = records[0]["id"].as_str().unwrap().to_string();
    let dead = env.dead_letters()[0]["id"].as_str().unwrap().to_string();
    // Planted names: a file and a folder the readers skip, and say so.
    let day = env
        .events()
        .join(records[0]["timestamp"].as_str().unwrap().get(..10).unwrap());
    std::fs::write(day.join(format!("x{ESC}.json")), "{}").unwrap();
    std::fs::create_dir(env.events().join(format!("d{ESC}"))).unwrap();
    for args in [
        vec!["ls"],
        vec!["show", &id],
        vec!["show", &dead],
        vec!["tail"],
        vec!["stats"],
        vec!["trace", "s-esc"],
    ] {
        let out = env.test().args(&args).run();
        no_controls(&format!("{args:?} stdout"), &out.stdout);
        no_controls(&format!("{args:?} stderr"), &out.stderr);
        assert!(
            !out.stdout.contains("\nfake line"),
            "{args:?}: {}",
            out.stdout
        );
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
    let skipped = env.test().args(&["ls"]).run().stderr;
    assert!(skipped.contains("skipped"), "{skipped}");
    assert!(skipped.contains(r"\u{1b}]0;pwned\u{7}"), "{skipped}");
    let check = env
        .test()
        .args(&["check", "--unknown-events", "accept"])
        .stdin(payload)
        .status(None)
        .run();
    no_controls("check stdout", &check.stdout);
    no_controls("check stderr", &check.stderr);
    // JSON keeps the text exactly, escaped the JSON way.
    let json = env.test().args(&["ls", "--json"]).run().json();
    assert_eq!(
        json[0]["attributes"]["value"],
        format!("x{ESC}\r\nfake line")
    );
}

// Finding 10: smaller ones.

#[test]
fn a_loopback_collector_is_reached_directly_whatever_the_proxy_variables_say() {
    let collector = Catcher::start();
    let proxy = Catcher::start();
    let env = Env::new();
    env.test()
        .args(&["publish"])
        .var("EVENT_PUBLISHER_OTLP_ENDPOINT", collector.url())
        .var("HTTP_PROXY", proxy.url())
        .var("HTTPS_PROXY", proxy.url())
        .var("ALL_PROXY", proxy.url())
        .fixture(BASH)
        .run();
    assert!(proxy.heads().is_empty(), "{:?}", proxy.heads());
    assert_eq!(collector.heads().len(), 2);
}

#[test]
fn a_secret_shaped_event_name_is_rejected_and_stored_redacted() {
    let env = Env::new();
    let out = env
        .test()
        .args(&["publish", "--unknown-events", "accept"])
        .stdin(bash_payload(
            &marker(json!({"name": format!("{AWS}.x"), "attributes": {}})),
            "/p",
        ))
        .run();
    assert!(env.records().is_empty());
    let dead = env.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["name"], "[REDACTED:aws_access_key_id].x");
    assert_eq!(dead[0]["errors"][0]["kind"], "invalid_envelope");
    let all = everything_stored(&env);
    assert!(!all.contains(AWS), "{all}");
    assert!(!out.stdout.contains(AWS), "{}", out.stdout);
}

#[test]
fn gc_keep_keeps_the_last_stored_not_the_future_dated() {
    let env = Env::new();
    let publish = |name: &str, ts: &str| {
        env.test()
            .args(&["publish", "--unknown-events", "accept"])
            .stdin(bash_payload(
                &marker(json!({"name": name, "timestamp": ts, "attributes": {}})),
                "/p",
            ))
            .run();
    };
    publish("future.dated", "2099-01-01T00:00:00.000Z");
    publish("real.latest", "2026-01-01T00:00:00.000Z");
    env.test().args(&["gc", "--keep", "1"]).run();
    let names: Vec<String> = env
        .records()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["real.latest"]);
}

#[test]
fn an_empty_events_dir_is_refused_not_the_project_root() {
    let env = Env::new();
    write_project_file(&env, json!({"events_dir": ""}));
    env.test()
        .args(&["publish"])
        .fixture(BASH)
        .stderr_has("events_dir is empty")
        .run();
    assert_eq!(env.records().len(), 1, "stored under <project>/.events");
    let stray: Vec<_> = std::fs::read_dir(env.project())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("20") || n == "invalid" || n == ".ids")
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

// Finding 9: install and uninstall change only the entries they own.

fn project_settings(env: &Env) -> std::path::PathBuf {
    env.project().join(".claude/settings.json")
}

#[test]
fn install_and_uninstall_keep_every_byte_they_do_not_own() {
    let env = Env::new();
    let text = r#"{
  "model": "opus",
  "n": 12345678901234567890123,
  "e": 1E5,
  "x": 1, "x": 2,
  "permissions": {"allow": []},
  "hooks": {
    "PreToolUse": [],
    "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]
  }
}
"#;
    let path = project_settings(&env);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    env.test()
        .args(&["install"])
        .stdout_has("installed 7 hooks")
        .run();
    let installed = std::fs::read_to_string(&path).unwrap();
    for kept in [
        "\"n\": 12345678901234567890123,",
        "\"e\": 1E5,",
        "\"x\": 1, \"x\": 2,",
        "\"permissions\": {\"allow\": []},",
        "\"PreToolUse\": [],",
        r#"[{"hooks": [{"type": "command", "command": "notify-send done"}]}"#,
    ] {
        assert!(installed.contains(kept), "{kept} lost:\n{installed}");
    }
    env.test()
        .args(&["uninstall"])
        .stdout_has("removed 7 hooks")
        .run();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn duplicate_keys_in_the_hooks_are_refused_and_the_file_kept() {
    let env = Env::new();
    let text = r#"{"hooks": {"Stop": [], "Stop": [{"hooks": []}]}}"#;
    let path = project_settings(&env);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    for cmd in ["install", "uninstall"] {
        env.test()
            .args(&[cmd])
            .status(1)
            .stderr_has("\"Stop\" twice")
            .run();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
}

#[test]
fn the_portable_project_dir_command_is_left_alone() {
    let env = Env::new();
    let path = project_settings(&env);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let repo = std::path::Path::new(crate::test::REPO).join(".claude/settings.json");
    std::fs::copy(&repo, &path).unwrap();
    env.test()
        .args(&["install"])
        .stdout_has("already installed; nothing changed")
        .run();
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&repo).unwrap());
}
