//! The hook entries event-publisher needs, merged into (and taken out of)
//! Claude Code settings held as a `serde_json::Value`. Pure functions: the
//! command module does the reading, showing and writing.
//!
//! Settings shape (Claude Code's hooks reference):
//! `{"hooks": {"<Event>": [{"matcher": "...", "hooks": [{"type": "command", "command": "..."}]}]}}`.
//!
//! **Which handlers are event-publisher's.** A handler is ours when it is a
//! shell-form command hook (`"type": "command"`, no `args`) whose command
//! splits, by POSIX shell rules, into exactly two words: a path whose last
//! component is `event-publisher` (or `event-publisher.exe`), with no shell
//! operator in it, and `publish`. That is what `install` writes, whatever the
//! binary's directory (so a moved binary's old entry is recognized and
//! updated), and nothing a user wrote for another purpose: a command with
//! extra flags, a pipe or a wrapper script is theirs and is left alone.
//! Only handlers in a matcher group of one of [`HOOKS`] (same event, same
//! matcher) are considered, since `install` adds nothing anywhere else.

use serde_json::{Map, Value, json};

use super::change::Change;
use super::json_edit::{Edit, Seg};
use crate::error::{Error, Result};

/// The file name of the binary, as the ownership rule expects it.
pub const BINARY_NAME: &str = "event-publisher";

/// One hook event and matcher event-publisher is run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HookSpec {
    pub event: &'static str,
    /// `None` matches everything (no `matcher` key is written).
    pub matcher: Option<&'static str>,
}

/// Every hook event-publisher is run on: the subagent reports and Bash output
/// (`Task` is the Agent tool's name before Claude Code 2.1.63), the output of
/// a failed call (PostToolUseFailure, same matcher), subagent ends
/// (background runs) and the main agent's last message; then the lifecycle
/// hooks that give the `claudeCode.*` records and the runs' real times.
pub const HOOKS: [HookSpec; 7] = [
    HookSpec {
        event: "PostToolUse",
        matcher: Some("Agent|Task|Bash"),
    },
    HookSpec {
        event: "PostToolUseFailure",
        matcher: Some("Agent|Task|Bash"),
    },
    HookSpec {
        event: "SubagentStop",
        matcher: None,
    },
    HookSpec {
        event: "Stop",
        matcher: None,
    },
    HookSpec {
        event: "SubagentStart",
        matcher: None,
    },
    HookSpec {
        event: "SessionStart",
        matcher: None,
    },
    HookSpec {
        event: "SessionEnd",
        matcher: None,
    },
];

/// The hook command for `binary` (an absolute path): the path, shell-quoted
/// when it needs it, then `publish`.
pub fn command_for(binary: &str) -> Result<String> {
    let quoted = shlex::try_quote(binary)
        .map_err(|e| Error::new(format!("cannot quote {binary:?} for a shell: {e}")))?;
    Ok(format!("{quoted} publish"))
}

/// The binary an event-publisher handler runs (see the module doc for the
/// rule), or `None` when the handler is not ours.
pub fn publish_binary(handler: &Value) -> Option<String> {
    let h = handler.as_object()?;
    if h.get("type")?.as_str()? != "command" || h.contains_key("args") {
        return None;
    }
    let words = shlex::split(h.get("command")?.as_str()?)?;
    let [binary, verb] = <[String; 2]>::try_from(words).ok()?;
    let name = binary.rsplit(['/', '\\']).next()?;
    let named = name == BINARY_NAME || name == format!("{BINARY_NAME}.exe");
    let plain = !binary.contains([';', '&', '|', '<', '>', '(', ')', '`']);
    (verb == "publish" && named && plain).then_some(binary)
}

/// Adds the handler running `command` for each of [`HOOKS`] that lacks it.
/// An event-publisher handler already there with another binary is pointed
/// at `command` instead of getting a twin, unless it runs the binary by
/// `$CLAUDE_PROJECT_DIR` (a checkout's portable form, the user's choice).
/// Returns what changed.
#[cfg(test)]
pub fn install(settings: &mut Value, command: &str) -> Result<Vec<Change>> {
    install_edits(settings, command).map(|(changes, _)| changes)
}

