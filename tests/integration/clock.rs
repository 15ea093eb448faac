//! The clock the binary runs on: a record without a timestamp of its own is
//! filed under the day the binary saw it. Under `.ci/faked-clock` this also
//! proves the faked clock reached the binary, so that pass cannot pass by
//! testing nothing (a statically linked binary ignores `LD_PRELOAD`).

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::test::{Env, emit, record_day};

#[test]
fn a_record_without_a_timestamp_is_filed_under_the_binarys_day() {
    let env = Env::new();
    let untimed =
        json!({"name": "urlCacher.urlValidated", "attributes": {"url": "https://clock/"}});
    let before = Utc::now();
    emit(&env, "s-clock", None, "toolu_clock", &[untimed]);
    let after = Utc::now();
    let record = &env.records()[0];
    let seen: DateTime<Utc> = record["observed_timestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Milliseconds are cut, so `seen` may be just under `before`.
    assert!(
        before - chrono::Duration::seconds(1) <= seen && seen <= after,
        "the binary's clock ({seen}) is not the test's ({before}..{after})"
    );
    assert_eq!(record["timestamp"], record["observed_timestamp"]);
    let (day, _) = record_day(&env);
    assert_eq!(day, seen.format("%Y-%m-%d").to_string());
    if std::env::var_os("FAKETIME").is_some() {
        // The kernel stamps files with the real clock.
        let probe = env.root().join("probe");
        std::fs::write(&probe, "").unwrap();
        let real = std::fs::metadata(&probe).unwrap().modified().unwrap();
        let apart = SystemTime::now()
            .duration_since(real)
            .or_else(|e| Ok::<_, ()>(e.duration()))
            .unwrap();
        assert!(
            apart > Duration::from_secs(86_400),
            "FAKETIME is set but this process's clock is the real one"
        );
    }
}
