//! Edits of a JSON text that keep every byte outside what they change:
//! key order, duplicate keys elsewhere, numbers as written
//! (`12345678901234567890123`, `1E5`), white space, empty lists. A settings
//! file is the user's; `install` and `uninstall` own only the entries they
//! add or remove.
//!
//! The text is first checked by serde_json (so it is valid JSON, nested at
//! most 128 deep); `Tree::parse` then records where each value starts and
//! ends, and `apply` turns path-addressed edits into byte edits.

use serde_json::Value;

use crate::error::{Error, Result};

/// One step of a path into the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A change, addressed by paths into the document as it was read.
#[derive(Clone, Debug, PartialEq)]
pub enum Edit {
    /// Adds member `key` at the end of the object at `path`.
    Insert {
        path: Vec<Seg>,
        key: String,
        value: Value,
    },
    /// Adds an element at the end of the array at `path`.
    Append { path: Vec<Seg>, value: Value },
    /// Replaces the value at `path`.
    Replace { path: Vec<Seg>, value: Value },
    /// Removes the member or element at `path`.
    Remove { path: Vec<Seg> },
}

/// Where a value is in the text.
#[derive(Debug)]
struct Node {
    start: usize,
    end: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Scalar,
    Array(Vec<Node>),
    /// Members: the key, where the key starts, the value.
    Object(Vec<(String, usize, Node)>),
}

impl Node {
    /// The start of child `i` (its key, for a member) and its end.
    fn child_span(&self, i: usize) -> (usize, usize) {
        match &self.kind {
            Kind::Array(items) => (items[i].start, items[i].end),
            Kind::Object(members) => (members[i].1, members[i].2.end),
            Kind::Scalar => unreachable!("scalars have no children"),
        }
    }

    fn len(&self) -> usize {
        match &self.kind {
            Kind::Array(items) => items.len(),
            Kind::Object(members) => members.len(),
            Kind::Scalar => 0,
        }
    }

    fn child(&self, seg: &Seg) -> Option<(usize, &Node)> {
        match (&self.kind, seg) {
            (Kind::Array(items), Seg::Index(i)) => items.get(*i).map(|n| (*i, n)),
            (Kind::Object(members), Seg::Key(k)) => members
                .iter()
                .enumerate()
                .rev()
                .find(|(_, (key, _, _))| key == k)
                .map(|(i, (_, _, n))| (i, n)),
            _ => None,
        }
    }
}

/// A JSON text with the position of each value.
pub struct Tree<'a> {
    text: &'a str,
    root: Node,
}