/// `install`, and the same change as edits of the text read (see
/// `json_edit`), so that the file keeps every byte it does not own.
pub fn install_edits(settings: &mut Value, command: &str) -> Result<(Vec<Change>, Vec<Edit>)> {
    let root = settings
        .as_object_mut()
        .ok_or_else(|| Error::new("the settings are not a JSON object"))?;
    let had_hooks = root.contains_key("hooks");
    let mut edits = Vec::new();
    let mut new_events = Vec::new();
    let hooks = root
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| Error::new("\"hooks\" is not an object"))?;
    let mut changes = Vec::new();
    for spec in HOOKS {
        let had_event = hooks.contains_key(spec.event);
        let groups = hooks
            .entry(spec.event)
            .or_insert_with(|| Value::Array(Vec::new()))
            .as_array_mut()
            .ok_or_else(|| Error::new(format!("\"hooks.{}\" is not a list", spec.event)))?;
        let mut present = false;
        let mut stale: Option<(usize, usize, &mut Value)> = None;
        for (gi, group) in groups.iter_mut().enumerate() {
            if !same_matcher(group, spec.matcher) {
                continue;
            }
            let Some(handlers) = group.get_mut("hooks").and_then(Value::as_array_mut) else {
                continue;
            };
            for (hi, handler) in handlers.iter_mut().enumerate() {
                let Some(binary) = publish_binary(handler) else {
                    continue;
                };
                let portable = binary.starts_with("$CLAUDE_PROJECT_DIR")
                    || binary.starts_with("${CLAUDE_PROJECT_DIR}");
                if portable || handler.get("command").and_then(Value::as_str) == Some(command) {
                    present = true;
                } else if stale.is_none() {
                    stale = Some((gi, hi, handler));
                }
            }
        }
        if present {
            continue;
        }
        if let Some((gi, hi, handler)) = stale {
            let from = handler["command"].as_str().unwrap_or_default().to_string();
            handler["command"] = Value::String(command.to_string());
            edits.push(Edit::Replace {
                path: vec![
                    Seg::Key("hooks".into()),
                    Seg::Key(spec.event.into()),
                    Seg::Index(gi),
                    Seg::Key("hooks".into()),
                    Seg::Index(hi),
                    Seg::Key("command".into()),
                ],
                value: Value::String(command.to_string()),
            });
            changes.push(Change::Updated {
                event: spec.event,
                matcher: spec.matcher,
                from,
                command: command.to_string(),
            });
            continue;
        }
        let handler = json!({"type": "command", "command": command});
        let group = match spec.matcher {
            Some(m) => json!({"matcher": m, "hooks": [handler]}),
            None => json!({"hooks": [handler]}),
        };
        groups.push(group.clone());
        match had_event {
            true => edits.push(Edit::Append {
                path: vec![Seg::Key("hooks".into()), Seg::Key(spec.event.into())],
                value: group,
            }),
            false => new_events.push(spec.event),
        }
        changes.push(Change::Added {
            event: spec.event,
            matcher: spec.matcher,
            command: command.to_string(),
        });
    }
    // Lists and the `hooks` object this created go in whole, after the rest.
    if !had_hooks {
        edits = vec![Edit::Insert {
            path: Vec::new(),
            key: "hooks".into(),
            value: Value::Object(hooks.clone()),
        }];
    } else {
        for event in new_events {
            edits.push(Edit::Insert {
                path: vec![Seg::Key("hooks".into())],
                key: event.into(),
                value: hooks[event].clone(),
            });
        }
    }
    Ok((changes, edits))
}

/// Removes the event-publisher handlers of [`HOOKS`] (only those running
/// `only`, when given), then the matcher groups, event lists and `hooks`
/// object this left empty. Anything else stays as it was.
#[cfg(test)]
pub fn uninstall(settings: &mut Value, only: Option<&str>) -> Vec<Change> {
    uninstall_edits(settings, only).0
}

