//! The process clock: coarse seconds since process start, and memcached's exptime rules.
//!
//! Owns the one notion of "now" that the store and the protocol share. Time is kept as a
//! [`RelTime`], whole seconds since the process started, in one atomic that readers load with
//! `Relaxed` ordering (a cache lookup must not pay for a system call). The server's
//! maintenance thread calls [`Clock::tick`] a few times a second to refresh it.
//!
//! Relative time starts at 2, so that the value 1 always lies in the past: [`Clock::expiry`]
//! maps "already expired" to 1 and 0 means "never expires".
//!
//! Must not know: the store, the protocol, sockets.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Seconds since process start (the process starts at 2, so 1 is always in the past).
pub type RelTime = u32;

/// Relative time at process start: 0 means "never", 1 means "already expired".
const START: RelTime = 2;

/// memcached's REALTIME_MAXDELTA: exptimes up to 30 days are relative, larger are absolute.
const MAX_RELATIVE_SECS: i64 = 60 * 60 * 24 * 30;

/// A cheap, cloneable handle to the process clock.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    now: AtomicU32,
    /// Unix seconds at relative time 0.
    process_start: u64,
    /// `None` for a manual clock.
    started: Option<Instant>,
}

impl Clock {
    /// A clock that follows real time (refreshed by [`Clock::tick`]).
    pub fn system() -> Clock {
        Clock::new(Some(Instant::now()))
    }

    /// A clock for tests: it starts at 2 and moves only by [`Clock::advance`].
    pub fn manual() -> Clock {
        Clock::new(None)
    }

    fn new(started: Option<Instant>) -> Clock {
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Clock {
            inner: Arc::new(Inner {
                now: AtomicU32::new(START),
                process_start: unix_now.saturating_sub(u64::from(START)),
                started,
            }),
        }
    }

    /// The current relative time: one relaxed atomic load.
    #[inline]
    pub fn now(&self) -> RelTime {
        self.inner.now.load(Ordering::Relaxed)
    }

    /// Refreshes a system clock from the OS monotonic clock; a no-op for manual clocks.
    pub fn tick(&self) {
        if let Some(started) = self.inner.started {
            let secs = started.elapsed().as_secs().saturating_add(u64::from(START));
            let secs = RelTime::try_from(secs).unwrap_or(RelTime::MAX);
            self.inner.now.fetch_max(secs, Ordering::Relaxed);
        }
    }

    /// Moves a manual clock forward by `secs`; ignored by system clocks.
    pub fn advance(&self, secs: u32) {
        if self.inner.started.is_none() {
            // fetch_update never fails with a closure that always returns Some.
            let _ = self
                .inner
                .now
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                    Some(t.saturating_add(secs))
                });
        }
    }

    /// Converts a client exptime into a [`RelTime`] with memcached's `realtime()` rules:
    /// 0 never expires (0); negative is already expired (1); up to 30 days is relative to now;
    /// larger is an absolute unix time (at or before process start: 1).
    pub fn expiry(&self, exptime: i64) -> RelTime {
        if exptime == 0 {
            return 0;
        }
        if exptime < 0 {
            return 1;
        }
        if exptime <= MAX_RELATIVE_SECS {
            let t = u64::from(self.now()) + exptime as u64;
            return RelTime::try_from(t).unwrap_or(RelTime::MAX);
        }
        let abs = exptime as u64;
        if abs <= self.inner.process_start {
            return 1;
        }
        RelTime::try_from(abs - self.inner.process_start)
            .unwrap_or(RelTime::MAX)
            .max(1)
    }

    /// The unix time (seconds) of a relative time.
    pub fn unix_time(&self, rel: RelTime) -> u64 {
        self.inner.process_start + u64::from(rel)
    }

    /// Unix seconds at relative time 0.
    pub fn process_start(&self) -> u64 {
        self.inner.process_start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_starts_at_two_and_advances() {
        let c = Clock::manual();
        assert_eq!(c.now(), 2);
        c.tick();
        assert_eq!(c.now(), 2);
        c.advance(10);
        assert_eq!(c.now(), 12);
        let c2 = c.clone();
        c2.advance(1);
        assert_eq!(c.now(), 13);
    }

    #[test]
    fn expiry_rules() {
        let c = Clock::manual();
        c.advance(100);
        assert_eq!(c.expiry(0), 0);
        assert_eq!(c.expiry(-1), 1);
        assert_eq!(c.expiry(i64::MIN), 1);
        assert_eq!(c.expiry(10), 112);
        assert_eq!(c.expiry(MAX_RELATIVE_SECS), 102 + MAX_RELATIVE_SECS as u32);
        // Absolute times: before start is already expired.
        assert_eq!(c.expiry(MAX_RELATIVE_SECS + 1), 1);
        let abs = c.process_start() as i64 + 500;
        assert_eq!(c.expiry(abs), 500);
        assert_eq!(c.unix_time(500), abs as u64);
        assert_eq!(c.expiry(i64::MAX), RelTime::MAX);
    }

    #[test]
    fn system_clock_ticks_monotonically() {
        let c = Clock::system();
        let a = c.now();
        c.tick();
        assert!(c.now() >= a);
        c.advance(1000);
        assert!(c.now() < 1000, "advance is ignored by system clocks");
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(c.unix_time(c.now()).abs_diff(unix) <= 2);
    }
}
