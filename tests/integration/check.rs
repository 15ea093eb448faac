//! `check`, for agent authors.

use crate::test::Test;

#[test]
fn lists_every_marker_with_its_errors_and_fails_on_invalid() {
    let text = r#"ok <EVENT>{"name":"urlCacher.urlValidated","attributes":{"url":"u"}}</EVENT>
bad <EVENT>{"name":"urlCacher.cacheRequested","attributes":{"url":"u"}}</EVENT> <EVENT>nope</EVENT>"#;
    let out = Test::new().args(&["check", "--text", text]).status(1).run();
    assert_eq!(
        out.stdout,
        "ok       text  urlCacher.urlValidated\n\
         invalid  text  urlCacher.cacheRequested\n\
         \x20        - [schema] /attributes: \"cache_path\" is a required property\n\
         invalid  text  (no name)\n\
         \x20        - [malformed_json] not valid JSON: expected ident at line 1 column 2\n\
         3 markers, 2 invalid\n"
    );
}

#[test]
fn reads_payload_files_by_their_hook_rules() {
    let t = Test::new();
    let payload = t
        .env_()
        .payload("claude-code-2.1.328/foreground-post-tool-use-bash-in-subagent.json");
    let file = t.env_().root().join("payload.json");
    std::fs::write(&file, payload).unwrap();
    // tool_input echoes the marker too; only tool_response counts.
    t.arg("check")
        .arg(&file)
        .stdout_has("1 marker, 0 invalid")
        .status(0)
        .run();
}

#[test]
fn json_output_and_stdin() {
    let out = Test::new()
        .args(&["check", "--json"])
        .stdin(r#"<EVENT>{"name":"urlCacher.cacheFailed","attributes":{"url":"u","error":"e","stage":"later"}}</EVENT>"#)
        .status(1)
        .run();
    let v = out.json();
    assert_eq!(v[0]["valid"], false);
    assert_eq!(v[0]["errors"][0]["instance_path"], "/attributes/stage");
}

#[test]
fn a_secret_shaped_name_is_invalid_as_publish_finds_it_and_never_shown() {
    // An AWS access key id shape, built so that no scanner flags this file.
    let key = format!("AKIA{}", "ABCDEFGHIJKLMNOP");
    let text = format!(r#"<EVENT>{{"name":"{key}.x","attributes":{{}}}}</EVENT>"#);
    let out = Test::new()
        .args(&[
            "check",
            "--unknown-events",
            "accept",
            "--json",
            "--text",
            &text,
        ])
        .status(1)
        .run();
    let v = out.json();
    assert_eq!(v[0]["valid"], false);
    assert_eq!(v[0]["errors"][0]["kind"], "invalid_envelope");
    assert_eq!(v[0]["name"], "[REDACTED:aws_access_key_id].x");
    assert!(!out.stdout.contains(&key), "{}", out.stdout);
}
