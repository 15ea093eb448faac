//! A Claude Code settings file, read whole and written back atomically.
//!
//! Writing goes to a temporary file in the same directory, with the old
//! file's permissions, flushed to disk, then renamed over the old file, so
//! Claude Code (or a crash) sees the old settings or the new ones, never a
//! mix. A symlinked settings file (dotfiles) is written through: the link
//! stays, its target changes. The file is read again just before the rename;
//! if someone else changed it meanwhile, nothing is written. An existing
//! file is changed by text edits (`json_edit`): every byte outside the
//! entries added or removed stays as it was. Duplicate keys on the way to
//! or inside `hooks` are refused (which one Claude Code uses is not for
//! this tool to guess). A new file is written with two-space indentation.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use serde_json::ser::{PrettyFormatter, Serializer};

use super::json_edit::{Edit, Tree};
use crate::error::{Context, Error, Result};

/// A settings file as it was read.
#[derive(Debug)]
pub struct SettingsFile {
    /// The path the user knows (shown in messages).
    path: PathBuf,
    /// The file really written: `path`, or its symlink's target.
    real: PathBuf,
    /// The bytes read; `None` when the file does not exist yet.
    original: Option<Vec<u8>>,
    permissions: Option<Permissions>,
    indent: Vec<u8>,
    final_newline: bool,
}

