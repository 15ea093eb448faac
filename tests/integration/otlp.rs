//! The OTLP sink against a real collector (`collector::Collector`): what
//! arrives over HTTP/protobuf and gRPC, the spans of agent runs and tool
//! calls, and the outage story (collector down or hanging, spool, flush).

use std::io::Read;
use std::net::TcpListener;
use std::time::Duration;

use serde_json::{Value, json};

use crate::collector::{Collector, Received, free_port, nanos, spool_files};
use crate::test::{Env, Test};

const FG: &str = "claude-code-2.1.328/foreground-";
const SESSION: &str = "e0d02c63-fe6e-4116-bbe1-d984038ca784";
const AGENT: &str = "a038d4b520bfd4de3";
/// The fixture's subagent transcript: first and last conversation lines.
const RUN_START: &str = "2026-11-21T16:38:01.457Z";
const RUN_END: &str = "2026-11-21T16:38:01.667Z";
const HOOKS: [&str; 4] = [
    "post-tool-use-bash-in-subagent",
    "subagent-stop",
    "post-tool-use-agent",
    "stop",
];

/// Runs the foreground session's hooks with `vars`; returns each run's time.
fn session(env: &Env, vars: &[(&str, &str)]) -> Vec<Duration> {
    HOOKS
        .iter()
        .map(|h| {
            let mut t = env
                .test()
                .args(&["publish"])
                .fixture(&format!("{FG}{h}.json"));
            for (k, v) in vars {
                t = t.var(k, v);
            }
            t.stdout("").run().elapsed
        })
        .collect()
}

fn record<'a>(records: &'a [Value], name: &str) -> &'a Value {
    records.iter().find(|r| r["name"] == name).unwrap()
}

/// Every check on what the collector got from the foreground session.
fn check_session(env: &Env, got: &Received) {
    let records = env.records();
    assert_eq!(records.len(), 3);
    assert_eq!(got.logs.len(), 3, "each event once: {:#?}", got.logs);
    for r in &records {
        let name = r["name"].as_str().unwrap();
        let l = got.log(name);
        assert_eq!(l.body, name);
        assert_eq!(l.attributes["event.name"], name);
        assert_eq!(l.attributes["log.record.uid"], r["id"].as_str().unwrap());
        assert_eq!(l.time, nanos(r["timestamp"].as_str().unwrap()), "{name}");
        assert_eq!(l.observed, nanos(r["observed_timestamp"].as_str().unwrap()));
        assert_eq!(l.trace_id, r["trace_id"].as_str().unwrap());
        assert_eq!(l.span_id, r["span_id"].as_str().unwrap());
        assert_eq!(l.severity, "SEVERITY_NUMBER_INFO(9)");
        for (cc, genai) in [
            ("session.id", "gen_ai.conversation.id"),
            ("agent_id", "gen_ai.agent.id"),
            ("agent_type", "gen_ai.agent.name"),
        ] {
            assert_eq!(l.attributes[cc], l.attributes[genai], "{cc}");
        }
        assert_eq!(l.attributes["session.id"], SESSION);
        assert_eq!(l.attributes["agent_id"], AGENT);
        assert_eq!(
            l.attributes["prompt.id"],
            "f3e40d52-404a-4322-ab19-8becd224dde7"
        );
        assert_eq!(l.attributes["url"], "https://docs.astral.sh/uv/");
        assert_eq!(l.resource["service.name"], "event-publisher");
    }
    let bash = got.log("urlCacher.cacheCheckStarted");
    assert_eq!(bash.attributes["tool_use_id"], "toolu_0001bash");
    assert_eq!(bash.attributes["gen_ai.tool.call.id"], "toolu_0001bash");
    assert_eq!(bash.attributes["gen_ai.tool.name"], "Bash");
    assert_eq!(
        got.log("urlCacher.cacheRequested").time,
        nanos("2025-08-12T16:30:00.000Z")
    );

    // The run: one span (SubagentStop and the Agent PostToolUse both know
    // it), timed by the transcript, holding the events, under the main span.
    assert_eq!(got.spans.len(), 2, "{:#?}", got.spans);
    let run = got.span("invoke_agent general-purpose");
    let requested = record(&records, "urlCacher.cacheRequested");
    assert_eq!(run.kind, "SPAN_KIND_INTERNAL");
    assert_eq!(run.trace_id, requested["trace_id"].as_str().unwrap());
    assert_eq!(run.span_id, requested["span_id"].as_str().unwrap());
    assert_eq!(run.parent_id, requested["parent_span_id"].as_str().unwrap());
    assert_eq!(run.start, nanos(RUN_START));
    assert_eq!(run.end, nanos(RUN_END));
    assert_eq!(run.attributes["gen_ai.operation.name"], "invoke_agent");
    assert_eq!(run.attributes["gen_ai.provider.name"], "anthropic");
    assert_eq!(run.attributes["gen_ai.agent.id"], AGENT);
    assert_eq!(run.attributes["gen_ai.tool.call.id"], "toolu_0000agent");
    assert_eq!(run.attributes["gen_ai.conversation.id"], SESSION);
    // The Bash call that printed an event: a child of the run, 45 ms long.
    let tool = got.span("execute_tool Bash");
    assert_eq!(tool.trace_id, run.trace_id);
    assert_eq!(tool.parent_id, run.span_id);
    assert_eq!(tool.end - tool.start, 45_000_000);
    assert_eq!(tool.attributes["gen_ai.tool.call.id"], "toolu_0001bash");
    assert_eq!(tool.attributes["gen_ai.operation.name"], "execute_tool");
}

