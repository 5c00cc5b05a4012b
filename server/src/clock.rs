//! Time, injectable so that expiry and retention are tested without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// A source of the current time in unix milliseconds.
pub trait Clock: Send + Sync + 'static {
    /// Now, in milliseconds since 1970-01-01 UTC.
    fn now_ms(&self) -> i64;
}

/// The system's clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let now = time::OffsetDateTime::now_utc();
        i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }
}

/// A clock that moves only when told to: tests advance it past an expiry.
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    /// A clock stopped at the current system time.
    pub fn starting_now() -> Arc<ManualClock> {
        Arc::new(ManualClock {
            now_ms: AtomicI64::new(SystemClock.now_ms()),
        })
    }

    /// Moves the clock forward.
    pub fn advance_ms(&self, ms: i64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

// Calendar arithmetic on unix milliseconds: retention periods and reviews are counted in
// calendar months and years, as the charter states them.

/// `ms` moved by `months` calendar months (the day clamped to the month's length).
fn shift_months(ms: i64, months: i32) -> i64 {
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return ms;
    };
    let index = at.year() * 12 + i32::from(u8::from(at.month())) - 1 + months;
    let year = index.div_euclid(12);
    let Some(month) = u8::try_from(index.rem_euclid(12) + 1)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
    else {
        return ms;
    };
    let day = at.day().min(month.length(year));
    let Ok(date) = time::Date::from_calendar_date(year, month, day) else {
        return ms;
    };
    i64::try_from(at.replace_date(date).unix_timestamp_nanos() / 1_000_000).unwrap_or(ms)
}

/// `ms` plus `years` calendar years (29 February becomes 28 February).
pub(crate) fn years_after(ms: i64, years: i32) -> i64 {
    shift_months(ms, years.saturating_mul(12))
}

/// `ms` plus `months` calendar months.
pub(crate) fn months_after(ms: i64, months: i32) -> i64 {
    shift_months(ms, months)
}

/// `ms` minus `months` calendar months.
pub(crate) fn months_before(ms: i64, months: u32) -> i64 {
    shift_months(ms, -i32::try_from(months).unwrap_or(i32::MAX))
}
