//! Redaction on arbitrary text: never panics, and redacting its own output
//! changes nothing more (markers are not secrets).
#![no_main]

use event_publisher::redact::Redactor;
use libfuzzer_sys::fuzz_target;

thread_local! {
    // One per process, as in the hook: its regexes compile once.
    static REDACTOR: Redactor = Redactor::default();
}

fuzz_target!(|data: &[u8]| REDACTOR.with(|r| {
    let text = String::from_utf8_lossy(data);
    if let Some(once) = r.redact_text(&text) {
        assert!(once.contains("[REDACTED:"));
        if let Some(twice) = r.redact_text(&once) {
            assert_eq!(twice, once, "redaction is not idempotent");
        }
    }
}));