#[test]
fn the_session_arrives_over_http_protobuf() {
    let Some(collector) = Collector::start() else {
        return;
    };
    let env = Env::new();
    session(
        &env,
        &[
            ("EVENT_PUBLISHER_OTLP_ENDPOINT", &collector.http()),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=test,team=a%20b",
            ),
        ],
    );
    let got = collector.wait_for(3, 2);
    check_session(&env, &got);
    assert_eq!(got.logs[0].resource["deployment.environment"], "test");
    assert_eq!(got.logs[0].resource["team"], "a b");
    assert!(spool_files(&env.events()).is_empty());
}

#[test]
fn the_session_arrives_over_grpc_configured_in_the_project_file() {
    let Some(collector) = Collector::start() else {
        return;
    };
    let env = Env::new();
    std::fs::create_dir_all(env.project().join(".claude")).unwrap();
    std::fs::write(
        env.project().join(".claude/event-publisher.json"),
        json!({"otlp": {
            "endpoint": format!("127.0.0.1:{}", collector.grpc_port),
            "protocol": "grpc",
            "service_name": "agents",
            "headers": {"x-tenant": "t1"},
        }})
        .to_string(),
    )
    .unwrap();
    session(&env, &[]);
    let got = collector.wait_for(3, 2);
    check_session_names(&got);
    assert_eq!(got.logs[0].resource["service.name"], "agents");
    assert_eq!(got.spans[0].resource["service.name"], "agents");
}

fn check_session_names(got: &Received) {
    let mut names: Vec<&str> = got.logs.iter().map(|l| l.event_name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "urlCacher.cacheCheckStarted",
            "urlCacher.cacheRequested",
            "urlCacher.urlValidated"
        ]
    );
    let mut spans: Vec<&str> = got.spans.iter().map(|s| s.name.as_str()).collect();
    spans.sort();
    assert_eq!(spans, ["execute_tool Bash", "invoke_agent general-purpose"]);
}

#[test]
fn flags_win_and_the_event_name_attribute_can_be_switched_off() {
    let Some(collector) = Collector::start() else {
        return;
    };
    let env = Env::new();
    env.test()
        .args(&["publish", "--otlp-endpoint", &collector.http()])
        .var("EVENT_PUBLISHER_OTLP_ENDPOINT", "http://127.0.0.1:1")
        .var("EVENT_PUBLISHER_OTLP_EVENT_NAME_ATTRIBUTE", "false")
        .fixture(&format!("{FG}post-tool-use-bash-in-subagent.json"))
        .stdout("")
        .stderr("")
        .run();
    let got = collector.wait_for(1, 1);
    let l = got.log("urlCacher.cacheCheckStarted");
    assert!(!l.attributes.contains_key("event.name"), "{l:#?}");
}

#[test]
fn dead_letters_arrive_as_invalid_event_errors() {
    let Some(collector) = Collector::start() else {
        return;
    };
    let env = Env::new();
    let mut payload = crate::test::bash_value(
        "s1",
        "tu1",
        "<EVENT>{\"name\": \"urlCacher.cacheRequested\", \"attributes\": {}}</EVENT> <EVENT>{\"name\": \"x.yFailed\"}</EVENT>",
    );
    payload["duration_ms"] = json!(3);
    env.test()
        .args(&["publish", "--no-feedback", "--unknown-events", "accept"])
        .var("EVENT_PUBLISHER_OTLP_ENDPOINT", collector.http())
        .stdin(payload.to_string())
        .run();
    let got = collector.wait_for(2, 1);
    let bad = got.log("event_publisher.invalid_event");
    assert_eq!(bad.severity, "SEVERITY_NUMBER_ERROR(17)");
    assert_eq!(bad.attributes["error.type"], "invalid_event");
    assert_eq!(
        bad.attributes["event_publisher.invalid.name"],
        "urlCacher.cacheRequested"
    );
    assert!(bad.attributes["event_publisher.invalid.errors"].contains("cache_path"));
    assert_eq!(got.log("x.yFailed").severity, "SEVERITY_NUMBER_ERROR(17)");
    assert_eq!(
        got.span("execute_tool Bash").end - got.span("execute_tool Bash").start,
        3_000_000
    );
}

