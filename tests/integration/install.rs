//! `install` / `uninstall`, and the repository's own wiring
//! (`.claude/settings.json`, `hooks/hooks.json`): every hook command written
//! is run through `sh -c`, as Claude Code runs it, on a real payload.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::test::{BIN, Env, REPO, Test};

const BASH: &str = "claude-code-2.1.328/foreground-post-tool-use-bash-in-subagent.json";
const SUBAGENT_STOP: &str = "claude-code-2.1.328/foreground-subagent-stop.json";
const STOP: &str = "claude-code-2.1.328/foreground-stop.json";
const FAILURE: &str = "claude-code-2.1.328/lifecycle/main-post-tool-use-failure-bash.json";
const SUBAGENT_START: &str = "claude-code-2.1.328/lifecycle/subagent-start.json";
const SESSION_START: &str = "claude-code-2.1.328/lifecycle/session-start.json";
const SESSION_END: &str = "claude-code-2.1.328/lifecycle/session-end.json";

/// The events and matchers every wiring must cover, each with a captured
/// payload of that hook.
const HOOKS: [(&str, Option<&str>, &str); 7] = [
    ("PostToolUse", Some("Agent|Task|Bash"), BASH),
    ("PostToolUseFailure", Some("Agent|Task|Bash"), FAILURE),
    ("SubagentStop", None, SUBAGENT_STOP),
    ("Stop", None, STOP),
    ("SubagentStart", None, SUBAGENT_START),
    ("SessionStart", None, SESSION_START),
    ("SessionEnd", None, SESSION_END),
];

fn settings_path(env: &Env) -> PathBuf {
    env.project().join(".claude/settings.json")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// This binary's path as `install` writes it (symlinks resolved).
fn bin_command() -> String {
    format!(
        "{} publish",
        std::fs::canonicalize(BIN).unwrap().to_str().unwrap()
    )
}

/// The one handler command of `event` (with `matcher`) in a `hooks` object.
fn command_of(hooks: &Value, event: &str, matcher: Option<&str>) -> String {
    let groups: Vec<&Value> = hooks[event]
        .as_array()
        .unwrap_or_else(|| panic!("no {event} in {hooks:#}"))
        .iter()
        .filter(|g| g.get("matcher").and_then(Value::as_str) == matcher)
        .collect();
    assert_eq!(groups.len(), 1, "{event} {matcher:?} in {hooks:#}");
    let handlers = groups[0]["hooks"].as_array().unwrap();
    assert_eq!(handlers.len(), 1, "{handlers:?}");
    assert_eq!(handlers[0]["type"], "command");
    handlers[0]["command"].as_str().unwrap().to_string()
}

/// Runs a hook command as Claude Code does (`sh -c`, payload on stdin) in
/// the sandbox; returns (status, stderr).
fn run_hook(env: &Env, command: &str, fixture: &str, vars: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.home())
        .env("XDG_CONFIG_HOME", env.root().join("config"))
        .env("CLAUDE_PROJECT_DIR", env.project())
        .current_dir(env.project())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn sh");
    let payload = env.payload(fixture);
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&payload);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the hook commands of `hooks` on matching payloads and checks that
/// each one published its events.
fn assert_hooks_publish(env: &Env, hooks: &Value, vars: &[(&str, &str)]) {
    for (event, matcher, fixture) in HOOKS {
        let command = command_of(hooks, event, matcher);
        let (status, stderr) = run_hook(env, &command, fixture, vars);
        assert_eq!(status, 0, "{command}: {stderr}");
        assert_eq!(stderr, "", "{command}");
    }
    let mut names: Vec<String> = env
        .records()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .filter(|n| !n.starts_with("claudeCode."))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "urlCacher.cacheCheckStarted",
            "urlCacher.cacheCheckStarted",
            "urlCacher.cacheRequested",
            "urlCacher.urlValidated"
        ],
        "the failed call's marker too"
    );
}

