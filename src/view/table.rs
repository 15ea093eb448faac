//! Aligned columns: every column but the last padded to its widest cell.

use super::escape::safe;
use super::style::{Paint, Style};

pub struct Table {
    rows: Vec<Vec<(String, Paint)>>,
    widths: Vec<usize>,
}

impl Default for Table {
    fn default() -> Self {
        Self::new()
    }
}

impl Table {
    pub fn new() -> Table {
        Table {
            rows: Vec::new(),
            widths: Vec::new(),
        }
    }

    /// Adds a row; its cells are made safe for a terminal (`safe`).
    pub fn push(&mut self, row: Vec<(String, Paint)>) {
        let row: Vec<(String, Paint)> = row
            .into_iter()
            .map(|(text, paint)| (safe(&text).into_owned(), paint))
            .collect();
        for (i, (text, _)) in row.iter().enumerate() {
            let w = text.chars().count();
            match self.widths.get_mut(i) {
                Some(max) => *max = (*max).max(w),
                None => self.widths.push(w),
            }
        }
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Each row as a line; cut to `width` characters when given.
    pub fn lines(&self, style: &Style, width: Option<usize>) -> impl Iterator<Item = String> + '_ {
        let style = *style;
        self.rows
            .iter()
            .map(move |row| line(row, &self.widths, &style, width))
    }
}

/// One row padded to `widths`, painted, cut to `width`.
pub fn line(
    row: &[(String, Paint)],
    widths: &[usize],
    style: &Style,
    width: Option<usize>,
) -> String {
    let mut out = String::new();
    let mut used = 0;
    let last = row.len().saturating_sub(1);
    for (i, (text, paint)) in row.iter().enumerate() {
        let text = safe(text);
        if i > 0 {
            out.push_str("  ");
            used += 2;
        }
        let w = text.chars().count();
        let pad = if i < last {
            widths.get(i).copied().unwrap_or(w).saturating_sub(w)
        } else {
            0
        };
        let room = width.map(|max| max.saturating_sub(used));
        let shown = match room {
            Some(r) if w > r => {
                let mut s: String = text.chars().take(r.saturating_sub(1)).collect();
                s.push('…');
                out.push_str(&style.paint(*paint, &s));
                return out;
            }
            _ => text.into_owned(),
        };
        out.push_str(&style.paint(*paint, &shown));
        used += w;
        if pad > 0 && i < last {
            out.extend(std::iter::repeat_n(' ', pad));
            used += pad;
        }
    }
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_all_but_the_last_column_and_cuts_to_width() {
        let mut t = Table::new();
        t.push(vec![
            ("a".into(), Paint::None),
            ("one".into(), Paint::None),
            ("x".into(), Paint::None),
        ]);
        t.push(vec![
            ("bbb".into(), Paint::None),
            ("2".into(), Paint::None),
            ("long tail".into(), Paint::None),
        ]);
        let lines: Vec<String> = t.lines(&Style::plain(), None).collect();
        assert_eq!(lines, ["a    one  x", "bbb  2    long tail"]);
        let cut: Vec<String> = t.lines(&Style::plain(), Some(14)).collect();
        assert_eq!(cut[1], "bbb  2    lon…");
    }
}
