//! UTC timestamp formatting without a date-time dependency.
//!
//! Layer: output helper. Capture timestamps are printed in UTC so that output does not depend
//! on the machine's time zone: microseconds, or nanoseconds when the capture has them.

use std::time::Duration;

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after Howard Hinnant's
/// `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The fractional part: 6 digits, or 9 when the nanoseconds are not whole microseconds.
fn fraction(ts: Duration) -> String {
    let n = ts.subsec_nanos();
    if n % 1000 == 0 {
        format!("{:06}", n / 1000)
    } else {
        format!("{n:09}")
    }
}

/// Time of day, `HH:MM:SS.ffffff` (UTC), as `tcpdump` prints it.
pub fn time_of_day(ts: Duration) -> String {
    let s = ts.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        fraction(ts)
    )
}

/// RFC 3339 date and time in UTC, `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn rfc3339(ts: Duration) -> String {
    let secs = ts.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{}Z", time_of_day(ts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let ts = Duration::new(1_764_315_526, 224_324_000);
        assert_eq!(time_of_day(ts), "07:38:46.224324");
        assert_eq!(rfc3339(ts), "2025-11-28T07:38:46.224324Z");
        assert_eq!(
            rfc3339(Duration::new(951_782_400, 5)),
            "2000-02-29T00:00:00.000000005Z"
        );
        assert_eq!(rfc3339(Duration::ZERO), "1970-01-01T00:00:00.000000Z");
        let _ = rfc3339(Duration::MAX);
    }
}
