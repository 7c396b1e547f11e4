//! Calendar periods in China Standard Time (UTC+8, no daylight saving): the days and months
//! that caps, rankings and statements count by.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Offset, TimeZone, Utc};

use crate::error::{AppError, AppResult};

pub fn cst() -> FixedOffset {
    // 8 hours is always a valid offset; UTC is the (unreachable) fallback.
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

/// `YYYY-MM` of the month `at` falls in, China time.
pub fn month_of(at: DateTime<Utc>) -> String {
    at.with_timezone(&cst()).format("%Y-%m").to_string()
}

/// The first instant of `YYYY-MM` and of the month after, China Standard Time.
pub fn month_bounds(month: &str) -> AppResult<(DateTime<Utc>, DateTime<Utc>)> {
    let bad = || AppError::invalid_parameter("month", "月份格式须为 YYYY-MM");
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let year: i32 = y.parse().map_err(|_| bad())?;
    let mon: u32 = m.parse().map_err(|_| bad())?;
    // Nothing in Linli happened before 2000; a year like 0000 is a typing slip, not a month.
    if !(2000..=2100).contains(&year) {
        return Err(AppError::invalid_parameter(
            "month",
            "月份须在 2000-01 到 2100-12 之间",
        ));
    }
    let first = NaiveDate::from_ymd_opt(year, mon, 1).ok_or_else(bad)?;
    let next = if mon == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, mon + 1, 1)
    }
    .ok_or_else(bad)?;
    let at = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| cst().from_local_datetime(&t).single())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(bad)
    };
    Ok((at(first)?, at(next)?))
}

/// Midnight today and the first of this month, China time, as UTC instants.
pub fn day_and_month_start(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let local = now.with_timezone(&cst());
    let at = |d: Option<NaiveDate>| {
        d.and_then(|d| d.and_hms_opt(0, 0, 0))
            .and_then(|t| cst().from_local_datetime(&t).single())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(now)
    };
    (
        at(Some(local.date_naive())),
        at(NaiveDate::from_ymd_opt(local.year(), local.month(), 1)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_in_china_time() {
        let (start, end) = month_bounds("2026-12").unwrap();
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 11, 30, 16, 0, 0).unwrap());
        assert_eq!(end, Utc.with_ymd_and_hms(2026, 12, 31, 16, 0, 0).unwrap());
        for bad in [
            "2026-13", "2026-1", "26-01", "abcd-ef", "", "0000-01", "1999-12", "+202-01",
        ] {
            assert!(month_bounds(bad).is_err(), "{bad}");
        }
        // 30 November 17:00 UTC is already December in Beijing.
        assert_eq!(
            month_of(Utc.with_ymd_and_hms(2026, 11, 30, 17, 0, 0).unwrap()),
            "2026-12"
        );
    }

    #[test]
    fn periods_follow_china_time() {
        // 2026-03-31 17:00 UTC is 1 April 01:00 in Beijing.
        let now = Utc.with_ymd_and_hms(2026, 3, 31, 17, 0, 0).unwrap();
        let (day, month) = day_and_month_start(now);
        assert_eq!(day, Utc.with_ymd_and_hms(2026, 3, 31, 16, 0, 0).unwrap());
        assert_eq!(month, day);
    }
}
