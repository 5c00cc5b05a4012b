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
