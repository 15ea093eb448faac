//! `event-publisher install` / `uninstall`: wire the hook into Claude Code.
//!
//! `install` merges one handler running `<absolute path of this binary>
//! publish` into the PostToolUse and PostToolUseFailure (matcher
//! `Agent|Task|Bash`), SubagentStop, Stop, SubagentStart, SessionStart and
//! SessionEnd hooks of the project's `.claude/settings.json` (project:
//! `--project-dir`, `$CLAUDE_PROJECT_DIR`, else the current directory), or of
//! the user's settings with `--user` (`$CLAUDE_CONFIG_DIR/settings.json`,
//! else `~/.claude/settings.json`). Running it again changes nothing.
//! `uninstall` removes those handlers and nothing else; which handlers are
//! event-publisher's is the rule in `merge`. `--dry-run` shows the change
//! and the resulting `hooks` and writes nothing. A settings file that is not
//! JSON is never overwritten.

mod change;
mod json_edit;
mod merge;
mod settings_file;

use std::path::{Path, PathBuf};

use merge::{BINARY_NAME, command_for};
use settings_file::SettingsFile;

use crate::cli::{GlobalArgs, InstallArgs};
use crate::config;
use crate::error::{Context, Error, Result};
use crate::exit_code::ExitCode;
use crate::view::say;

pub fn run(global: &GlobalArgs, args: &InstallArgs, uninstall: bool) -> ExitCode {
    let env = |k: &str| std::env::var(k).ok();
    match execute(global, args, uninstall, &env) {
        Ok(report) => {
            print!("{report}");
            ExitCode::Success
        }
        Err(e) => {
            say(&e.to_string());
            ExitCode::Failure
        }
    }
}

/// Does the work and returns what to print.
fn execute(
    global: &GlobalArgs,
    args: &InstallArgs,
    uninstall: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String> {
    let path = settings_path(global, args.user, env)?;
    let (file, mut settings) = SettingsFile::load(&path)?;
    let shown = file.path().display().to_string();
    let changes = if uninstall {
        let only = match &args.binary {
            Some(b) => Some(command_for(&utf8(&absolute(b)?)?)?),
            None => None,
        };
        merge::uninstall_edits(&mut settings, only.as_deref())
    } else {
        let command = command_for(&utf8(&binary(args.binary.as_deref())?)?)?;
        merge::install_edits(&mut settings, &command).with_context(|| {
            format!(
                "{shown}: cannot add the hooks, as the file is not shaped like Claude Code settings"
            )
        })?
    };

    let (changes, edits) = changes;
    let mut out = String::new();
    if changes.is_empty() {
        out.push_str(&format!(
            "{shown}: {}; nothing changed\n",
            if uninstall {
                "no event-publisher hooks found"
            } else {
                "event-publisher hooks already installed"
            }
        ));
        return Ok(out);
    }
    let verb = match (uninstall, args.dry_run) {
        (false, false) => "installed",
        (false, true) => "would install",
        (true, false) => "removed",
        (true, true) => "would remove",
    };
    let created = !file.exists() && !uninstall;
    out.push_str(&format!(
        "{shown}: {verb} {} hook{}{}\n",
        changes.len(),
        if changes.len() == 1 { "" } else { "s" },
        match (created, args.dry_run) {
            (true, true) => " (the file would be created)",
            (true, false) => " (file created)",
            _ => "",
        }
    ));
    for c in &changes {
        out.push_str(&format!("  {c}\n"));
    }
    if args.dry_run {
        match settings.get("hooks") {
            Some(hooks) => {
                out.push_str("\"hooks\" after the change:\n");
                let mut bytes = file.render(hooks);
                if !bytes.ends_with(b"\n") {
                    bytes.push(b'\n');
                }
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
            None => out.push_str("\"hooks\" would be removed (it would be empty)\n"),
        }
        out.push_str("dry run: nothing written\n");
    } else {
        file.save_bytes(&file.edited(&settings, &edits)?)?;
    }
    Ok(out)
}

/// The settings file to change.
fn settings_path(
    global: &GlobalArgs,
    user: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf> {
    if user {
        let dir = env("CLAUDE_CONFIG_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                env("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| Path::new(&h).join(".claude"))
            })
            .ok_or_else(|| {
                Error::new(
                    "cannot find the user's settings: neither CLAUDE_CONFIG_DIR nor HOME is set",
                )
            })?;
        return absolute(&dir.join("settings.json"));
    }
    let project = config::project_dir(global.project_dir.as_deref(), env, None);
    absolute(&project.join(".claude").join("settings.json"))
}

/// The binary the hooks run: `--binary` made absolute, else this very
/// binary, symlinks resolved. Its file name must be `event-publisher`: that
/// is how `uninstall` and a later `install` recognize the handlers.
fn binary(flag: Option<&Path>) -> Result<PathBuf> {
    let path = match flag {
        Some(b) => {
            let p = absolute(b)?;
            if !p.is_file() {
                return Err(Error::new(format!(
                    "--binary {}: no such file",
                    p.display()
                )));
            }
            p
        }
        None => std::env::current_exe()
            .and_then(std::fs::canonicalize)
            .context("finding this binary's path (give it with --binary)")?,
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    if name.as_deref() != Some(BINARY_NAME) && name != Some(format!("{BINARY_NAME}.exe")) {
        return Err(Error::new(format!(
            "{}: the binary must be named {BINARY_NAME} for uninstall to recognize its hooks",
            path.display()
        )));
    }
    Ok(path)
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))
}

fn utf8(p: &Path) -> Result<String> {
    p.to_str()
        .map(str::to_string)
        .ok_or_else(|| Error::new(format!("{}: the path is not UTF-8", p.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| pairs.iter().find(|(pk, _)| pk == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn settings_path_order() {
        let g = GlobalArgs::default();
        let env = env_of(&[
            ("CLAUDE_PROJECT_DIR", "/p"),
            ("HOME", "/h"),
            ("CLAUDE_CONFIG_DIR", "/c"),
        ]);
        assert_eq!(
            settings_path(&g, false, &env).unwrap(),
            Path::new("/p/.claude/settings.json")
        );
        assert_eq!(
            settings_path(&g, true, &env).unwrap(),
            Path::new("/c/settings.json")
        );
        let env = env_of(&[("HOME", "/h")]);
        assert_eq!(
            settings_path(&g, true, &env).unwrap(),
            Path::new("/h/.claude/settings.json")
        );
        let flagged = GlobalArgs {
            project_dir: Some("/f".into()),
            ..GlobalArgs::default()
        };
        assert_eq!(
            settings_path(&flagged, false, &env_of(&[("CLAUDE_PROJECT_DIR", "/p")])).unwrap(),
            Path::new("/f/.claude/settings.json")
        );
        assert!(settings_path(&g, true, &env_of(&[])).is_err());
    }

    #[test]
    fn binary_must_be_named_for_the_rule() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("ep");
        std::fs::write(&other, "").unwrap();
        let e = binary(Some(&other)).unwrap_err().to_string();
        assert!(e.contains("must be named event-publisher"), "{e}");
        assert!(binary(Some(&dir.path().join("event-publisher"))).is_err());
        let good = dir.path().join("event-publisher");
        std::fs::write(&good, "").unwrap();
        assert_eq!(binary(Some(&good)).unwrap(), good);
    }
}