/// `uninstall`, and the same change as edits of the text read.
pub fn uninstall_edits(settings: &mut Value, only: Option<&str>) -> (Vec<Change>, Vec<Edit>) {
    let Some(hooks) = settings.get_mut("hooks").and_then(Value::as_object_mut) else {
        return (Vec::new(), Vec::new());
    };
    let mut changes = Vec::new();
    let mut edits = Vec::new();
    for spec in HOOKS {
        let Some(groups) = hooks.get_mut(spec.event).and_then(Value::as_array_mut) else {
            continue;
        };
        let before = changes.len();
        let at = |rest: &[Seg]| {
            let mut p = vec![Seg::Key("hooks".into()), Seg::Key(spec.event.into())];
            p.extend_from_slice(rest);
            p
        };
        let mut event_edits = Vec::new();
        let mut gi = 0;
        groups.retain_mut(|group| {
            let index = gi;
            gi += 1;
            if !same_matcher(group, spec.matcher) {
                return true;
            }
            let Some(handlers) = group.get_mut("hooks").and_then(Value::as_array_mut) else {
                return true;
            };
            let count = handlers.len();
            let mut handler_edits = Vec::new();
            let mut hi = 0;
            handlers.retain(|h| {
                let command = h.get("command").and_then(Value::as_str).unwrap_or("");
                let ours = publish_binary(h).is_some() && only.is_none_or(|c| c == command);
                if ours {
                    changes.push(Change::Removed {
                        event: spec.event,
                        matcher: spec.matcher,
                        command: command.to_string(),
                    });
                    handler_edits.push(Edit::Remove {
                        path: at(&[Seg::Index(index), Seg::Key("hooks".into()), Seg::Index(hi)]),
                    });
                }
                hi += 1;
                !ours
            });
            let emptied = handlers.is_empty() && handlers.len() < count;
            match emptied {
                true => event_edits.push(Edit::Remove {
                    path: at(&[Seg::Index(index)]),
                }),
                false => event_edits.append(&mut handler_edits),
            }
            !emptied
        });
        if groups.is_empty() && changes.len() > before {
            hooks.shift_remove(spec.event);
            event_edits = vec![Edit::Remove { path: at(&[]) }];
        }
        edits.append(&mut event_edits);
    }
    if hooks.is_empty() && !changes.is_empty() {
        if let Some(root) = settings.as_object_mut() {
            root.shift_remove("hooks");
        }
        edits = vec![Edit::Remove {
            path: vec![Seg::Key("hooks".into())],
        }];
    }
    (changes, edits)
}

/// Whether a matcher group has the matcher `want` (`None`: match all).
/// `""`, `"*"` and no matcher all match everything; lists of exact names
/// compare as sets, so `Bash, Agent|Task` is `Agent|Task|Bash`.
fn same_matcher(group: &Value, want: Option<&str>) -> bool {
    let have = group.get("matcher").map(|m| m.as_str());
    let have = match have {
        None => None,
        Some(None) => return false,
        Some(Some(m)) if m.trim().is_empty() || m.trim() == "*" => None,
        Some(Some(m)) => Some(m),
    };
    match (have, want) {
        (None, None) => true,
        (Some(a), Some(b)) => names(a) == names(b),
        _ => false,
    }
}

