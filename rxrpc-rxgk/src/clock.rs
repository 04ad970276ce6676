//! Time as rxgk counts it, and the clock the class reads.
//!
//! rxgk times (`rxgkTime`) are 100-nanosecond units since 1970-01-01 UTC. Token expiry, key
//! lifetimes (rekeying) and the client's RESPONSE start time all come from a [`Clock`], so
//! tests can move time by hand ([`ManualClock`]).

use core::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// rxgk time units per second.
pub const TICKS_PER_SEC: u64 = 10_000_000;

/// The rxgk time of a Unix time in seconds.
pub fn rxgk_time_from_unix_secs(secs: u64) -> u64 {
    secs.saturating_mul(TICKS_PER_SEC)
}

/// The Unix time in whole seconds of an rxgk time.
pub fn unix_secs_from_rxgk_time(t: u64) -> u64 {
    t / TICKS_PER_SEC
}

/// The rxgk time of a duration since the Unix epoch.
pub fn rxgk_time_from_duration(d: Duration) -> u64 {
    let ticks = d.as_nanos() / 100;
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// A source of the current rxgk time.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Clock {
        Clock(Arc::new(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(rxgk_time_from_duration)
                .unwrap_or(0)
        }))
    }

    /// A clock that calls `f` for the current rxgk time.
    pub fn from_fn(f: impl Fn() -> u64 + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(f))
    }

    /// The current rxgk time.
    pub fn now(&self) -> u64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock(now={})", self.now())
    }
}

/// A clock that only moves when told to (for tests).
///
/// ```
/// use rxrpc_rxgk::clock::ManualClock;
/// let m = ManualClock::new(1_000);
/// let c = m.clock();
/// m.advance_secs(2);
/// assert_eq!(c.now(), 1_000 + 20_000_000);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A manual clock reading `t` (rxgk time).
    pub fn new(t: u64) -> ManualClock {
        ManualClock(Arc::new(AtomicU64::new(t)))
    }
    /// A manual clock reading the Unix time `secs`.
    pub fn at_unix_secs(secs: u64) -> ManualClock {
        ManualClock::new(rxgk_time_from_unix_secs(secs))
    }
    /// Set the time.
    pub fn set(&self, t: u64) {
        self.0.store(t, Ordering::SeqCst);
    }
    /// Move the time forward by `secs` seconds.
    pub fn advance_secs(&self, secs: u64) {
        self.0
            .fetch_add(secs.saturating_mul(TICKS_PER_SEC), Ordering::SeqCst);
    }
    /// The current reading.
    pub fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
    /// A [`Clock`] reading this manual clock.
    pub fn clock(&self) -> Clock {
        let a = Arc::clone(&self.0);
        Clock::from_fn(move || a.load(Ordering::SeqCst))
    }
}