#[test]
fn install_wires_the_project_with_the_absolute_binary_path() {
    let env = Env::new();
    let out = env.test().args(&["install"]).run();
    let path = settings_path(&env);
    assert!(
        out.stdout.starts_with(&format!(
            "{}: installed 7 hooks (file created)\n",
            path.display()
        )),
        "{}",
        out.stdout
    );
    let settings = read_json(&path);
    let command = bin_command();
    assert!(Path::new(command.split(' ').next().unwrap()).is_absolute());
    for (event, matcher, _) in HOOKS {
        assert_eq!(command_of(&settings["hooks"], event, matcher), command);
    }
    assert_hooks_publish(&env, &settings["hooks"], &[]);
}

#[test]
fn second_install_changes_nothing_and_says_so() {
    let env = Env::new();
    env.test().args(&["install"]).run();
    let path = settings_path(&env);
    let before = std::fs::read(&path).unwrap();
    env.test()
        .args(&["install"])
        .stdout(&format!(
            "{}: event-publisher hooks already installed; nothing changed\n",
            path.display()
        ))
        .stderr("")
        .run();
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(
        env.files(&env.project().join(".claude")),
        [PathBuf::from("settings.json")],
        "no temporary file left"
    );
}

#[test]
fn install_then_uninstall_gives_back_the_same_bytes() {
    let env = Env::new();
    let original = json!({
        "permissions": {"allow": ["Bash(ls:*)"]},
        "hooks": {
            "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}],
            "PostToolUse": [
                {"matcher": "Write|Edit", "hooks": [{"type": "command", "command": "cargo fmt"}]}
            ],
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "guard"}]}]
        },
        "model": "opus"
    });
    let text = format!("{}\n", serde_json::to_string_pretty(&original).unwrap());
    let path = settings_path(&env);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &text).unwrap();

    env.test()
        .args(&["install"])
        .stdout_has("installed 7 hooks\n")
        .run();
    let installed = read_json(&path);
    let keys: Vec<&String> = installed.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["permissions", "hooks", "model"]);
    let events: Vec<&String> = installed["hooks"].as_object().unwrap().keys().collect();
    assert_eq!(
        events,
        [
            "Stop",
            "PostToolUse",
            "PreToolUse",
            "PostToolUseFailure",
            "SubagentStop",
            "SubagentStart",
            "SessionStart",
            "SessionEnd"
        ]
    );
    assert_eq!(
        installed["hooks"]["Stop"][0], original["hooks"]["Stop"][0],
        "the user's Stop hook comes first, untouched"
    );
    assert_eq!(
        installed["hooks"]["PreToolUse"],
        original["hooks"]["PreToolUse"]
    );
    assert_eq!(installed["permissions"], original["permissions"]);

    env.test()
        .args(&["uninstall"])
        .stdout_has("removed 7 hooks\n")
        .run();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    env.test()
        .args(&["uninstall"])
        .stdout(&format!(
            "{}: no event-publisher hooks found; nothing changed\n",
            path.display()
        ))
        .run();
}

#[test]
fn uninstall_removes_only_event_publisher_handlers() {
    let env = Env::new();
    let path = settings_path(&env);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // Ours (another binary's path), and look-alikes that are not ours.
    let settings = json!({"hooks": {"Stop": [{"hooks": [
        {"type": "command", "command": "/old/bin/event-publisher publish"},
        {"type": "command", "command": "/old/bin/event-publisher publish --verbose"},
        {"type": "command", "command": "/old/bin/event-publisher check"},
        {"type": "command", "command": "/usr/bin/publisher publish"}
    ]}]}});
    std::fs::write(&path, serde_json::to_vec_pretty(&settings).unwrap()).unwrap();
    env.test()
        .args(&["uninstall"])
        .stdout_has("removed 1 hook\n  - Stop: /old/bin/event-publisher publish\n")
        .run();
    let after = read_json(&path);
    let left: Vec<&str> = after["hooks"]["Stop"][0]["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        left,
        [
            "/old/bin/event-publisher publish --verbose",
            "/old/bin/event-publisher check",
            "/usr/bin/publisher publish"
        ]
    );
}

#[test]
fn a_moved_binary_is_updated_in_place() {
    let env = Env::new();
    let path = settings_path(&env);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let old = "/gone/event-publisher publish";
    let settings = json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": old}]}]}});
    std::fs::write(&path, serde_json::to_vec_pretty(&settings).unwrap()).unwrap();
    env.test()
        .args(&["install"])
        .stdout_has(&format!("  ~ Stop: {old} -> {}\n", bin_command()))
        .run();
    let after = read_json(&path);
    assert_eq!(command_of(&after["hooks"], "Stop", None), bin_command());
}