/// A matcher as Claude Code reads it: a sorted set of exact names when it
/// holds only letters, digits, `_`, `-`, spaces, `,` and `|`; else the
/// regular expression itself.
fn names(matcher: &str) -> Vec<&str> {
    let exact = matcher
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' ' | ',' | '|'));
    if !exact {
        return vec![matcher];
    }
    let mut v: Vec<&str> = matcher
        .split(['|', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const CMD: &str = "/opt/bin/event-publisher publish";

    fn handler(command: &str) -> Value {
        json!({"type": "command", "command": command})
    }

    #[test]
    fn installs_into_empty_settings() {
        let mut s = json!({});
        let changes = install(&mut s, CMD).unwrap();
        assert_eq!(changes.len(), HOOKS.len());
        assert_eq!(
            s,
            json!({"hooks": {
                "PostToolUse": [{"matcher": "Agent|Task|Bash", "hooks": [handler(CMD)]}],
                "PostToolUseFailure": [{"matcher": "Agent|Task|Bash", "hooks": [handler(CMD)]}],
                "SubagentStop": [{"hooks": [handler(CMD)]}],
                "Stop": [{"hooks": [handler(CMD)]}],
                "SubagentStart": [{"hooks": [handler(CMD)]}],
                "SessionStart": [{"hooks": [handler(CMD)]}],
                "SessionEnd": [{"hooks": [handler(CMD)]}],
            }})
        );
    }

    #[test]
    fn second_install_changes_nothing() {
        let mut s = json!({"model": "opus"});
        install(&mut s, CMD).unwrap();
        let once = s.clone();
        assert_eq!(install(&mut s, CMD).unwrap(), vec![]);
        assert_eq!(s, once);
    }

    #[test]
    fn keeps_other_hooks_settings_and_key_order() {
        let text = r#"{
          "permissions": {"allow": ["Bash(ls)"]},
          "hooks": {
            "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}],
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "guard"}]}],
            "PostToolUse": [{"matcher": "Write", "hooks": [{"type": "command", "command": "fmt"}]}]
          },
          "env": {"A": "1"}
        }"#;
        let mut s: Value = serde_json::from_str(text).unwrap();
        install(&mut s, CMD).unwrap();
        let keys: Vec<&String> = s.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["permissions", "hooks", "env"]);
        let events: Vec<&String> = s["hooks"].as_object().unwrap().keys().collect();
        assert_eq!(
            events,
            [
                "Stop",
                "PreToolUse",
                "PostToolUse",
                "PostToolUseFailure",
                "SubagentStop",
                "SubagentStart",
                "SessionStart",
                "SessionEnd"
            ]
        );
        assert_eq!(
            s["hooks"]["Stop"][0]["hooks"][0]["command"],
            "notify-send done"
        );
        assert_eq!(s["hooks"]["Stop"][1]["hooks"][0]["command"], CMD);
        assert_eq!(s["hooks"]["PostToolUse"][0]["matcher"], "Write");
        assert_eq!(s["hooks"]["PostToolUse"][1]["matcher"], "Agent|Task|Bash");
        assert_eq!(s["hooks"]["PreToolUse"][0]["hooks"][0]["command"], "guard");
        assert_eq!(s["env"], json!({"A": "1"}));
    }

    #[test]
    fn uninstall_undoes_install_exactly() {
        let text = r#"{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]}, "env": {}}"#;
        let original: Value = serde_json::from_str(text).unwrap();
        let mut s = original.clone();
        install(&mut s, CMD).unwrap();
        let removed = uninstall(&mut s, None);
        assert_eq!(removed.len(), HOOKS.len());
        assert_eq!(s, original);
        let keys: Vec<&String> = s.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["hooks", "env"], "order kept");
        assert_eq!(uninstall(&mut s, None), vec![]);
    }

    #[test]
    fn uninstall_of_a_fresh_install_leaves_an_empty_object() {
        let mut s = json!({});
        install(&mut s, CMD).unwrap();
        uninstall(&mut s, None);
        assert_eq!(s, json!({}));
    }

    #[test]
    fn uninstall_keeps_neighbours_in_a_shared_group() {
        let mut s = json!({"hooks": {"Stop": [{"hooks": [handler("say bye"), handler(CMD)]}]}});
        assert_eq!(uninstall(&mut s, None).len(), 1);
        assert_eq!(
            s,
            json!({"hooks": {"Stop": [{"hooks": [handler("say bye")]}]}})
        );
    }

    #[test]
    fn uninstall_leaves_groups_it_did_not_empty() {
        // An empty group that was already there is the user's business.
        let mut s = json!({"hooks": {"Stop": [{"hooks": []}, {"hooks": [handler(CMD)]}]}});
        uninstall(&mut s, None);
        assert_eq!(s, json!({"hooks": {"Stop": [{"hooks": []}]}}));
    }

    #[test]
    fn uninstall_only_one_binary() {
        let other = "/old/event-publisher publish";
        let mut s =
            json!({"hooks": {"Stop": [{"hooks": [handler(other)]}, {"hooks": [handler(CMD)]}]}});
        let removed = uninstall(&mut s, Some(CMD));
        assert_eq!(removed.len(), 1);
        assert_eq!(s, json!({"hooks": {"Stop": [{"hooks": [handler(other)]}]}}));
    }

    #[test]
    fn a_moved_binary_is_updated_not_doubled() {
        let old = "/old/place/event-publisher publish";
        let mut s = json!({"hooks": {"Stop": [{"hooks": [
            {"type": "command", "command": old, "timeout": 30}
        ]}]}});
        let changes = install(&mut s, CMD).unwrap();
        assert!(changes.contains(&Change::Updated {
            event: "Stop",
            matcher: None,
            from: old.into(),
            command: CMD.into()
        }));
        assert_eq!(s["hooks"]["Stop"].as_array().unwrap().len(), 1);
        assert_eq!(
            s["hooks"]["Stop"][0]["hooks"][0],
            json!({"type": "command", "command": CMD, "timeout": 30}),
            "the user's extra fields stay"
        );
    }

    #[test]
    fn equivalent_matchers_count_as_ours() {
        let mut s = json!({"hooks": {
            "PostToolUse": [{"matcher": "Bash, Agent|Task", "hooks": [handler(CMD)]}],
            "SubagentStop": [{"matcher": "*", "hooks": [handler(CMD)]}],
            "Stop": [{"matcher": "", "hooks": [handler(CMD)]}],
            "PostToolUseFailure": [{"matcher": "Agent|Bash|Task", "hooks": [handler(CMD)]}],
            "SubagentStart": [{"hooks": [handler(CMD)]}],
            "SessionStart": [{"matcher": "*", "hooks": [handler(CMD)]}],
            "SessionEnd": [{"hooks": [handler(CMD)]}],
        }});
        assert_eq!(install(&mut s, CMD).unwrap(), vec![]);
        assert_eq!(uninstall(&mut s, None).len(), HOOKS.len());
        assert_eq!(s, json!({}));
    }

    #[test]
    fn other_matchers_are_left_alone() {
        let mut s =
            json!({"hooks": {"PostToolUse": [{"matcher": "Agent|Task", "hooks": [handler(CMD)]}]}});
        let changes = install(&mut s, CMD).unwrap();
        assert_eq!(changes.len(), HOOKS.len(), "{changes:?}");
        assert_eq!(s["hooks"]["PostToolUse"].as_array().unwrap().len(), 2);
        uninstall(&mut s, None);
        assert_eq!(
            s,
            json!({"hooks": {"PostToolUse": [{"matcher": "Agent|Task", "hooks": [handler(CMD)]}]}})
        );
    }

    #[test]
    fn ownership_rule() {
        let ours = [
            "/opt/bin/event-publisher publish",
            "'/My Tools/event-publisher' publish",
            "\"$CLAUDE_PROJECT_DIR\"/target/release/event-publisher publish",
            "event-publisher publish",
            "C:\\\\bin\\\\event-publisher.exe publish",
        ];
        for c in ours {
            assert!(publish_binary(&handler(c)).is_some(), "{c}");
        }
        let theirs = [
            "/opt/bin/event-publisher publish --no-feedback",
            "/opt/bin/event-publisher check",
            "/opt/bin/event-publisher-wrapper publish",
            "/opt/bin/event-publisher publish | tee log",
            "cd x;/opt/bin/event-publisher publish",
            "/opt/bin/event-publisher 'publish",
            "other publish",
        ];
        for c in theirs {
            assert!(publish_binary(&handler(c)).is_none(), "{c}");
        }
        assert!(
            publish_binary(
                &json!({"type": "command", "command": "/b/event-publisher", "args": ["publish"]})
            )
            .is_none()
        );
        assert!(publish_binary(&json!({"type": "http", "command": CMD})).is_none());
    }

    #[test]
    fn commands_are_quoted_for_the_shell() {
        assert_eq!(command_for("/opt/bin/event-publisher").unwrap(), CMD);
        let spaced = command_for("/My Tools/it's/event-publisher").unwrap();
        let words = shlex::split(&spaced).unwrap();
        assert_eq!(words, ["/My Tools/it's/event-publisher", "publish"]);
        assert!(publish_binary(&handler(&spaced)).is_some());
    }

    #[test]
    fn refuses_shapes_it_cannot_merge_into() {
        for bad in [
            json!([]),
            json!({"hooks": []}),
            json!({"hooks": {"Stop": {}}}),
        ] {
            let mut s = bad.clone();
            assert!(install(&mut s, CMD).is_err(), "{bad}");
        }
    }

    #[test]
    fn odd_groups_are_skipped_not_fatal() {
        let mut s =
            json!({"hooks": {"Stop": ["junk", {"hooks": "x"}, {"matcher": 3, "hooks": []}]}});
        assert_eq!(install(&mut s, CMD).unwrap().len(), HOOKS.len());
        assert_eq!(s["hooks"]["Stop"].as_array().unwrap().len(), 4);
        assert_eq!(uninstall(&mut s, None).len(), HOOKS.len());
        assert_eq!(
            s,
            json!({"hooks": {"Stop": ["junk", {"hooks": "x"}, {"matcher": 3, "hooks": []}]}})
        );
    }

    #[test]
    fn text_edits_give_the_same_settings_as_the_value_merge() {
        use super::super::json_edit::Tree;
        let inputs = [
            json!({}),
            json!({"hooks": {}}),
            json!({"hooks": {"Stop": []}, "z": 1}),
            json!({"hooks": {"Stop": [{"hooks": [handler("say"), handler("/old/event-publisher publish")]}]}}),
            json!({"hooks": {"PostToolUse": [{"matcher": "Agent|Task|Bash", "hooks": [handler(CMD), handler("x")]}, {"hooks": [handler(CMD)]}],
                             "SubagentStop": [{"hooks": [handler(CMD)]}, {"matcher": "A", "hooks": []}]}}),
        ];
        for input in inputs {
            for text in [
                serde_json::to_string_pretty(&input).unwrap(),
                serde_json::to_string(&input).unwrap(),
            ] {
                let mut v = input.clone();
                let (_, edits) = install_edits(&mut v, CMD).unwrap();
                let installed = Tree::parse(&text).unwrap().apply(&edits, "  ").unwrap();
                assert_eq!(
                    serde_json::from_str::<Value>(&installed).unwrap(),
                    v,
                    "{text}"
                );
                let (_, edits) = uninstall_edits(&mut v, None);
                let removed = Tree::parse(&installed)
                    .unwrap()
                    .apply(&edits, "  ")
                    .unwrap();
                assert_eq!(
                    serde_json::from_str::<Value>(&removed).unwrap(),
                    v,
                    "{installed}"
                );
            }
        }
    }
}