#[test]
fn collector_down_then_flush_delivers_each_event_exactly_once() {
    let (grpc, http) = (free_port(), free_port());
    let env = Env::new();
    let endpoint = format!("http://127.0.0.1:{http}");
    let times = session(&env, &[("EVENT_PUBLISHER_OTLP_ENDPOINT", &endpoint)]);
    for t in &times {
        // Connection refused returns at once; the bound only catches a hang.
        assert!(*t < Duration::from_secs(3), "{times:?}");
    }
    let spooled = spool_files(&env.events());
    let items: u64 = spooled
        .iter()
        .map(|n| n.split('.').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(items, 3 + 2, "3 events and 2 spans wait: {spooled:?}");
    let state: Value =
        serde_json::from_slice(&std::fs::read(env.events().join(".spool/state.json")).unwrap())
            .unwrap();
    assert!(state["failures"].as_u64().unwrap() >= 1, "{state}");
    assert!(
        state["last_error"].as_str().unwrap().contains("refused"),
        "{state}"
    );

    // Still down: flush says what is left and why, and fails.
    let out = env
        .test()
        .args(&["flush", "--otlp-endpoint", &endpoint])
        .status(1)
        .run();
    assert!(out.stdout.contains("sent 0 request(s)"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("left 4 request(s): 3 event(s), 2 span(s)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("why: ") && out.stdout.contains("refused"),
        "{}",
        out.stdout
    );

    let Some(collector) = Collector::start_on(grpc, http) else {
        return;
    };
    let out = env
        .test()
        .args(&["flush", "--json", "--otlp-endpoint", &endpoint])
        .run();
    let report = out.json();
    assert_eq!(report["sent"]["events"], 3);
    assert_eq!(report["sent"]["spans"], 2);
    assert_eq!(report["left"]["requests"], 0);
    assert_eq!(report["why"], Value::Null);
    let got = collector.wait_for(3, 2);
    check_session(&env, &got);
    assert!(spool_files(&env.events()).is_empty());

    // Nothing is sent twice: a second flush and a replayed hook add nothing.
    env.test()
        .args(&["flush", "--otlp-endpoint", &endpoint])
        .stdout_has("sent 0 request(s)")
        .run();
    session(&env, &[("EVENT_PUBLISHER_OTLP_ENDPOINT", &endpoint)]);
    std::thread::sleep(Duration::from_millis(500));
    let again = collector.received();
    assert_eq!((again.logs.len(), again.spans.len()), (3, 2));
}

#[test]
fn a_later_hook_drains_the_spool_once_the_collector_is_back() {
    let (grpc, http) = (free_port(), free_port());
    let env = Env::new();
    let endpoint = format!("127.0.0.1:{grpc}");
    let vars = [
        ("EVENT_PUBLISHER_OTLP_ENDPOINT", endpoint.as_str()),
        ("EVENT_PUBLISHER_OTLP_PROTOCOL", "grpc"),
    ];
    session(&env, &vars);
    assert_eq!(spool_files(&env.events()).len(), 4);
    let Some(collector) = Collector::start_on(grpc, http) else {
        return;
    };
    // Once the breaker's wait is over, any hook sends what waits.
    let state: Value =
        serde_json::from_slice(&std::fs::read(env.events().join(".spool/state.json")).unwrap())
            .unwrap();
    let retry_at = state["retry_at_ms"].as_u64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        retry_at > now.saturating_sub(1000),
        "the breaker opened: {state}"
    );
    std::thread::sleep(Duration::from_millis(retry_at.saturating_sub(now) + 50));
    let payload = crate::test::bash_value(
        "s2",
        "tu2",
        "<EVENT>{\"name\": \"urlCacher.urlValidated\", \"attributes\": {\"url\": \"u\"}}</EVENT>",
    );
    let mut t = env.test().args(&["publish"]).stdin(payload.to_string());
    for (k, v) in vars {
        t = t.var(k, v);
    }
    t.run();
    let got = collector.wait_for(4, 2);
    assert_eq!(got.logs.len(), 4);
    assert!(spool_files(&env.events()).is_empty());
}

/// A peer that accepts connections and never answers.
fn silent_peer() -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        let until = std::time::Instant::now() + Duration::from_secs(15);
        while std::time::Instant::now() < until {
            match listener.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
            for s in &mut held {
                let _ = s.set_nonblocking(true);
                let _ = s.read(&mut [0u8; 4096]);
            }
        }
    });
    (port, handle)
}

