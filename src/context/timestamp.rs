//! The two date forms the endpoint writes: RFC 3339 with milliseconds (the REST envelope's
//! `timestamp`) and the HTTP IMF-fixdate (`Last-Modified`).
//!
//! Both return `None` for a time the format cannot carry (a year outside 0000-9999, or an
//! instant beyond `jiff::Timestamp`'s range, which ends on 9999-12-30); neither panics.

use std::time::SystemTime;

use jiff::Timestamp;
use jiff::fmt::rfc2822::DateTimePrinter;
use jiff::tz::Offset;

/// The instant as a `Timestamp` whose UTC year is within 0000-9999.
fn four_digit_year(time: SystemTime) -> Option<Timestamp> {
    let timestamp = Timestamp::try_from(time).ok()?;
    let year = Offset::UTC.to_datetime(timestamp).year();
    (0..=9999).contains(&year).then_some(timestamp)
}

/// RFC 3339 in UTC with exactly three fractional digits (truncated): `2026-11-25T20:32:49.949Z`.
pub(crate) fn rfc3339_millis(time: SystemTime) -> Option<String> {
    let timestamp = four_digit_year(time)?;
    jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%S%.3fZ", timestamp).ok()
}

/// The HTTP date (RFC 9110 IMF-fixdate): `Sun, 06 Nov 1994 08:49:37 GMT`.
///
/// Fractional seconds are dropped; times before 1970 are fine.
pub(crate) fn http_date(time: SystemTime) -> Option<String> {
    let timestamp = four_digit_year(time)?;
    DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&timestamp)
        .ok()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn at(seconds: i64, nanos: u32) -> SystemTime {
        let time = if seconds >= 0 {
            UNIX_EPOCH + Duration::from_secs(seconds.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
        };
        time + Duration::from_nanos(u64::from(nanos))
    }

    #[test]
    fn rfc3339_has_three_fractional_digits() {
        assert_eq!(
            rfc3339_millis(at(1_795_638_769, 949_876_543)).as_deref(),
            Some("2026-11-25T20:32:49.949Z"),
        );
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH).as_deref(),
            Some("1970-01-01T00:00:00.000Z")
        );
        assert_eq!(
            rfc3339_millis(at(0, 1_000_000)).as_deref(),
            Some("1970-01-01T00:00:00.001Z")
        );
        // Truncated, never rounded up into the next second.
        assert_eq!(
            rfc3339_millis(at(59, 999_999_999)).as_deref(),
            Some("1970-01-01T00:00:59.999Z")
        );
    }

    #[test]
    fn rfc3339_round_trips_through_jiff() {
        let text = rfc3339_millis(at(1_700_000_000, 123_000_000)).unwrap();
        let parsed: Timestamp = text.parse().unwrap();
        assert_eq!(parsed.as_millisecond(), 1_700_000_000_123);
    }

    #[test]
    fn http_date_is_imf_fixdate() {
        assert_eq!(
            http_date(at(784_111_777, 0)).as_deref(),
            Some("Sun, 06 Nov 1994 08:49:37 GMT")
        );
        assert_eq!(
            http_date(at(784_111_777, 999_999_999)).as_deref(),
            Some("Sun, 06 Nov 1994 08:49:37 GMT")
        );
        assert_eq!(
            http_date(UNIX_EPOCH).as_deref(),
            Some("Thu, 01 Jan 1970 00:00:00 GMT")
        );
    }

    #[test]
    fn before_1970_is_supported() {
        assert_eq!(
            http_date(at(-1, 0)).as_deref(),
            Some("Wed, 31 Dec 1969 23:59:59 GMT")
        );
        assert_eq!(
            rfc3339_millis(at(-1, 500_000_000)).as_deref(),
            Some("1969-12-31T23:59:59.500Z")
        );
    }

    #[test]
    fn year_bounds() {
        // 0000-01-01T00:00:00Z is the first instant both formats carry.
        let first = at(-62_167_219_200, 0);
        assert_eq!(
            rfc3339_millis(first).as_deref(),
            Some("0000-01-01T00:00:00.000Z")
        );
        assert_eq!(
            http_date(first).as_deref(),
            Some("Sat, 01 Jan 0000 00:00:00 GMT")
        );
        assert_eq!(rfc3339_millis(at(-62_167_219_201, 0)), None);
        assert_eq!(http_date(at(-62_167_219_201, 0)), None);
        // jiff ends a little before 10000-01-01 (`Timestamp::MAX`, 9999-12-30T22:00Z).
        let last = at(253_402_207_199, 999_000_000);
        assert_eq!(
            rfc3339_millis(last).as_deref(),
            Some("9999-12-30T21:59:59.999Z")
        );
        assert_eq!(
            http_date(last).as_deref(),
            Some("Thu, 30 Dec 9999 21:59:59 GMT")
        );
        assert_eq!(rfc3339_millis(at(253_402_300_800, 0)), None);
        assert_eq!(http_date(at(253_402_300_800, 0)), None);
    }

    #[test]
    fn far_future_and_far_past_do_not_panic() {
        let far_future = UNIX_EPOCH + Duration::from_secs(1_000_000_000_000);
        let far_past = UNIX_EPOCH - Duration::from_secs(100_000_000_000);
        for time in [far_future, far_past] {
            assert_eq!(rfc3339_millis(time), None);
            assert_eq!(http_date(time), None);
        }
        if let Some(max) = UNIX_EPOCH.checked_add(Duration::from_secs(i64::MAX.unsigned_abs())) {
            assert_eq!(rfc3339_millis(max), None);
            assert_eq!(http_date(max), None);
        }
    }
}