impl SettingsFile {
    /// Reads `path`: a missing or empty file is `{}`; a file that is not
    /// JSON is an error (never overwritten).
    pub fn load(path: &Path) -> Result<(SettingsFile, Value)> {
        let shown = path.display();
        let real = match fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path)
                .with_context(|| format!("{shown} is a symlink that cannot be followed"))?,
            _ => path.to_path_buf(),
        };
        let (original, permissions) = match fs::read(&real) {
            Ok(bytes) => {
                let perm = fs::metadata(&real)
                    .with_context(|| format!("reading {shown}"))?
                    .permissions();
                (Some(bytes), Some(perm))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, None),
            Err(e) => return Err(Error::from(e).context(format!("reading {shown}"))),
        };
        let bytes = original.as_deref().unwrap_or_default();
        let value = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice(bytes).map_err(|e| {
                Error::new(format!(
                    "{shown} is not valid JSON ({e}); fix it by hand, it was not changed"
                ))
            })?
        };
        if let Ok(text) = std::str::from_utf8(bytes) {
            if let Some(key) = Tree::parse(text)
                .ok()
                .and_then(|t| t.duplicate_under("hooks"))
            {
                return Err(Error::new(format!(
                    "{shown} has the key {key:?} twice in or on the way to \"hooks\" (Claude Code keeps only one of them); fix it by hand, it was not changed"
                )));
            }
        }
        let file = SettingsFile {
            path: path.to_path_buf(),
            real,
            indent: indent_of(bytes),
            final_newline: original.is_none() || bytes.ends_with(b"\n"),
            original,
            permissions,
        };
        Ok((file, value))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn exists(&self) -> bool {
        self.original.is_some()
    }

    /// `value` as this file's text: same indentation, same final newline.
    pub fn render(&self, value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        let mut ser =
            Serializer::with_formatter(&mut out, PrettyFormatter::with_indent(&self.indent));
        // Serializing a Value into a Vec cannot fail.
        value.serialize(&mut ser).expect("serialize JSON");
        if self.final_newline {
            out.push(b'\n');
        }
        out
    }

    /// The new text: the file read with `edits` made, or, when there was
    /// no file (or only white space), `value` rendered.
    pub fn edited(&self, value: &Value, edits: &[Edit]) -> Result<Vec<u8>> {
        let original = self.original.as_deref().unwrap_or_default();
        if original.iter().all(u8::is_ascii_whitespace) {
            return Ok(self.render(value));
        }
        let text = std::str::from_utf8(original)
            .map_err(|_| Error::new(format!("{} is not UTF-8", self.path.display())))?;
        let indent = String::from_utf8_lossy(&self.indent).into_owned();
        Ok(Tree::parse(text)?.apply(edits, &indent)?.into_bytes())
    }

    /// Replaces the file with `value`, atomically; creates its directory.
    #[cfg(test)]
    pub fn save(&self, value: &Value) -> Result<()> {
        self.save_bytes(&self.render(value))
    }

    /// Replaces the file with `bytes`, atomically; creates its directory.
    pub fn save_bytes(&self, bytes: &[u8]) -> Result<()> {
        let shown = self.path.display();
        let dir = match self.real.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let name = self
            .real
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "settings.json".into());
        let tmp = dir.join(format!(
            ".{name}.event-publisher-{}.tmp",
            std::process::id()
        ));
        let result = self.write_then_rename(&tmp, bytes);
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.with_context(|| format!("writing {shown}"))?;
        // The rename is durable once the directory is; failing that is not
        // worth an error (the new file is in place).
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn write_then_rename(&self, tmp: &Path, bytes: &[u8]) -> Result<()> {
        // A leftover of a killed run with the same pid is ours to replace.
        let _ = fs::remove_file(tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        if let Some(p) = &self.permissions {
            f.set_permissions(p.clone())
                .context("copying the file's permissions")?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        let now = match fs::read(&self.real) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        if now != self.original {
            return Err(Error::new(
                "it changed while being edited (by Claude Code?); nothing written, run again",
            ));
        }
        fs::rename(tmp, &self.real)?;
        Ok(())
    }
}

/// The indentation unit of a pretty-printed JSON text: the leading white
/// space of its first indented line; two spaces when there is none.
fn indent_of(text: &[u8]) -> Vec<u8> {
    text.split(|&b| b == b'\n')
        .skip(1)
        .map(|line| {
            line.iter()
                .take_while(|&&b| b == b' ' || b == b'\t')
                .copied()
                .collect::<Vec<u8>>()
        })
        .find(|ws| !ws.is_empty())
        .unwrap_or_else(|| b"  ".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_and_empty_files_are_empty_objects() {
        let dir = tempfile::tempdir().unwrap();
        let (f, v) = SettingsFile::load(&dir.path().join("settings.json")).unwrap();
        assert!(!f.exists());
        assert_eq!(v, json!({}));
        std::fs::write(dir.path().join("empty.json"), " \n").unwrap();
        let (f, v) = SettingsFile::load(&dir.path().join("empty.json")).unwrap();
        assert!(f.exists());
        assert_eq!(v, json!({}));
    }

    #[test]
    fn invalid_json_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("settings.json");
        std::fs::write(&p, "{ \"a\": 1, }").unwrap();
        let e = SettingsFile::load(&p).unwrap_err().to_string();
        assert!(e.contains("is not valid JSON"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn keeps_indentation_and_final_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("settings.json");
        std::fs::write(&p, "{\n    \"b\": 1,\n    \"a\": [\n        2\n    ]\n}").unwrap();
        let (f, v) = SettingsFile::load(&p).unwrap();
        assert_eq!(
            String::from_utf8(f.render(&v)).unwrap(),
            "{\n    \"b\": 1,\n    \"a\": [\n        2\n    ]\n}"
        );
        std::fs::write(&p, "{\n\t\"a\": 1\n}\n").unwrap();
        let (f, v) = SettingsFile::load(&p).unwrap();
        assert_eq!(f.render(&v), b"{\n\t\"a\": 1\n}\n");
    }

    #[cfg(unix)]
    #[test]
    fn save_keeps_permissions_and_symlinks() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("dotfiles-settings.json");
        std::fs::write(&target, "{}\n").unwrap();
        std::fs::set_permissions(&target, Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("settings.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let (f, _) = SettingsFile::load(&link).unwrap();
        f.save(&json!({"a": 1})).unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "{\n  \"a\": 1\n}\n"
        );
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 2, "no temporary file left");
    }

    #[test]
    fn save_creates_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".claude/settings.json");
        let (f, _) = SettingsFile::load(&p).unwrap();
        f.save(&json!({})).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{}\n");
    }

    #[test]
    fn a_concurrent_change_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("settings.json");
        std::fs::write(&p, "{}").unwrap();
        let (f, _) = SettingsFile::load(&p).unwrap();
        std::fs::write(&p, "{\"theirs\": true}").unwrap();
        let e = f.save(&json!({"ours": true})).unwrap_err().to_string();
        assert!(e.contains("changed while being edited"), "{e}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"theirs\": true}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