#[test]
fn a_collector_that_never_answers_costs_one_deadline_then_nothing() {
    let (port, _peer) = silent_peer();
    for protocol in ["http/protobuf", "grpc"] {
        let env = Env::new();
        let endpoint = format!("http://127.0.0.1:{port}");
        let vars = [
            ("EVENT_PUBLISHER_OTLP_ENDPOINT", endpoint.as_str()),
            ("EVENT_PUBLISHER_OTLP_PROTOCOL", protocol),
            ("EVENT_PUBLISHER_OTLP_TIMEOUT_MS", "300"),
        ];
        let mut t = env
            .test()
            .args(&["publish"])
            .fixture(&format!("{FG}post-tool-use-bash-in-subagent.json"));
        for (k, v) in vars {
            t = t.var(k, v);
        }
        let first = t.stderr_has("no answer from").run();
        // The deadline (300 ms) bounds the wait; the margin covers start-up.
        assert!(
            first.elapsed < Duration::from_millis(2000),
            "{protocol}: {:?}",
            first.elapsed
        );
        assert!(
            first.elapsed >= Duration::from_millis(250),
            "{protocol}: {:?}",
            first.elapsed
        );
        // The breaker is open: the next hook does not wait at all.
        let mut t = env
            .test()
            .args(&["publish"])
            .fixture(&format!("{FG}subagent-stop.json"));
        for (k, v) in vars {
            t = t.var(k, v);
        }
        let second = t.stderr("").run();
        assert!(
            second.elapsed < first.elapsed,
            "{protocol}: {:?}",
            second.elapsed
        );
        assert_eq!(spool_files(&env.events()).len(), 4, "{protocol}");
    }
}

#[test]
fn headers_never_appear_in_messages_or_the_spool_state() {
    let env = Env::new();
    let secret = "Bearer s3cr3t-t0ken";
    let out = env
        .test()
        .args(&[
            "publish",
            "-v",
            "--otlp-header",
            &format!("authorization={secret}"),
        ])
        .var(
            "EVENT_PUBLISHER_OTLP_ENDPOINT",
            "http://user:pa55word@127.0.0.1:1",
        )
        .var("OTEL_EXPORTER_OTLP_HEADERS", "x-key=v%2Fery-secret,broken")
        .fixture(&format!("{FG}post-tool-use-bash-in-subagent.json"))
        .run();
    assert!(out.stderr.contains("otlp export failed"), "{}", out.stderr);
    let flush = env
        .test()
        .args(&["flush", "--otlp-header", &format!("authorization={secret}")])
        .var(
            "EVENT_PUBLISHER_OTLP_ENDPOINT",
            "http://user:pa55word@127.0.0.1:1",
        )
        .status(1)
        .run();
    let state = std::fs::read_to_string(env.events().join(".spool/state.json")).unwrap();
    for text in [&out.stderr, &flush.stdout, &flush.stderr, &state] {
        for s in ["s3cr3t", "pa55word", "very-secret", "v%2Fery"] {
            assert!(!text.contains(s), "{s} leaked: {text}");
        }
    }
}

#[test]
fn a_full_spool_says_so_and_flush_reports_the_drop() {
    let env = Env::new();
    let vars = [
        ("EVENT_PUBLISHER_OTLP_ENDPOINT", "http://127.0.0.1:1"),
        ("EVENT_PUBLISHER_OTLP_SPOOL_MAX_FILES", "1"),
    ];
    let mut t = env
        .test()
        .args(&["publish"])
        .fixture(&format!("{FG}post-tool-use-bash-in-subagent.json"));
    for (k, v) in vars {
        t = t.var(k, v);
    }
    // One request fits (the event); the span's does not and is not sent.
    t.stderr_has("otlp spool full")
        .stderr_has("1 span(s) not exported")
        .run();
    assert_eq!(spool_files(&env.events()).len(), 1);
    let dropped = std::fs::read_to_string(env.events().join(".spool/dropped.jsonl")).unwrap();
    assert!(dropped.contains("traces"), "{dropped}");
    let mut t = env.test().args(&["flush", "--json"]);
    for (k, v) in vars {
        t = t.var(k, v);
    }
    let report = t.status(1).run().json();
    assert_eq!(report["dropped"]["requests"], 1);
    assert_eq!(report["dropped"]["items"], 1);
    assert_eq!(report["left"]["events"], 1);
}

#[test]
fn the_sink_is_off_without_an_endpoint() {
    let env = Env::new();
    session(&env, &[]);
    assert_eq!(env.records().len(), 3);
    assert!(!env.events().join(".spool").exists());
    Test::new()
        .args(&["flush"])
        .stdout_has("nothing to flush")
        .run();
}