impl<'a> Tree<'a> {
    /// Parses `text`, which serde_json has already accepted.
    pub fn parse(text: &'a str) -> Result<Tree<'a>> {
        let mut p = Parser {
            b: text.as_bytes(),
            at: 0,
        };
        p.ws();
        let root = p.value()?;
        Ok(Tree { text, root })
    }

    /// The first key met twice in one object on the way to (or under) the
    /// member `key` of the root, if any: which of the two Claude Code
    /// uses is not for this tool to guess.
    pub fn duplicate_under(&self, key: &str) -> Option<String> {
        let Kind::Object(members) = &self.root.kind else {
            return None;
        };
        if members.iter().filter(|(k, _, _)| k == key).count() > 1 {
            return Some(key.to_string());
        }
        let (_, _, node) = members.iter().find(|(k, _, _)| k == key)?;
        first_duplicate(node)
    }

    /// The text with `edits` made; `indent` is the file's indentation unit.
    pub fn apply(&self, edits: &[Edit], indent: &str) -> Result<String> {
        let mut changes: Vec<(usize, usize, String)> = Vec::new();
        // Removals are grouped by container: runs of neighbours go at once.
        let mut removals: Vec<(&Node, usize)> = Vec::new();
        // Additions too: several to one container make one edit.
        let mut additions: Vec<(&Node, Option<String>, &Value)> = Vec::new();
        for edit in edits {
            match edit {
                Edit::Replace { path, value } => {
                    let node = self.find(path)?;
                    let text = self.render(value, indent, self.line_indent(node.start));
                    changes.push((node.start, node.end, text));
                }
                Edit::Insert { path, key, value } => {
                    let key = serde_json::to_string(key).expect("a string serializes");
                    additions.push((self.find(path)?, Some(key), value));
                }
                Edit::Append { path, value } => {
                    additions.push((self.find(path)?, None, value));
                }
                Edit::Remove { path } => {
                    let (last, parent) = path
                        .split_last()
                        .ok_or_else(|| Error::new("cannot remove the whole document"))?;
                    let node = self.find(parent)?;
                    let (i, _) = node
                        .child(last)
                        .ok_or_else(|| Error::new(format!("no {last:?} to remove")))?;
                    removals.push((node, i));
                }
            }
        }
        let mut k = 0;
        while k < additions.len() {
            let node = additions[k].0;
            let mine: Vec<(Option<&str>, &Value)> = additions[k..]
                .iter()
                .filter(|(n, _, _)| std::ptr::eq(*n, node))
                .map(|(_, key, v)| (key.as_deref(), *v))
                .collect();
            if additions[..k]
                .iter()
                .all(|(n, _, _)| !std::ptr::eq(*n, node))
            {
                changes.push(self.add(node, &mine, indent)?);
            }
            k += 1;
        }
        removals.sort_by_key(|(n, i)| (n.start, *i));
        removals.dedup_by_key(|(n, i)| (n.start, *i));
        let mut k = 0;
        while k < removals.len() {
            let node = removals[k].0;
            let gone: Vec<usize> = removals[k..]
                .iter()
                .take_while(|(n, _)| std::ptr::eq(*n, node))
                .map(|(_, i)| *i)
                .collect();
            k += gone.len();
            changes.extend(remove_runs(node, &gone));
        }
        changes.sort_by_key(|c| c.0);
        for w in changes.windows(2) {
            if w[0].1 > w[1].0 {
                return Err(Error::new("overlapping edits (a bug): nothing written"));
            }
        }
        let mut out = self.text.to_string();
        for (start, end, text) in changes.into_iter().rev() {
            out.replace_range(start..end, &text);
        }
        Ok(out)
    }

    fn find(&self, path: &[Seg]) -> Result<&Node> {
        let mut node = &self.root;
        for seg in path {
            node = node
                .child(seg)
                .map(|(_, n)| n)
                .ok_or_else(|| Error::new(format!("no {seg:?} in the settings (a bug)")))?;
        }
        Ok(node)
    }

    /// The byte edit adding members (keys given, as JSON strings) or
    /// elements at the end of `node`, laid out like their neighbours.
    fn add(
        &self,
        node: &Node,
        entries: &[(Option<&str>, &Value)],
        indent: &str,
    ) -> Result<(usize, usize, String)> {
        if matches!(node.kind, Kind::Scalar) {
            return Err(Error::new("cannot add to a scalar (a bug)"));
        }
        let entry = |(key, value): &(Option<&str>, &Value), base: &str| match key {
            Some(k) => format!("{k}: {}", self.render(value, indent, base)),
            None => self.render(value, indent, base),
        };
        let n = node.len();
        if n == 0 {
            // `{}` or `[]`: one line in each, closing bracket on its own line.
            let outer = self.line_indent(node.start);
            let inner = format!("{outer}{indent}");
            let lines: Vec<String> = entries
                .iter()
                .map(|e| format!("\n{inner}{}", entry(e, &inner)))
                .collect();
            let text = format!("{}\n{outer}", lines.join(","));
            return Ok((node.start + 1, node.end - 1, text));
        }
        // After the last child, with the white space that precedes it.
        let (last_start, last_end) = node.child_span(n - 1);
        let gap = match n {
            1 => &self.text[node.start + 1..last_start],
            _ => {
                let g = &self.text[node.child_span(n - 2).1..last_start];
                g.split_once(',').map_or(g, |(_, rest)| rest)
            }
        };
        let base = gap.rsplit('\n').next().unwrap_or("");
        let gap = if gap.is_empty() { " " } else { gap };
        let text: String = entries
            .iter()
            .map(|e| format!(",{gap}{}", entry(e, base)))
            .collect();
        Ok((last_end, last_end, text))
    }

    /// The white space that starts the line holding byte `at`.
    fn line_indent(&self, at: usize) -> &str {
        let line_start = self.text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line = &self.text[line_start..at];
        &line[..line.len() - line.trim_start().len()]
    }

    /// `value` pretty-printed with `indent`, continuation lines starting
    /// with `base`.
    fn render(&self, value: &Value, indent: &str, base: &str) -> String {
        use serde::Serialize;
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        value.serialize(&mut ser).expect("a Value serializes");
        String::from_utf8(out)
            .expect("JSON is UTF-8")
            .replace('\n', &format!("\n{base}"))
    }
}

/// Byte edits removing children `gone` (sorted) of `node`: each run of
/// neighbours with the separator before it (after it, for a run at the
/// start), so that what stays is laid out as before.
fn remove_runs(node: &Node, gone: &[usize]) -> Vec<(usize, usize, String)> {
    let n = node.len();
    if gone.len() == n {
        return vec![(node.start + 1, node.end - 1, String::new())];
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < gone.len() {
        let a = gone[i];
        let mut b = a;
        while i + 1 < gone.len() && gone[i + 1] == b + 1 {
            i += 1;
            b += 1;
        }
        i += 1;
        if a > 0 {
            out.push((
                node.child_span(a - 1).1,
                node.child_span(b).1,
                String::new(),
            ));
        } else {
            out.push((
                node.child_span(0).0,
                node.child_span(b + 1).0,
                String::new(),
            ));
        }
    }
    out
}

fn first_duplicate(node: &Node) -> Option<String> {
    match &node.kind {
        Kind::Scalar => None,
        Kind::Array(items) => items.iter().find_map(first_duplicate),
        Kind::Object(members) => {
            for (i, (k, _, _)) in members.iter().enumerate() {
                if members[..i].iter().any(|(other, _, _)| other == k) {
                    return Some(k.clone());
                }
            }
            members.iter().find_map(|(_, _, n)| first_duplicate(n))
        }
    }
}

struct Parser<'b> {
    b: &'b [u8],
    at: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.at < self.b.len() && matches!(self.b[self.at], b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
    }

    fn bad(&self) -> Error {
        Error::new(format!("unexpected JSON at byte {}", self.at))
    }

    fn eat(&mut self, c: u8) -> Result<()> {
        self.ws();
        match self.b.get(self.at) {
            Some(&x) if x == c => {
                self.at += 1;
                Ok(())
            }
            _ => Err(self.bad()),
        }
    }

    fn value(&mut self) -> Result<Node> {
        self.ws();
        let start = self.at;
        let kind = match self.b.get(self.at).ok_or_else(|| self.bad())? {
            b'{' => {
                self.at += 1;
                let mut members = Vec::new();
                self.ws();
                if self.b.get(self.at) == Some(&b'}') {
                    self.at += 1;
                } else {
                    loop {
                        self.ws();
                        let key_start = self.at;
                        self.string()?;
                        let key: String = serde_json::from_slice(&self.b[key_start..self.at])
                            .map_err(|_| self.bad())?;
                        self.eat(b':')?;
                        let value = self.value()?;
                        members.push((key, key_start, value));
                        self.ws();
                        match self.b.get(self.at) {
                            Some(b',') => self.at += 1,
                            Some(b'}') => {
                                self.at += 1;
                                break;
                            }
                            _ => return Err(self.bad()),
                        }
                    }
                }
                Kind::Object(members)
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.at) == Some(&b']') {
                    self.at += 1;
                } else {
                    loop {
                        items.push(self.value()?);
                        self.ws();
                        match self.b.get(self.at) {
                            Some(b',') => self.at += 1,
                            Some(b']') => {
                                self.at += 1;
                                break;
                            }
                            _ => return Err(self.bad()),
                        }
                    }
                }
                Kind::Array(items)
            }
            b'"' => {
                self.string()?;
                Kind::Scalar
            }
            _ => {
                while self.at < self.b.len()
                    && !matches!(
                        self.b[self.at],
                        b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'
                    )
                {
                    self.at += 1;
                }
                if self.at == start {
                    return Err(self.bad());
                }
                Kind::Scalar
            }
        };
        Ok(Node {
            start,
            end: self.at,
            kind,
        })
    }

