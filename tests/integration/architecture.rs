//! The module graph: which top-level modules of `src/` use which, read
//! from the source, against the README's "Architecture" section. It fails
//! on an import the README does not allow, on an allowance nothing uses
//! (so the README stays true), and on any cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn the_modules_use_only_what_the_readme_allows_and_form_no_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let actual = imports(&root.join("src"));
    let allowed = readme_allowances(&root.join("README.md"));
    let mut wrong = Vec::new();
    for (module, uses) in &actual {
        let Some(may) = allowed.get(module) else {
            wrong.push(format!(
                "{module}: no paragraph in the README's Architecture section"
            ));
            continue;
        };
        for u in uses.difference(may) {
            wrong.push(format!(
                "{module} uses {u}, which the README does not allow"
            ));
        }
        for u in may.difference(uses) {
            wrong.push(format!("{module} may use {u} by the README, but does not"));
        }
    }
    for module in allowed.keys().filter(|m| !actual.contains_key(*m)) {
        wrong.push(format!("{module}: in the README, not in src/"));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    if let Some(cycle) = cycle(&actual) {
        panic!("an import cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn a_cycle_is_found() {
    let g: Graph = [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]
        .iter()
        .fold(Graph::new(), |mut g, (from, to)| {
            g.entry(from.to_string())
                .or_default()
                .insert(to.to_string());
            g.entry(to.to_string()).or_default();
            g
        });
    assert_eq!(cycle(&g).unwrap(), ["a", "b", "c", "a"]);
    let mut acyclic = g.clone();
    acyclic.get_mut("c").unwrap().clear();
    assert_eq!(cycle(&acyclic), None);
}

#[test]
fn imports_are_read_from_paths_and_use_groups_but_not_comments_or_tests() {
    let text = "//! see crate::alpha\nuse crate::{beta::{X, Y}, gamma};\nfn f() { crate::delta::g(); } // crate::eps\n#[cfg(test)]\nmod tests {\n    use crate::zeta;\n}\nuse crate::eta;\n";
    let found = uses_in(text);
    assert_eq!(
        found,
        ["beta", "delta", "eta", "gamma"]
            .map(String::from)
            .into_iter()
            .collect()
    );
}

/// Each top-level module (a file or folder of `src/`, but `lib.rs` and
/// `main.rs`) and the other top-level modules its code names.
fn imports(src: &Path) -> Graph {
    let mut graph = Graph::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        if name == "lib" || name == "main" {
            continue;
        }
        if path.is_file() && path.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let uses = graph.entry(name.clone()).or_default();
        for file in rust_files(&path) {
            let text = std::fs::read_to_string(&file).unwrap();
            uses.extend(uses_in(&text).into_iter().filter(|u| *u != name));
        }
    }
    graph
}

fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            files.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
    files
}

/// The top-level modules a file names through `crate::`, outside comments
/// and test modules (`#[cfg(test)]` before a `mod`, to its closing `}` in
/// column 0, as rustfmt writes it).
fn uses_in(text: &str) -> BTreeSet<String> {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed == "#[cfg(test)]"
            && lines.peek().is_some_and(|next| {
                let next = next.trim_start();
                let next = next.strip_prefix("pub(crate) ").unwrap_or(next);
                next.starts_with("mod ")
            })
        {
            // The test module ends at the first `}` in column 0.
            lines.by_ref().find(|l| l.starts_with('}'));
            continue;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let line = line.split(" // ").next().unwrap_or_default();
        code.push_str(line);
        code.push('\n');
    }
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a::{X, Y}, b}`: the names at the group's top level.
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        rest = &group[i..];
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && (c.is_alphanumeric() || c == '_') => {
                        start = false;
                        found.insert(ident(&group[i..]));
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found.remove("");
    found
}

fn ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The README's allowances: in the "## Architecture" section, a list item
/// per module, `- **`name`** ...`, ending with `May use: `a`, `b`.` (or
/// `May use: nothing.`).
fn readme_allowances(readme: &Path) -> Graph {
    let text = std::fs::read_to_string(readme).unwrap();
    let section = text
        .split("\n## Architecture\n")
        .nth(1)
        .expect("README.md has an \"## Architecture\" section");
    let section = section.split("\n## ").next().unwrap();
    let mut graph = Graph::new();
    let items = section.split("\n- **`").skip(1);
    for item in items {
        let (name, body) = item.split_once("`**").expect("- **`module`** ...");
        let body = body.split("\n\n").next().unwrap();
        let body = body.split_whitespace().collect::<Vec<_>>().join(" ");
        let (_, may) = body
            .rsplit_once("May use:")
            .unwrap_or_else(|| panic!("README, Architecture, {name}: no \"May use:\""));
        let uses = may
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        assert!(
            graph.insert(name.to_string(), uses).is_none(),
            "README, Architecture: {name} twice"
        );
    }
    graph
}

/// A cycle of `graph`, as the path that closes it, if there is one.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}
