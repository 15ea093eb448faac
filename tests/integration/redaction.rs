//! Redaction through `publish`: secrets in events never reach `.events/`,
//! on by default, configurable in the config file, off by environment.

use serde_json::{Value, json};

use crate::test::Env;

const GH: &str = "ghp_R4nd0mT0k3nV4lu3Xy9Zq8Wv7Ut6Sr5Qp4On3";

fn bash_payload(stdout: &str) -> Vec<u8> {
    crate::test::bash("s-redact", "toolu_redact", stdout)
}

fn marker(event: Value) -> String {
    format!("<EVENT>{event}</EVENT>")
}

fn stored_text(env: &Env) -> String {
    env.files(&env.events())
        .iter()
        .map(|f| std::fs::read_to_string(env.events().join(f)).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn secrets_in_valid_events_and_dead_letters_are_redacted() {
    let env = Env::new();
    let valid = marker(json!({"name": "urlCacher.cacheRequested", "attributes": {
        "url": format!("https://{GH}@github.com/o/r?password=hunter2"),
        "cache_path": "/tmp/cache"}}));
    // Invalid (cache_path missing): the raw marker text is kept, redacted.
    let invalid = marker(json!({"name": "urlCacher.cacheRequested", "attributes": {
        "url": "https://example.com/?api_key=7hG5fD3sA1qW9eR7"}}));
    env.test()
        .args(&["publish", "--no-feedback"])
        .stdin(bash_payload(&format!("{valid}\n{invalid}")))
        .run();
    let records = env.records();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0]["attributes"]["url"],
        "https://[REDACTED:github_token]@github.com/o/r?password=[REDACTED:secret]"
    );
    let dead = env.dead_letters();
    assert_eq!(dead.len(), 1);
    let raw = dead[0]["raw"].as_str().unwrap();
    assert!(raw.contains("api_key=[REDACTED:secret]"), "{raw}");
    let all = stored_text(&env);
    for secret in [GH, "hunter2", "7hG5fD3sA1qW9eR7"] {
        assert!(!all.contains(secret), "{secret} stored");
    }
}

#[test]
fn ids_do_not_depend_on_redaction() {
    let payload = bash_payload(&marker(json!({"name": "urlCacher.cacheRequested",
        "attributes": {"url": format!("https://x.test/?token={GH}"), "cache_path": "/c"}})));
    let on = Env::new();
    on.test().args(&["publish"]).stdin(payload.clone()).run();
    let off = Env::new();
    off.test()
        .args(&["publish"])
        .var("EVENT_PUBLISHER_REDACTION", "off")
        .stdin(payload)
        .run();
    let (a, b) = (on.records(), off.records());
    assert_eq!(a[0]["id"], b[0]["id"]);
    assert_eq!(
        a[0]["attributes"]["url"],
        "https://x.test/?token=[REDACTED:github_token]"
    );
    assert_eq!(
        b[0]["attributes"]["url"],
        format!("https://x.test/?token={GH}")
    );
}

#[test]
fn config_file_adds_patterns_and_attribute_names_or_turns_it_off() {
    let env = Env::new();
    std::fs::create_dir_all(env.project().join(".claude")).unwrap();
    std::fs::write(
        env.project().join(".claude/event-publisher.json"),
        json!({"unknown_events": "accept", "redaction": {
            "patterns": [{"name": "employee_id", "regex": "EMP-(?P<secret>\\d{6})"}],
            "attributes": ["pin"]}})
        .to_string(),
    )
    .unwrap();
    env.test()
        .args(&["publish"])
        .stdin(bash_payload(&marker(
            json!({"name": "hr.looked", "attributes": {
            "who": "EMP-123456", "pin": "0000", "password": "x"}}),
        )))
        .run();
    let r = &env.records()[0]["attributes"];
    assert_eq!(
        r,
        &json!({"who": "EMP-[REDACTED:employee_id]", "pin": "[REDACTED:pin]", "password": "[REDACTED:password]"})
    );

    std::fs::write(
        env.project().join(".claude/event-publisher.json"),
        json!({"unknown_events": "accept", "redaction": {"enabled": false}}).to_string(),
    )
    .unwrap();
    env.test()
        .args(&["publish"])
        .stdin(bash_payload(&marker(
            json!({"name": "hr.other", "attributes": {
            "password": "x"}}),
        )))
        .run();
    let kept: Vec<Value> = env
        .records()
        .into_iter()
        .filter(|r| r["name"] == "hr.other")
        .collect();
    assert_eq!(kept[0]["attributes"]["password"], "x");
}

#[test]
fn a_pattern_that_does_not_compile_is_reported_in_one_line() {
    let env = Env::new();
    std::fs::create_dir_all(env.project().join(".claude")).unwrap();
    std::fs::write(
        env.project().join(".claude/event-publisher.json"),
        json!({"unknown_events": "accept", "redaction": {
            "patterns": [{"name": "bad", "regex": "(unclosed"}]}})
        .to_string(),
    )
    .unwrap();
    let out = env
        .test()
        .args(&["publish"])
        .stdin(bash_payload(&marker(
            json!({"name": "a.b", "attributes": {"password": "x"}}),
        )))
        .stderr_has("redaction pattern \"bad\" does not compile")
        .run();
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert_eq!(
        env.records()[0]["attributes"]["password"],
        "[REDACTED:password]"
    );
}