    /// Skips a string, quotes included.
    fn string(&mut self) -> Result<()> {
        if self.b.get(self.at) != Some(&b'"') {
            return Err(self.bad());
        }
        self.at += 1;
        while let Some(&c) = self.b.get(self.at) {
            self.at += 1;
            match c {
                b'\\' => self.at += 1,
                b'"' => return Ok(()),
                _ => {}
            }
        }
        Err(self.bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(k: &str) -> Seg {
        Seg::Key(k.into())
    }

    #[test]
    fn edits_keep_every_other_byte() {
        let text = "{\n  \"n\": 12345678901234567890123,\n  \"e\": 1E5,\n  \"d\": 1, \"d\": 2,\n  \"hooks\": {\n    \"Stop\": [\n      {\"a\": 1},\n      {\"b\": 2},\n      {\"c\": 3}\n    ],\n    \"Pre\": []\n  }\n}\n";
        let t = Tree::parse(text).unwrap();
        assert_eq!(t.duplicate_under("hooks"), None);
        let out = t
            .apply(
                &[
                    Edit::Remove {
                        path: vec![key("hooks"), key("Stop"), Seg::Index(0)],
                    },
                    Edit::Remove {
                        path: vec![key("hooks"), key("Stop"), Seg::Index(1)],
                    },
                    Edit::Append {
                        path: vec![key("hooks"), key("Pre")],
                        value: json!({"x": [1]}),
                    },
                    Edit::Insert {
                        path: vec![key("hooks")],
                        key: "Post".into(),
                        value: json!([]),
                    },
                ],
                "  ",
            )
            .unwrap();
        assert_eq!(
            out,
            "{\n  \"n\": 12345678901234567890123,\n  \"e\": 1E5,\n  \"d\": 1, \"d\": 2,\n  \"hooks\": {\n    \"Stop\": [\n      {\"c\": 3}\n    ],\n    \"Pre\": [\n      {\n        \"x\": [\n          1\n        ]\n      }\n    ],\n    \"Post\": []\n  }\n}\n"
        );
        serde_json::from_str::<Value>(&out).unwrap();
    }

    #[test]
    fn removing_the_last_runs_and_everything() {
        let text = r#"{"a": [1, 2, 3, 4], "b": [5]}"#;
        let t = Tree::parse(text).unwrap();
        let rm = |p: Vec<Seg>| Edit::Remove { path: p };
        let out = t
            .apply(
                &[
                    rm(vec![key("a"), Seg::Index(2)]),
                    rm(vec![key("a"), Seg::Index(3)]),
                    rm(vec![key("b"), Seg::Index(0)]),
                ],
                "  ",
            )
            .unwrap();
        assert_eq!(out, r#"{"a": [1, 2], "b": []}"#);
        let out = t.apply(&[rm(vec![key("b")])], "  ").unwrap();
        assert_eq!(out, r#"{"a": [1, 2, 3, 4]}"#);
        let out = t.apply(&[rm(vec![key("a")])], "  ").unwrap();
        assert_eq!(out, r#"{"b": [5]}"#);
    }

    #[test]
    fn duplicates_on_the_way_to_the_hooks_are_found() {
        let t = Tree::parse(r#"{"x": 1, "x": 2, "hooks": {"Stop": [{"hooks": [], "hooks": []}]}}"#)
            .unwrap();
        assert_eq!(t.duplicate_under("hooks").as_deref(), Some("hooks"));
        let t = Tree::parse(r#"{"hooks": {}, "hooks": {}}"#).unwrap();
        assert_eq!(t.duplicate_under("hooks").as_deref(), Some("hooks"));
        let t = Tree::parse(r#"{"x": 1, "x": 2, "hooks": {"a": "\"}"}}"#).unwrap();
        assert_eq!(t.duplicate_under("hooks"), None);
    }
}
