//! The example agent, `.claude/agents/url-cacher.md`: every marker it shows
//! passes `check` against `schemas/`, every `echo` it tells the agent to run
//! prints its marker intact, and every `urlCacher.*` schema has an example,
//! so the agent's instructions and the schemas cannot drift apart.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::test::{REPO, Test};

fn agent_file() -> PathBuf {
    Path::new(REPO).join(".claude/agents/url-cacher.md")
}

fn agent_text() -> String {
    std::fs::read_to_string(agent_file()).unwrap()
}

/// The event names that have a schema: `urlCacher.<event>.schema.json`.
fn schema_names() -> BTreeSet<String> {
    std::fs::read_dir(Path::new(REPO).join("schemas"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let event = name.strip_suffix(".schema.json")?;
            event.starts_with("urlCacher.").then(|| event.to_string())
        })
        .collect()
}

#[test]
fn every_marker_in_the_agent_file_is_valid() {
    let text = agent_text();
    // Every opening tag in the file must start a valid marker: prose that
    // mentioned the tag would show up here as an invalid one.
    let openings = text.matches("<EVENT>").count();
    let out = Test::new()
        .args(&["check"])
        .arg(agent_file())
        .stdout_has(&format!("{openings} markers, 0 invalid\n"))
        .status(0)
        .run();
    assert!(!out.stdout.contains("invalid  "), "{}", out.stdout);

    let out = Test::new()
        .args(&["check", "--json"])
        .arg(agent_file())
        .run();
    let verdicts = out.json();
    let shown: BTreeSet<String> = verdicts
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect();
    let schemas = schema_names();
    assert_eq!(schemas.len(), 7, "{schemas:?}");
    assert_eq!(shown, schemas, "every event has an example, and only those");
}

#[test]
fn every_echo_prints_its_marker_intact() {
    let text = agent_text();
    let echoes: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("echo '<EVENT>"))
        .collect();
    assert!(echoes.len() >= 7, "{echoes:?}");
    assert_eq!(
        echoes.len(),
        text.matches("<EVENT>").count(),
        "every marker is shown as the echo the agent runs"
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(echoes.join("\n"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), echoes.len());
    for (line, echo) in lines.iter().zip(&echoes) {
        // What the shell printed is what sits between the quotes.
        assert_eq!(format!("echo '{line}'"), *echo);
        assert!(line.starts_with("<EVENT>") && line.ends_with("</EVENT>"));
    }
    // And it passes `check` as the hook would see it, on stdout.
    Test::new()
        .args(&["check"])
        .stdin(printed)
        .stdout_has(&format!("{} markers, 0 invalid\n", echoes.len()))
        .run();
}

#[test]
fn front_matter_names_the_agent_and_its_tools() {
    let text = agent_text();
    let rest = text.strip_prefix("---\n").expect("front matter first");
    let (front, body) = rest.split_once("\n---\n").expect("front matter closed");
    let field = |key: &str| {
        front
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("no {key} in front matter"))
            .to_string()
    };
    assert_eq!(field("name"), "url-cacher");
    assert!(field("description").contains(".metadata/cache/"));
    let tools: Vec<String> = field("tools")
        .split(',')
        .map(|t| t.trim().to_string())
        .collect();
    for t in ["Bash", "WebFetch", "Read", "Write"] {
        assert!(tools.iter().any(|x| x == t), "{tools:?}");
    }
    // Front matter values must not need YAML quoting.
    for line in front.lines() {
        let (_, value) = line.split_once(": ").unwrap();
        assert!(!value.contains(": ") && !value.contains(" #"), "{line}");
    }
    assert!(body.contains("event-publisher rejected"));
}

#[test]
fn the_agent_markers_are_published_from_bash_output() {
    // A Bash PostToolUse whose stdout holds every echo's output stores one
    // valid record per marker.
    let text = agent_text();
    let printed: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("echo '")?.strip_suffix('\''))
        .map(str::to_string)
        .collect();
    let t = Test::new();
    let env = t.env_().clone();
    let mut payload =
        crate::test::bash_value("s-agent-doc", "toolu_agent_doc", &printed.join("\n"));
    payload["cwd"] = serde_json::json!(env.project());
    t.args(&["publish"])
        .stdin(serde_json::to_vec(&payload).unwrap())
        .stdout("")
        .run();
    let records = env.records();
    assert_eq!(records.len(), printed.len());
    assert!(env.dead_letters().is_empty());
    let names: BTreeSet<&str> = records
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 7);
    for r in &records {
        assert_eq!(r["source"]["tool_use_id"], "toolu_agent_doc", "{r:#}");
    }
}
