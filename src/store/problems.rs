//! Files a reader had to skip: each reported on stderr as it is met, one
//! line each up to a cap, then counted; never fatal.

use std::io::Write;
use std::path::Path;

/// How many skipped files are named one by one before only counting.
const SHOWN: usize = 10;

#[derive(Debug, Default)]
pub struct Problems {
    count: usize,
    quiet: bool,
}

impl Problems {
    pub fn new() -> Problems {
        Problems::default()
    }

    /// Counts without printing (for callers that report otherwise).
    pub fn quiet() -> Problems {
        Problems {
            count: 0,
            quiet: true,
        }
    }

    /// Reports that `path` was skipped, and why.
    pub fn skip(&mut self, path: &Path, why: &str) {
        self.count += 1;
        if !self.quiet && self.count <= SHOWN {
            let _ = writeln!(
                std::io::stderr().lock(),
                "event-publisher: skipped {}: {}",
                crate::view::safe(&path.display().to_string()),
                crate::view::safe(why)
            );
        }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Says how many were skipped beyond those named.
    pub fn finish(&self) {
        if !self.quiet && self.count > SHOWN {
            let _ = writeln!(
                std::io::stderr().lock(),
                "event-publisher: skipped {} unreadable files in all ({SHOWN} named above)",
                self.count
            );
        }
    }
}