#[test]
fn dry_run_shows_the_change_and_writes_nothing() {
    let env = Env::new();
    let out = env.test().args(&["install", "--dry-run"]).run();
    let path = settings_path(&env);
    assert!(
        !env.project().join(".claude").exists(),
        "not even the directory"
    );
    let command = bin_command();
    let expected_head = format!(
        "{}: would install 7 hooks (the file would be created)\n\
         \x20 + PostToolUse (Agent|Task|Bash): {command}\n\
         \x20 + PostToolUseFailure (Agent|Task|Bash): {command}\n\
         \x20 + SubagentStop: {command}\n\
         \x20 + Stop: {command}\n\
         \x20 + SubagentStart: {command}\n\
         \x20 + SessionStart: {command}\n\
         \x20 + SessionEnd: {command}\n\
         \"hooks\" after the change:\n",
        path.display()
    );
    assert!(out.stdout.starts_with(&expected_head), "{}", out.stdout);
    assert!(out.stdout.ends_with("}\ndry run: nothing written\n"));
    // What it shows is exactly what install then writes.
    let shown =
        &out.stdout[expected_head.len()..out.stdout.len() - "dry run: nothing written\n".len()];
    let shown: Value = serde_json::from_str(shown).unwrap();
    env.test().args(&["install"]).run();
    assert_eq!(read_json(&path)["hooks"], shown);

    let before = std::fs::read(&path).unwrap();
    env.test()
        .args(&["uninstall", "--dry-run"])
        .stdout_has("would remove 7 hooks\n")
        .stdout_has("\"hooks\" would be removed (it would be empty)\n")
        .run();
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn refuses_a_settings_file_that_is_not_json() {
    let env = Env::new();
    let path = settings_path(&env);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let broken = "{\n  \"model\": \"opus\",\n}\n";
    std::fs::write(&path, broken).unwrap();
    for cmd in ["install", "uninstall"] {
        let out = env.test().args(&[cmd]).status(1).stdout("").run();
        assert!(
            out.stderr.starts_with(&format!(
                "event-publisher: {} is not valid JSON",
                path.display()
            )),
            "{}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
    }
}

#[test]
fn refuses_settings_it_cannot_merge_into() {
    let env = Env::new();
    let path = settings_path(&env);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "{\"hooks\": [1]}").unwrap();
    let out = env
        .test()
        .args(&["install"])
        .status(1)
        .stderr_has("\"hooks\" is not an object")
        .run();
    assert_eq!(out.stderr.lines().count(), 1);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"hooks\": [1]}");
}

#[cfg(unix)]
#[test]
fn keeps_the_file_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let path = settings_path(&env);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "{}\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    env.test().args(&["install"]).run();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
}

#[test]
fn user_settings_with_user_flag_and_config_dir() {
    let env = Env::new();
    env.test()
        .args(&["install", "--user"])
        .stdout_has("installed 7 hooks")
        .run();
    let user = env.home().join(".claude/settings.json");
    assert_eq!(
        command_of(&read_json(&user)["hooks"], "Stop", None),
        bin_command()
    );
    assert!(!settings_path(&env).exists(), "the project is untouched");

    let config_dir = env.root().join("claude-config");
    env.test()
        .args(&["install", "--user"])
        .var("CLAUDE_CONFIG_DIR", &config_dir)
        .stdout_has(&format!(
            "{}: installed 7 hooks",
            config_dir.join("settings.json").display()
        ))
        .run();
    env.test()
        .args(&["uninstall", "--user"])
        .stdout_has("removed 7 hooks")
        .run();
    assert_eq!(read_json(&user), json!({}));
}

#[test]
fn project_dir_flag_and_env() {
    let env = Env::new();
    let other = env.root().join("other");
    std::fs::create_dir_all(&other).unwrap();
    env.test()
        .args(&["--project-dir"])
        .arg(&other)
        .args(&["install"])
        .run();
    assert!(other.join(".claude/settings.json").is_file());
    assert!(!settings_path(&env).exists());
    // Without the flag and $CLAUDE_PROJECT_DIR: the current directory.
    let cwd = env.root().join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let mut cmd = env.test().args(&["install"]).current_dir(&cwd).command();
    let out = cmd.env_remove("CLAUDE_PROJECT_DIR").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(cwd.join(".claude/settings.json").is_file());
}

