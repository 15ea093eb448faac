//! The marker scanner on arbitrary text: never panics, and every marker it
//! reports starts with `<EVENT>` at its offset and respects the size cap.
#![no_main]

use event_publisher::Scanner;
use libfuzzer_sys::fuzz_target;

const CAP: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let scanner = Scanner::new(CAP);
    let markers = scanner.scan_all(&text);
    let mut last = None;
    for m in &markers {
        assert!(
            text[m.offset..].starts_with("<EVENT>"),
            "offset {}",
            m.offset
        );
        assert!(last.is_none_or(|l| m.offset > l), "offsets not increasing");
        assert!(m.raw.len() <= CAP + 64, "raw of {} bytes", m.raw.len());
        last = Some(m.offset);
    }
    assert_eq!(scanner.has_marker(&text), !markers.is_empty());
});
