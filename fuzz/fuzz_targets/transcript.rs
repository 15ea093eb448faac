//! The transcript reader on arbitrary bytes: never panics, reads within its
//! caps.
#![no_main]

use event_publisher::{Source, transcript};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = transcript::ReadLimits {
        max_bytes: 1 << 16,
        max_line_bytes: 4096,
    };
    let base = Source {
        session_id: Some("s".into()),
        ..Source::default()
    };
    if let Ok(t) = transcript::read_from(data, &limits, &base) {
        assert!(t.bytes <= data.len() as u64);
        for e in &t.entries {
            let _ = e.text.origin.key();
        }
    }
});
