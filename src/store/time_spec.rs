//! Points in time as typed on the command line: relative (`15m`, `2h`,
//! `7d`, `1w`, `90s`, or combined: `1h30m`), RFC 3339
//! (`2025-08-12T16:30:00Z`, any offset), a date (`2025-08-12`, midnight UTC)
//! or a date and time without offset (taken as UTC).

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};

use crate::error::{Error, Result};

/// A span of time like `30d` or `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || {
        Error::new(format!(
            "{s:?} is not a duration (like 90s, 15m, 2h, 7d, 1w or 1h30m)"
        ))
    };
    let mut total = Duration::zero();
    let mut digits = String::new();
    let mut any = false;
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        let unit = match c {
            's' => Duration::try_seconds(n),
            'm' => Duration::try_minutes(n),
            'h' => Duration::try_hours(n),
            'd' => Duration::try_days(n),
            'w' => Duration::try_weeks(n),
            _ => None,
        }
        .ok_or_else(bad)?;
        total = total.checked_add(&unit).ok_or_else(bad)?;
        any = true;
    }
    if !digits.is_empty() || !any {
        return Err(bad());
    }
    Ok(total)
}

/// A point in time; relative forms count back from `now`.
pub fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let t = s.trim();
    if let Ok(d) = parse_duration(t) {
        return now
            .checked_sub_signed(d)
            .ok_or_else(|| Error::new(format!("{s:?} reaches too far back")));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(t) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(t, f) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(Error::new(format!(
        "{s:?} is not a time (like 15m, 2h, 7d, 2025-08-12 or 2025-08-12T16:30:00Z)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-10T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn at(s: &str) -> String {
        crate::enrich::enricher::format_time(parse_time(s, now()).unwrap())
    }

    #[test]
    fn relative_times_count_back_from_now() {
        assert_eq!(at("15m"), "2026-01-10T11:45:00.000Z");
        assert_eq!(at("2h"), "2026-01-10T10:00:00.000Z");
        assert_eq!(at("7d"), "2026-01-03T12:00:00.000Z");
        assert_eq!(at("1w"), "2026-01-03T12:00:00.000Z");
        assert_eq!(at("1h30m"), "2026-01-10T10:30:00.000Z");
        assert_eq!(at("90s"), "2026-01-10T11:58:30.000Z");
    }

    #[test]
    fn absolute_times() {
        assert_eq!(at("2025-08-12T18:30:00+02:00"), "2025-08-12T16:30:00.000Z");
        assert_eq!(at("2025-08-12"), "2025-08-12T00:00:00.000Z");
        assert_eq!(at("2025-08-12T16:30:00.5"), "2025-08-12T16:30:00.500Z");
    }

    #[test]
    fn nonsense_is_an_error() {
        for s in ["", "m", "15", "15x", "yesterday", "2025-13-01", "-5m"] {
            assert!(parse_time(s, now()).is_err(), "{s}");
        }
        assert!(parse_duration("99999999999999w").is_err());
    }
}
