//! The hook payload parser on arbitrary bytes: parsing, the texts it yields
//! and the markers in them never panic.
#![no_main]

use event_publisher::Scanner;
use event_publisher::Payload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Payload::may_hold_events(data);
    let Ok(payload) = Payload::parse(data) else {
        return;
    };
    let _ = payload.source();
    let _ = payload.launched_agent();
    let scanner = Scanner::new(4096);
    for text in payload.texts() {
        let _ = text.origin.key();
        let _ = scanner.scan_all(&text.body);
    }
});
