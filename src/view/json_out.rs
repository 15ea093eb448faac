//! Streams values as one JSON array (`--json`) or as JSON Lines
//! (`--jsonl`), so a long listing is never held in memory.

use std::io::{self, Write};

use serde::Serialize;

pub struct JsonOut<W: Write> {
    out: W,
    lines: bool,
    count: usize,
}

impl<W: Write> JsonOut<W> {
    /// `lines`: JSON Lines; else a pretty array.
    pub fn new(out: W, lines: bool) -> JsonOut<W> {
        JsonOut {
            out,
            lines,
            count: 0,
        }
    }

    pub fn item(&mut self, value: &impl Serialize) -> io::Result<()> {
        if self.lines {
            serde_json::to_writer(&mut self.out, value)?;
            self.out.write_all(b"\n")?;
        } else {
            self.out
                .write_all(if self.count == 0 { b"[\n" } else { b",\n" })?;
            serde_json::to_writer_pretty(&mut self.out, value)?;
        }
        self.count += 1;
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<W> {
        if !self.lines {
            self.out
                .write_all(if self.count == 0 { b"[]\n" } else { b"\n]\n" })?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_and_lines_parse() {
        let mut j = JsonOut::new(Vec::new(), false);
        j.item(&serde_json::json!({"a": 1})).unwrap();
        j.item(&serde_json::json!({"a": 2})).unwrap();
        let text = j.finish().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
        let empty = JsonOut::new(Vec::new(), false).finish().unwrap();
        assert_eq!(empty, b"[]\n");
        let mut j = JsonOut::new(Vec::new(), true);
        j.item(&1).unwrap();
        j.item(&2).unwrap();
        assert_eq!(j.finish().unwrap(), b"1\n2\n");
    }
}
