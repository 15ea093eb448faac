//! The event bus against real processes: `emit`, exec subscribers that
//! fail or hang, a real HTTP receiver that fails, throttles, goes away or
//! hangs on cue, choreography chains, loops refused, replay into a new
//! subscriber, two dispatchers at once, and a dispatcher SIGKILLed at
//! random points that loses nothing.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::test::{Env, Test};

/// A sandbox whose project config holds `subscribers` (and accepts events
/// without a schema), with the automatic dispatcher off unless asked.
fn bus_env(subscribers: Value) -> Env {
    let env = Env::new();
    write_config(&env, subscribers);
    env
}

fn write_config(env: &Env, subscribers: Value) {
    std::fs::create_dir_all(env.project().join(".claude")).unwrap();
    std::fs::write(
        env.project().join(".claude/event-publisher.json"),
        json!({"unknown_events": "accept", "subscribers": subscribers}).to_string(),
    )
    .unwrap();
}

fn t(env: &Env) -> Test {
    env.test().var("EVENT_PUBLISHER_AUTO_DISPATCH", "0")
}

fn emit(env: &Env, name: &str, attrs: &[&str]) -> Value {
    let mut test = t(env).args(&["emit", name, "--json"]);
    for a in attrs {
        test = test.args(&["--attr", a]);
    }
    test.run().json()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------- emit

#[test]
fn emit_stores_a_valid_event_once_and_prints_it() {
    let env = Env::new();
    let r = t(&env)
        .args(&["emit", "urlCacher.cacheRequested", "--json"])
        .args(&["--attr", "url=https://docs.astral.sh/uv/"])
        .args(&["--attr", "cache_path=.metadata/cache/uv/"])
        .args(&["--timestamp", "2025-08-12T16:30:00Z"])
        .run()
        .json();
    assert_eq!(r["name"], "urlCacher.cacheRequested");
    assert_eq!(r["timestamp"], "2025-08-12T16:30:00.000Z");
    assert_eq!(r["attributes"]["url"], "https://docs.astral.sh/uv/");
    let stored = env.records();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0], r);
    // The record passes the record schema (with its new caused_by field).
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(crate::test::REPO).join("schemas/event-record.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(jsonschema::is_valid(&schema, &r), "{r:#}");
}

#[test]
fn emit_attributes_are_json_where_they_parse_and_an_id_is_a_key() {
    let env = bus_env(json!([]));
    let a = t(&env)
        .args(&["emit", "x.y", "--json", "--id", "k1"])
        .args(&[
            "--attr",
            "n=42",
            "--attr",
            "b=true",
            "--attr",
            "s=hello world",
        ])
        .args(&["--attr", "o={\"k\":[1]}", "--attr", "q=\"7\""])
        .run()
        .json();
    assert_eq!(
        a["attributes"],
        json!({"n": 42, "b": true, "s": "hello world", "o": {"k": [1]}, "q": "7"})
    );
    let b = t(&env)
        .args(&["emit", "x.y", "--json", "--id", "k1", "--attributes", "-"])
        .stdin(r#"{"n": 42}"#)
        .run()
        .json();
    assert_eq!(a["id"], b["id"], "the same key is the same event");
    assert_eq!(env.records().len(), 1);
    t(&env)
        .args(&["emit", "x.y", "--attributes", "[1]"])
        .status(64)
        .stderr_has("not a JSON object")
        .run();
}

#[test]
fn an_invalid_emit_fails_with_its_errors_and_a_dead_letter() {
    let env = Env::new();
    t(&env)
        .args(&["emit", "urlCacher.cacheRequested", "--attr", "url=7"])
        .status(1)
        .stderr_has("is invalid")
        .stderr_has("\"cache_path\" is a required property")
        .run();
    assert!(env.records().is_empty());
    assert_eq!(env.dead_letters().len(), 1);
}

#[test]
fn emit_joins_the_trace_of_traceparent_or_a_session() {
    let env = bus_env(json!([]));
    let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let r = t(&env)
        .args(&["emit", "x.y", "--json"])
        .var("TRACEPARENT", tp)
        .run()
        .json();
    assert_eq!(r["trace_id"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(r["parent_span_id"], "b7ad6b7169203331");
    assert_ne!(r["span_id"], "b7ad6b7169203331");
    let s1 = t(&env)
        .args(&["emit", "x.y", "--json", "--session", "sess-1"])
        .run()
        .json();
    let s2 = t(&env)
        .args(&["emit", "x.z", "--json"])
        .var("EVENT_PUBLISHER_SESSION", "sess-1")
        .run()
        .json();
    assert_eq!(s1["trace_id"], s2["trace_id"]);
    assert_eq!(s1["source"]["session_id"], "sess-1");
    let n1 = t(&env).args(&["emit", "x.y", "--json"]).run().json();
    let n2 = t(&env).args(&["emit", "x.y", "--json"]).run().json();
    assert_ne!(n1["trace_id"], n2["trace_id"], "a new trace each");
    assert_ne!(n1["id"], n2["id"]);
}

#[test]
fn inside_claude_code_emit_prints_the_marker_and_the_hook_stores_it_once() {
    let env = Env::new();
    let out = t(&env)
        .args(&["emit", "urlCacher.cacheRequested"])
        .args(&["--attr", "url=https://x.org/", "--attr", "cache_path=/c"])
        .var("CLAUDECODE", "1")
        .var("CLAUDE_CODE_SESSION_ID", "sess-cc")
        .run();
    assert!(out.stdout.starts_with("<EVENT>{"), "{}", out.stdout);
    assert!(
        !env.events().exists() || env.records().is_empty(),
        "not stored by emit"
    );
    // CLAUDE_PROJECT_DIR alone is not Claude Code: stored directly.
    t(&env)
        .args(&["emit", "x.y", "--unknown-events", "accept"])
        .stdout("")
        .run();
    assert_eq!(env.records().len(), 1);
    // The Bash call's PostToolUse carries the marker with the tool's ids.
    let mut payload = crate::test::bash_value("sess-cc", "toolu_emit", &out.stdout);
    payload["agent_id"] = json!("agent-1");
    payload["agent_type"] = json!("url-cacher");
    payload["tool_input"] = json!({"command": "event-publisher emit ..."});
    for _ in 0..2 {
        t(&env).args(&["publish"]).stdin(payload.to_string()).run();
    }
    let stored: Vec<Value> = env
        .records()
        .into_iter()
        .filter(|r| r["name"] == "urlCacher.cacheRequested")
        .collect();
    assert_eq!(stored.len(), 1, "stored once");
    assert_eq!(stored[0]["source"]["tool_use_id"], "toolu_emit");
    assert_eq!(stored[0]["source"]["agent_type"], "url-cacher");
    // Invalid inside Claude Code: exit 1 and a dead letter of the session.
    t(&env)
        .args(&["emit", "urlCacher.cacheRequested"])
        .var("CLAUDECODE", "1")
        .var("CLAUDE_CODE_SESSION_ID", "sess-cc")
        .status(1)
        .stdout("")
        .run();
    let dead = env.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["source"]["session_id"], "sess-cc");
}

// ---------------------------------------------------------------- exec

#[test]
fn an_exec_subscriber_gets_the_record_on_stdin_and_its_ids_in_the_environment() {
    let env = bus_env(json!([
        {"name": "log", "on": ["x.*", "!x.skip"], "where": {"k": "v"},
         "exec": {"shell": "cat > \"got-$EVENT_ID.json\"; printf '%s %s %s %s\\n' \"$EVENT_ID\" \"$EVENT_NAME\" \"$TRACEPARENT\" \"$CLAUDE_PROJECT_DIR\" >> env.txt"}}
    ]));
    let a = emit(&env, "x.one", &["k=v"]);
    emit(&env, "x.skip", &["k=v"]);
    emit(&env, "x.two", &["k=other"]);
    let b = emit(&env, "y.one", &["k=v"]);
    let _ = b;
    t(&env)
        .args(&["dispatch", "--once"])
        .stderr_has("log: 1 delivered, 0 retried, 0 dead letter(s)")
        .run();
    let id = a["id"].as_str().unwrap();
    let got: Value = serde_json::from_slice(
        &std::fs::read(env.project().join(format!("got-{id}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(got, a);
    let env_line = lines(&env.project().join("env.txt"));
    assert_eq!(
        env_line,
        [format!(
            "{id} x.one 00-{}-{}-01 {}",
            a["trace_id"].as_str().unwrap(),
            a["span_id"].as_str().unwrap(),
            env.project().display()
        )]
    );
    // Nothing more to deliver: delivered once.
    t(&env).args(&["dispatch", "--once"]).run();
    assert_eq!(lines(&env.project().join("env.txt")).len(), 1);
}

#[test]
fn dead_letters_go_only_to_subscribers_that_ask_for_them() {
    let env = bus_env(json!([
        {"name": "audit", "on": "*", "invalid": true,
         "exec": {"shell": "echo \"$EVENT_NAME\" >> audit.txt"}},
        {"name": "valid-only", "on": "*", "exec": {"shell": "echo \"$EVENT_NAME\" >> valid.txt"}}
    ]));
    t(&env)
        .args(&[
            "emit",
            "urlCacher.cacheRequested",
            "--unknown-events",
            "reject",
        ])
        .status(1)
        .run();
    emit(&env, "x.fine", &[]);
    t(&env).args(&["dispatch", "--once"]).run();
    assert_eq!(
        lines(&env.project().join("audit.txt")),
        ["urlCacher.cacheRequested", "x.fine"]
    );
    assert_eq!(lines(&env.project().join("valid.txt")), ["x.fine"]);
}

#[test]
fn a_failing_exec_is_retried_then_dead_and_retry_dead_sends_it_again() {
    let env = bus_env(json!([
        {"name": "flaky", "on": "x.*", "retries": 2, "backoff_ms": 1, "max_backoff_ms": 5,
         "exec": {"shell": "echo \"try $EVENT_NAME\" >> tries.txt; test -e ok || { echo 'no ok file' >&2; exit 3; }; echo \"$EVENT_NAME\" >> done.txt"}},
        {"name": "steady", "on": "x.*", "exec": {"shell": "echo \"$EVENT_NAME\" >> steady.txt"}}
    ]));
    emit(&env, "x.one", &[]);
    emit(&env, "x.two", &[]);
    let out = t(&env)
        .args(&["dispatch", "--once"])
        .status(1)
        .stderr_has("flaky: 0 delivered, 4 retried, 2 dead letter(s); last error: the shell command exited with 3: no ok file (after 3 attempts)")
        .stderr_has("steady: 2 delivered")
        .run();
    let _ = out;
    assert_eq!(
        lines(&env.project().join("tries.txt")).len(),
        6,
        "3 attempts each"
    );
    assert_eq!(lines(&env.project().join("steady.txt")), ["x.one", "x.two"]);
    let listed = t(&env).args(&["subscribers", "--json"]).run().json();
    assert_eq!(listed[0]["dead"], 2);
    assert_eq!(listed[0]["lag"], 0);
    assert!(
        listed[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("exited with 3")
    );
    std::fs::write(env.project().join("ok"), "").unwrap();
    t(&env)
        .args(&["dispatch", "--retry-dead", "flaky"])
        .stderr_has("2 dead letter(s) delivered, 0 still dead")
        .run();
    assert_eq!(lines(&env.project().join("done.txt")), ["x.one", "x.two"]);
    t(&env).args(&["dispatch", "--once"]).run();
}

#[test]
fn a_hanging_exec_is_killed_at_its_timeout_and_others_are_not_delayed() {
    let env = bus_env(json!([
        {"name": "hangs", "on": "x.*", "timeout_ms": 300, "retries": 0,
         "exec": ["sleep", "60"]},
        {"name": "quick", "on": "x.*", "exec": {"shell": "echo \"$EVENT_NAME\" >> quick.txt"}}
    ]));
    for i in 0..3 {
        emit(&env, &format!("x.e{i}"), &[]);
    }
    let out = t(&env)
        .args(&["dispatch", "--once", "--timeout", "20s"])
        .status(1)
        .stderr_has("did not exit within 300 ms; killed")
        .run();
    assert!(out.elapsed < Duration::from_secs(15), "{:?}", out.elapsed);
    assert_eq!(lines(&env.project().join("quick.txt")).len(), 3);
    let listed = t(&env).args(&["subscribers", "--json"]).run().json();
    assert_eq!(listed[0]["dead"], 3);
}

#[test]
fn a_concurrency_limit_runs_sessions_side_by_side_and_each_session_in_order() {
    // Each command waits for a second one to start: alone, it fails (and
    // with no retries, is dead). Two events of one session must never run
    // together (`busy-<session>` would exist).
    let script = r#"s=$(grep -o '"session_id":"[^"]*"' | head -1 | cut -d'"' -f4)
mkdir "busy-$s" || exit 9
touch "start-$EVENT_ID"
i=0
while [ "$(ls start-* | wc -l)" -lt 2 ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.05; done
echo "$s $EVENT_NAME" >> done.txt
rmdir "busy-$s""#;
    let env = bus_env(json!([
        {"name": "par", "on": "x.*", "concurrency": 2, "retries": 0, "exec": {"shell": script}}
    ]));
    for (session, name) in [("s1", "x.a"), ("s2", "x.c"), ("s1", "x.b")] {
        t(&env).args(&["emit", name, "--session", session]).run();
    }
    t(&env)
        .args(&["dispatch", "--once"])
        .stderr_has("par: 3 delivered, 0 retried, 0 dead letter(s)")
        .run();
    let done = lines(&env.project().join("done.txt"));
    let a = done.iter().position(|l| l == "s1 x.a").unwrap();
    let b = done.iter().position(|l| l == "s1 x.b").unwrap();
    assert!(a < b, "{done:?}");
}

#[test]
fn once_leaves_what_is_not_delivered_in_time_pending() {
    let env = bus_env(json!([
        {"name": "down", "on": "x.*", "backoff_ms": 60000, "exec": ["false"]}
    ]));
    emit(&env, "x.one", &[]);
    t(&env)
        .args(&["dispatch", "--once", "--timeout", "500ms"])
        .status(1)
        .stderr_has("down: 0 delivered, 1 retried, 0 dead letter(s), events pending")
        .run();
    let listed = t(&env).args(&["subscribers", "--json"]).run().json();
    assert_eq!(listed[0]["lag"], 1);
}

// ---------------------------------------------------------------- webhook

/// What the receiver answers next.
#[derive(Clone)]
enum Reply {
    Status(u16, &'static str),
    /// Keep the connection open without answering.
    Hang,
}

struct Request {
    headers: HashMap<String, String>,
    body: Value,
}

#[derive(Default)]
struct Seen {
    requests: Vec<Request>,
}

/// A real HTTP receiver on loopback: answers each request with the next
/// scripted reply (200 once the script is used up) and keeps what came.
struct Receiver {
    url: String,
    seen: Arc<(Mutex<Seen>, Condvar)>,
}

impl Receiver {
    fn start(script: Vec<Reply>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let seen: Arc<(Mutex<Seen>, Condvar)> = Arc::default();
        let (s, k) = (script.clone(), seen.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (s, k) = (s.clone(), k.clone());
                std::thread::spawn(move || serve(conn, &s, &k));
            }
        });
        Receiver { url, seen }
    }

    fn count(&self) -> usize {
        self.seen.0.lock().unwrap().requests.len()
    }

    fn ids(&self) -> Vec<String> {
        let seen = self.seen.0.lock().unwrap();
        seen.requests
            .iter()
            .map(|r| r.body["id"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Waits until `n` requests came (a signal, not a sleep), 20 s at most.
    fn wait_for(&self, n: usize) {
        let (lock, cv) = &*self.seen;
        let mut seen = lock.lock().unwrap();
        let until = Instant::now() + Duration::from_secs(20);
        while seen.requests.len() < n {
            let left = until.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "only {} of {n} requests came",
                seen.requests.len()
            );
            seen = cv.wait_timeout(seen, left).unwrap().0;
        }
    }
}

fn serve(conn: TcpStream, script: &Mutex<VecDeque<Reply>>, seen: &(Mutex<Seen>, Condvar)) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut headers = HashMap::new();
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    let _ = reader.read_exact(&mut body);
    let reply = script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Reply::Status(200, ""));
    {
        let (lock, cv) = seen;
        lock.lock().unwrap().requests.push(Request {
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        cv.notify_all();
    }
    let mut conn = conn;
    match reply {
        Reply::Status(code, extra) => {
            let _ = write!(
                conn,
                "HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n{extra}\r\n"
            );
        }
        Reply::Hang => std::thread::sleep(Duration::from_secs(30)),
    }
}

#[test]
fn a_webhook_gets_a_signed_cloudevent_with_the_trace() {
    let rx = Receiver::start(vec![]);
    let env = bus_env(json!([
        {"name": "ci", "on": "x.*", "webhook": {"url": rx.url, "secret_env": "CI_SECRET"}}
    ]));
    let r = emit(&env, "x.one", &["url=https://a.org/"]);
    t(&env)
        .args(&["dispatch", "--once"])
        .var("CI_SECRET", "whsec_aGVsbG8=")
        .stderr_has("ci: 1 delivered")
        .run();
    assert_eq!(rx.count(), 1);
    let seen = rx.seen.0.lock().unwrap();
    let req = &seen.requests[0];
    let id = r["id"].as_str().unwrap();
    assert_eq!(req.headers["content-type"], "application/cloudevents+json");
    assert_eq!(req.body["specversion"], "1.0");
    assert_eq!(req.body["id"], id);
    assert_eq!(req.body["type"], "x.one");
    assert_eq!(req.body["time"], r["timestamp"]);
    assert_eq!(req.body["data"], r);
    let tp = format!(
        "00-{}-{}-01",
        r["trace_id"].as_str().unwrap(),
        r["span_id"].as_str().unwrap()
    );
    assert_eq!(req.headers["traceparent"], tp);
    assert_eq!(req.headers["webhook-id"], id);
    // Standard Webhooks: HMAC-SHA256 over "<id>.<timestamp>.<body>" with
    // the base64-decoded whsec_ secret ("hello").
    let ts = &req.headers["webhook-timestamp"];
    let body = req.body.to_string();
    let expected = event_publisher::webhook::signature(b"hello", id, ts, &body);
    assert_eq!(req.headers["webhook-signature"], expected);
}

#[test]
fn webhook_answers_429_503_and_5xx_are_retried_404_is_dead_410_disables() {
    let rx = Receiver::start(vec![
        Reply::Status(503, "retry-after: 0\r\n"),
        Reply::Status(429, "retry-after: 0\r\n"),
        Reply::Status(500, ""),
        Reply::Status(200, ""),
        Reply::Status(404, ""),
        Reply::Status(410, ""),
    ]);
    let env = bus_env(json!([
        {"name": "ci", "on": "x.*", "backoff_ms": 1, "max_backoff_ms": 5,
         "webhook": {"url": rx.url}}
    ]));
    let a = emit(&env, "x.a", &[]);
    let b = emit(&env, "x.b", &[]);
    let c = emit(&env, "x.c", &[]);
    t(&env)
        .args(&["dispatch", "--once"])
        .status(1)
        .stderr_has("subscriber ci disabled:")
        .stderr_has("answered 410 Gone")
        .run();
    let ids = rx.ids();
    let id = |r: &Value| r["id"].as_str().unwrap().to_string();
    assert_eq!(ids, [id(&a), id(&a), id(&a), id(&a), id(&b), id(&c)]);
    let listed = t(&env).args(&["subscribers", "--json"]).run().json();
    assert_eq!(listed[0]["delivered"], 1);
    assert_eq!(listed[0]["retried"], 3);
    assert_eq!(listed[0]["dead"], 1);
    assert_eq!(
        listed[0]["lag"], 1,
        "c waits for the subscriber to be enabled"
    );
    assert!(listed[0]["disabled"].as_str().unwrap().contains("410"));
    t(&env).args(&["subscribers"]).stdout_has("DISABLED").run();
    // Disabled: nothing is sent.
    t(&env).args(&["dispatch", "--once"]).status(1).run();
    assert_eq!(rx.count(), 6);
    t(&env).args(&["dispatch", "--enable", "ci"]).run();
    t(&env)
        .args(&["dispatch", "--once", "--subscriber", "ci"])
        .status(1)
        .run();
    assert_eq!(rx.ids().last().unwrap(), &id(&c));
    assert_eq!(
        t(&env).args(&["subscribers", "--json"]).run().json()[0]["lag"],
        0
    );
}

#[test]
fn a_hanging_receiver_times_out_and_an_absent_one_is_retried() {
    let rx = Receiver::start(vec![Reply::Hang]);
    let env = bus_env(json!([
        {"name": "slow", "on": "x.*", "timeout_ms": 300, "backoff_ms": 1, "max_backoff_ms": 5,
         "webhook": {"url": rx.url}},
        {"name": "nobody", "on": "x.*", "retries": 1, "backoff_ms": 1,
         "webhook": {"url": "http://127.0.0.1:9/x"}}
    ]));
    emit(&env, "x.a", &[]);
    t(&env)
        .args(&["dispatch", "--once"])
        .status(1)
        .stderr_has("slow: 1 delivered, 1 retried")
        .stderr_has(
            "nobody: 0 delivered, 1 retried, 1 dead letter(s); last error: http://127.0.0.1:9/x:",
        )
        .run();
    assert_eq!(rx.count(), 2, "hung once, then answered");
}

#[test]
fn https_webhooks_are_refused_at_load() {
    let env = bus_env(json!([
        {"name": "tls", "on": "x.*", "webhook": {"url": "https://example.com/"}}
    ]));
    t(&env)
        .args(&["subscribers"])
        .stderr_has("https:// is not supported (this build has no TLS)")
        .run();
}

// ---------------------------------------------------------------- choreography

#[test]
fn a_three_step_choreography_chain_shows_in_trace() {
    let env = bus_env(json!([
        {"name": "validate", "on": "flow.changesDetected",
         "emit": {"name": "flow.validationRequested", "attributes": {"files": "${attributes.files}"}}},
        {"name": "stage", "on": "flow.validationRequested",
         "emit": {"name": "flow.filesStaged", "attributes": {"files": "${attributes.files}", "note": "from ${name}"}}},
        {"name": "commit", "on": "flow.filesStaged",
         "emit": [{"name": "flow.issueDetectionRequested"}, {"name": "flow.auditLogRequested"}]}
    ]));
    let root = t(&env)
        .args(&[
            "emit",
            "flow.changesDetected",
            "--json",
            "--session",
            "sess-flow",
        ])
        .args(&["--attr", "files=[\"a.rs\"]"])
        .run()
        .json();
    t(&env).args(&["dispatch", "--once"]).run();
    let records = env.records();
    let by_name = |n: &str| {
        records
            .iter()
            .find(|r| r["name"] == n)
            .unwrap_or_else(|| panic!("no {n} in {records:#?}"))
            .clone()
    };
    let v = by_name("flow.validationRequested");
    let s = by_name("flow.filesStaged");
    let i = by_name("flow.issueDetectionRequested");
    let a = by_name("flow.auditLogRequested");
    assert_eq!(records.len(), 5);
    assert_eq!(v["caused_by"], root["id"]);
    assert_eq!(s["caused_by"], v["id"]);
    assert_eq!(i["caused_by"], s["id"]);
    assert_eq!(a["caused_by"], s["id"]);
    assert_eq!(v["attributes"]["files"], json!(["a.rs"]));
    assert_eq!(s["attributes"]["note"], "from flow.validationRequested");
    for r in [&v, &s, &i, &a] {
        assert_eq!(r["trace_id"], root["trace_id"]);
        assert_eq!(r["source"]["session_id"], "sess-flow");
    }
    assert_eq!(v["parent_span_id"], root["span_id"]);
    assert_eq!(s["parent_span_id"], v["span_id"]);
    assert_eq!(i["parent_span_id"], s["span_id"]);
    let trace = t(&env).args(&["trace", "sess-flow"]).run().stdout;
    for n in [
        "flow.changesDetected",
        "flow.validationRequested",
        "flow.filesStaged",
        "flow.issueDetectionRequested",
        "flow.auditLogRequested",
    ] {
        assert!(trace.contains(n), "{n} not in trace:\n{trace}");
    }
    // Delivering again derives nothing new: the derived ids are the trigger's.
    for sub in ["validate", "stage", "commit"] {
        t(&env)
            .args(&["dispatch", "--once", "--subscriber", sub, "--from", "start"])
            .run();
    }
    assert_eq!(env.records().len(), 5);
}

#[test]
fn a_loop_in_the_config_is_refused() {
    let env = bus_env(json!([
        {"name": "ping", "on": "game.ping", "emit": {"name": "game.pong"}},
        {"name": "pong", "on": "game.pong", "emit": {"name": "game.ping"}},
        {"name": "ok", "on": "game.*", "exec": ["true"]}
    ]));
    t(&env)
        .args(&["subscribers"])
        .stderr_has("subscribers ping → pong → ping form a loop")
        .stdout_has("ok ")
        .run();
    emit(&env, "game.ping", &[]);
    t(&env)
        .args(&["dispatch", "--once"])
        .stderr_has("form a loop")
        .run();
    assert_eq!(env.records().len(), 1, "nothing derived");
}

#[test]
fn a_loop_through_exec_is_capped_by_the_depth_limit() {
    let bin = crate::test::BIN.path().to_str().unwrap();
    let env = bus_env(json!([
        {"name": "again", "on": "loop.tick", "retries": 0,
         "exec": [bin, "emit", "loop.tick"]}
    ]));
    emit(&env, "loop.tick", &[]);
    for _ in 0..12 {
        t(&env).args(&["dispatch", "--once"]).status(None).run();
    }
    // The first tick, then a chain of 8 caused_by links, then no more.
    let ticks = env.records();
    assert_eq!(ticks.len(), 9);
    assert!(ticks.iter().skip(1).all(|r| r["caused_by"].is_string()));
}

// ---------------------------------------------------------------- cursors

#[test]
fn a_new_subscriber_starts_now_and_from_start_replays_history() {
    let env = bus_env(json!([]));
    emit(&env, "x.old", &[]);
    write_config(
        &env,
        json!([{"name": "late", "on": "x.*", "exec": {"shell": "echo \"$EVENT_NAME\" >> late.txt"}}]),
    );
    // Named for the first time by this emit: its event is not skipped.
    emit(&env, "x.new", &[]);
    t(&env).args(&["dispatch", "--once"]).run();
    assert_eq!(lines(&env.project().join("late.txt")), ["x.new"]);
    t(&env)
        .args(&[
            "dispatch",
            "--once",
            "--from",
            "start",
            "--subscriber",
            "late",
        ])
        .run();
    assert_eq!(
        lines(&env.project().join("late.txt")),
        ["x.new", "x.old", "x.new"]
    );
}

/// Waits until `path` holds `n` lines (a signal, not a fixed sleep), 20 s at most.
fn wait_for_lines(path: &Path, n: usize) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let got = lines(path);
        if got.len() >= n {
            return got;
        }
        assert!(Instant::now() < until, "{}: {got:?}", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_following_dispatcher_reads_new_subscribers_from_the_config() {
    let env = bus_env(json!([
        {"name": "a", "on": "x.*", "exec": {"shell": "echo \"$EVENT_NAME\" >> a.txt"}}
    ]));
    emit(&env, "x.one", &[]);
    let mut dispatcher = t(&env)
        .args(&["dispatch"])
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_lines(&env.project().join("a.txt"), 1);
    write_config(
        &env,
        json!([
            {"name": "a", "on": "x.*", "exec": {"shell": "echo \"$EVENT_NAME\" >> a.txt"}},
            {"name": "b", "on": "x.*", "exec": {"shell": "echo \"$EVENT_NAME\" >> b.txt"}}
        ]),
    );
    // Named for the first time by this emit, before its event is stored.
    emit(&env, "x.two", &[]);
    let b = wait_for_lines(&env.project().join("b.txt"), 1);
    assert_eq!(b, ["x.two"]);
    assert_eq!(
        wait_for_lines(&env.project().join("a.txt"), 2),
        ["x.one", "x.two"]
    );
    // SAFETY: kill(2) of the dispatcher this test started.
    unsafe { libc::kill(dispatcher.id() as i32, libc::SIGTERM) };
    let status = dispatcher.wait().unwrap();
    assert!(status.success());
    let mut err = String::new();
    dispatcher
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains("subscribers in the config files changed"),
        "{err}"
    );
}

#[test]
fn two_dispatchers_started_at_once_one_wins() {
    let env = bus_env(json!([
        {"name": "log", "on": "x.*", "exec": {"shell": "echo \"$EVENT_ID\" >> log.txt"}}
    ]));
    emit(&env, "x.a", &[]);
    let spawn = || {
        t(&env)
            .args(&["dispatch", "--idle-exit", "1"])
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let lost = outs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stderr).contains("another dispatcher is running"))
        .count();
    assert_eq!(lost, 1, "one wins, one says so");
    assert_eq!(lines(&env.project().join("log.txt")).len(), 1);
}

#[test]
fn publish_starts_a_detached_dispatcher_that_delivers_without_the_hook_waiting() {
    let rx = Receiver::start(vec![]);
    let env = bus_env(json!([
        {"name": "ci", "on": "urlCacher.*", "where": {"tool_name": "Bash"},
         "webhook": {"url": rx.url}}
    ]));
    let marker = r#"<EVENT>{"name": "urlCacher.cacheRequested", "attributes": {"url": "https://a/", "cache_path": "/c"}}</EVENT>"#;
    let payload = crate::test::bash_value("s-auto", "toolu_1", marker);
    let out = env
        .test()
        .args(&["publish"])
        .stdin(payload.to_string())
        .run();
    let start = Instant::now();
    rx.wait_for(1);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(out.elapsed < Duration::from_secs(2));
    assert_eq!(rx.ids(), [env.records()[0]["id"].as_str().unwrap()]);
    stop_dispatcher(&env);
}

/// Ends the dispatcher a test started (its pid is in the lock file).
fn stop_dispatcher(env: &Env) {
    let lock = env.events().join(".dispatch/lock");
    if let Some(pid) = std::fs::read_to_string(&lock)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
    {
        // SAFETY: kill(2) of the dispatcher this test started.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until && unsafe { libc::kill(pid, 0) } == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

// ---------------------------------------------------------------- crashes

#[test]
fn a_dispatcher_sigkilled_at_random_points_loses_nothing() {
    const EVENTS: usize = 500;
    const KILLS: usize = 200;
    let env = bus_env(json!([
        {"name": "log", "on": "x.*", "exec": {"shell": "echo \"$EVENT_ID\" >> log.txt"}}
    ]));
    // Stored first (a batch of emits through one shell), all pending.
    let script: String = (0..EVENTS)
        .map(|i| {
            format!(
                "{} emit x.e{i} --attr i={i}\n",
                crate::test::BIN.path().display()
            )
        })
        .collect();
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .env("CLAUDE_PROJECT_DIR", env.project())
        .env("HOME", env.home())
        .env("XDG_CONFIG_HOME", env.root().join("config"))
        .env("EVENT_PUBLISHER_AUTO_DISPATCH", "0")
        .current_dir(env.project())
        .status()
        .unwrap();
    assert!(status.success());
    let ids: Vec<String> = env.arrivals().into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), EVENTS);
    let log = env.project().join("log.txt");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut kills = 0;
    while kills < KILLS && lines(&log).len() < EVENTS {
        let mut child = t(&env)
            .args(&["dispatch"])
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(2_000 + seed % 40_000));
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    t(&env).args(&["dispatch", "--once"]).run();
    let got = lines(&log);
    // Every event, in order; a repeat only of the event just before (the
    // one in flight when a dispatcher was killed).
    let mut deduped: Vec<String> = Vec::new();
    let mut repeats = 0;
    for id in got {
        if deduped.last() == Some(&id) {
            repeats += 1;
            continue;
        }
        assert!(!deduped.contains(&id), "{id} repeated out of order");
        deduped.push(id);
    }
    assert_eq!(deduped, ids, "every event, in order, none lost");
    assert!(repeats <= kills, "{repeats} repeats for {kills} kills");
    eprintln!("{kills} kills, {repeats} in-flight repeats");
}
