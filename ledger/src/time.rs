//! Calendar dates of block times, in China Standard Time (UTC+8), where
//! the ledger's users and rules count days and years.

use chrono::{DateTime, Datelike, FixedOffset, TimeZone};

/// A Unix-millisecond time in China Standard Time.
pub fn china_time(ms: u64) -> Option<DateTime<FixedOffset>> {
    let tz = FixedOffset::east_opt(8 * 3600)?;
    tz.timestamp_millis_opt(i64::try_from(ms).ok()?).single()
}

/// `YYYY-MM-DD`.
pub fn date(ms: u64) -> String {
    china_time(ms).map_or_else(|| "1970-01-01".into(), |t| t.format("%Y-%m-%d").to_string())
}

/// RFC 3339 with the +08:00 offset.
pub fn datetime(ms: u64) -> String {
    china_time(ms).map_or_else(
        || "1970-01-01T00:00:00+00:00".into(),
        |t| t.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
    )
}

/// The civil year.
pub fn year(ms: u64) -> i32 {
    china_time(ms).map_or(1970, |t| t.year())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_turn_at_midnight_in_china() {
        // 2026-03-11T16:00:00Z is midnight of the 12th in Beijing.
        assert_eq!(date(1_773_244_800_000), "2026-03-12");
        assert_eq!(date(1_773_244_799_999), "2026-03-11");
        assert_eq!(year(1_767_196_800_000), 2026);
        assert_eq!(year(1_767_196_799_999), 2025);
        assert_eq!(datetime(1_767_196_800_000), "2026-01-01T00:00:00+08:00");
    }
}
