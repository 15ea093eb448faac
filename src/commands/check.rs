//! `event-publisher check`: for agent authors. Lists every marker in texts,
//! files or hook payloads, valid or not, with each schema error; exits 1 when
//! any is invalid. Nothing is stored. The use case is `app::check`.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use serde_json::json;

use crate::app::check::Checker;
use crate::cli::{CheckArgs, GlobalArgs};
use crate::config::{self, Config, Sources};
use crate::exit_code::ExitCode;
use crate::view::{safe, say};

pub fn run(global: &GlobalArgs, args: &CheckArgs) -> ExitCode {
    let sources = Sources::process();
    let project = config::project_dir(global.project_dir.as_deref(), sources.env, None);
    let config = Config::resolve(global.settings(), project, &sources);
    for w in &config.warnings {
        say(w);
    }
    let mut inputs: Vec<(String, Result<Vec<u8>, String>)> = Vec::new();
    if let Some(t) = &args.text {
        inputs.push(("text".into(), Ok(t.clone().into_bytes())));
    } else if args.files.is_empty()
        || args.files.iter().any(|f| f == Path::new("-")) && args.files.len() == 1
    {
        if std::io::stdin().is_terminal() {
            say("check reads stdin; give a FILE or --text");
            return ExitCode::Usage;
        }
        let mut b = Vec::new();
        let r = std::io::stdin()
            .lock()
            .take(config.limits.max_payload_bytes)
            .read_to_end(&mut b);
        inputs.push(("stdin".into(), r.map(|_| b).map_err(|e| e.to_string())));
    } else {
        for f in &args.files {
            let r = std::fs::File::open(f)
                .and_then(|file| {
                    let mut b = Vec::new();
                    file.take(config.limits.max_payload_bytes)
                        .read_to_end(&mut b)
                        .map(|_| b)
                })
                .map_err(|e| e.to_string());
            inputs.push((f.display().to_string(), r));
        }
    }

    let mut checker = Checker::new(&config);
    let mut verdicts = Vec::new();
    let mut unreadable = false;
    for (label, bytes) in inputs {
        match bytes {
            Ok(b) => verdicts.extend(checker.check(&label, &b)),
            Err(e) => {
                say(&format!("{label}: {e}"));
                unreadable = true;
            }
        }
    }
    let invalid = verdicts.iter().filter(|v| !v.problems.is_empty()).count();
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = verdicts
            .iter()
            .map(|v| json!({"input": v.input, "name": v.name, "valid": v.problems.is_empty(), "raw": v.raw, "errors": v.problems}))
            .collect();
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
    } else {
        for v in &verdicts {
            let name = v.name.clone().unwrap_or_else(|| "(no name)".into());
            let (name, input) = (safe(&name), safe(&v.input));
            if v.problems.is_empty() {
                let _ = writeln!(out, "ok       {input}  {name}");
            } else {
                let _ = writeln!(out, "invalid  {input}  {name}");
                for p in &v.problems {
                    let (kind, p) = (safe(&p.kind), p.to_string());
                    let _ = writeln!(out, "         - [{kind}] {}", safe(&p));
                }
            }
        }
        let _ = writeln!(
            out,
            "{} marker{}, {invalid} invalid",
            verdicts.len(),
            if verdicts.len() == 1 { "" } else { "s" }
        );
    }
    if invalid > 0 || unreadable {
        ExitCode::Failure
    } else {
        ExitCode::Success
    }
}
