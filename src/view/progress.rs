//! A one-line progress bar on stderr for long runs, drawn only on a
//! terminal and at most ten times a second, erased when done.

use std::io::Write;
use std::time::{Duration, Instant};

pub struct Progress {
    label: String,
    total: u64,
    done: u64,
    items: u64,
    start: Instant,
    last: Option<Instant>,
    shown: bool,
}

impl Progress {
    /// `shown`: false draws nothing (not a terminal, or asked to be quiet).
    pub fn new(label: &str, total: u64, shown: bool) -> Progress {
        Progress {
            label: label.to_string(),
            total,
            done: 0,
            items: 0,
            start: Instant::now(),
            last: None,
            shown,
        }
    }

    /// `bytes` more done, one more item.
    pub fn advance(&mut self, bytes: u64) {
        self.done += bytes;
        self.items += 1;
        if !self.shown {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|l| now - l < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        self.draw(now);
    }

    fn draw(&self, now: Instant) {
        const BAR: usize = 30;
        let frac = if self.total == 0 {
            1.0
        } else {
            (self.done as f64 / self.total as f64).min(1.0)
        };
        let filled = (frac * BAR as f64) as usize;
        let secs = (now - self.start).as_secs_f64().max(0.001);
        let mb = |b: u64| b as f64 / 1e6;
        let line = format!(
            "\r{} [{}{}] {:3.0}% {:.0}/{:.0} MB {:.0} MB/s, {} files\x1b[K",
            self.label,
            "#".repeat(filled),
            "-".repeat(BAR - filled),
            frac * 100.0,
            mb(self.done),
            mb(self.total),
            mb(self.done) / secs,
            self.items
        );
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
    }

    /// Erases the bar.
    pub fn finish(&self) {
        if self.shown && self.last.is_some() {
            let _ = std::io::stderr().lock().write_all(b"\r\x1b[K");
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}