#[cfg(unix)]
#[test]
fn binary_flag_paths_are_quoted_and_run() {
    let env = Env::new();
    let dir = env.root().join("my tools");
    std::fs::create_dir_all(&dir).unwrap();
    let binary = dir.join("event-publisher");
    std::os::unix::fs::symlink(BIN, &binary).unwrap();
    env.test().args(&["install", "--binary"]).arg(&binary).run();
    let hooks = read_json(&settings_path(&env))["hooks"].clone();
    let command = command_of(&hooks, "Stop", None);
    assert_eq!(command, format!("'{}' publish", binary.display()));
    assert_hooks_publish(&env, &hooks, &[]);
    // `uninstall --binary` removes that binary's hooks only.
    env.test()
        .args(&["uninstall", "--binary", "/elsewhere/event-publisher"])
        .stdout_has("no event-publisher hooks found")
        .run();
    env.test()
        .args(&["uninstall", "--binary"])
        .arg(&binary)
        .stdout_has("removed 7 hooks")
        .run();
}

#[test]
fn binary_flag_is_checked() {
    let t = Test::new();
    let sh = t.env_().root().join("sh");
    std::fs::write(&sh, "").unwrap();
    t.args(&["install", "--binary"])
        .arg(&sh)
        .status(1)
        .stderr_has("the binary must be named event-publisher")
        .run();
    Test::new()
        .args(&["install", "--binary", "/no/such/event-publisher"])
        .status(1)
        .stderr("event-publisher: --binary /no/such/event-publisher: no such file\n")
        .run();
}

#[cfg(unix)]
#[test]
fn repository_settings_run_the_checkout_build() {
    let settings = read_json(&Path::new(REPO).join(".claude/settings.json"));
    let env = Env::new();
    // The checkout's release build, as `cargo build --release` leaves it
    // on x86_64 Linux (`.cargo/config.toml` names the target).
    let release = env
        .project()
        .join("target/x86_64-unknown-linux-gnu/release");
    std::fs::create_dir_all(&release).unwrap();
    std::os::unix::fs::symlink(BIN, release.join("event-publisher")).unwrap();
    assert_hooks_publish(&env, &settings["hooks"], &[]);
    // `install` recognizes them as event-publisher's: no twin is added.
    let path = settings_path(&env);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(Path::new(REPO).join(".claude/settings.json"), &path).unwrap();
    env.test()
        .args(&["uninstall", "--dry-run"])
        .stdout_has("would remove 7 hooks")
        .run();
}

#[cfg(unix)]
#[test]
fn plugin_hooks_run_the_plugin_build_else_the_one_on_path() {
    let plugin = read_json(&Path::new(REPO).join("hooks/hooks.json"));
    for (event, matcher, _) in HOOKS {
        assert!(
            command_of(&plugin["hooks"], event, matcher).contains("${CLAUDE_PLUGIN_ROOT}"),
            "{event}"
        );
    }
    let manifest = read_json(&Path::new(REPO).join(".claude-plugin/plugin.json"));
    assert_eq!(manifest["name"], "event-publisher");

    let env = Env::new();
    let root = env.root().join("plugin root");
    // The plugin's release build, under whichever target it was built for.
    let release = root.join("target/aarch64-apple-darwin/release");
    std::fs::create_dir_all(&release).unwrap();
    std::os::unix::fs::symlink(BIN, release.join("event-publisher")).unwrap();
    let root_var = root.to_str().unwrap();
    assert_hooks_publish(&env, &plugin["hooks"], &[("CLAUDE_PLUGIN_ROOT", root_var)]);

    // No build in the plugin: the event-publisher on PATH.
    let env = Env::new();
    let bare = env.root().join("bare plugin");
    let bin_dir = env.root().join("bin");
    std::fs::create_dir_all(&bare).unwrap();
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(BIN, bin_dir.join("event-publisher")).unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    assert_hooks_publish(
        &env,
        &plugin["hooks"],
        &[
            ("CLAUDE_PLUGIN_ROOT", bare.to_str().unwrap()),
            ("PATH", &path),
        ],
    );
}
