//! [`RetryPolicy`]: how often a job or a call is tried, how long to wait between tries, and
//! which outcomes are worth another try; and the one [`Decision`] both pools (and a worker pool's
//! start-up) take from it.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::ops::{BitOr, BitOrAssign};
use std::time::Duration;

/// How often a job or a call is attempted and when: the same meaning in both pools.
///
/// `attempts` counts every attempt, the first one included: `RetryPolicy::attempts(3)` means at
/// most 3 runs (2 retries). A waiting retry holds no worker, so a backoff never idles the pool.
///
/// ```
/// use std::time::Duration;
/// use process_pool::{Backoff, RetryOn, RetryPolicy};
///
/// // Up to 3 attempts, 50 ms then 100 ms apart, on a non-zero exit or a timeout only.
/// let policy = RetryPolicy::attempts(3)
///     .backoff(Backoff::exponential(Duration::from_millis(50), Duration::from_secs(1)))
///     .on(RetryOn::FAILURE | RetryOn::TIMEOUT);
/// assert_eq!(policy.max_attempts(), 3);
/// assert_eq!(policy.delay_before(2), Duration::from_millis(50));
/// assert_eq!(policy.delay_before(3), Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    attempts: u32,
    backoff: Backoff,
    on: RetryOn,
}

impl Default for RetryPolicy {
    /// One attempt, no retry.
    fn default() -> Self {
        Self::none()
    }
}

impl RetryPolicy {
    /// One attempt, no retry.
    pub fn none() -> Self {
        Self::attempts(1)
    }

    /// At most `total` attempts (the first one included), with no backoff, retrying the
    /// outcomes of [`RetryOn::default`]. Zero is rejected when the pool is built.
    pub fn attempts(total: u32) -> Self {
        RetryPolicy {
            attempts: total,
            backoff: Backoff::none(),
            on: RetryOn::default(),
        }
    }

    /// Sets the wait between attempts.
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets which outcomes are retried.
    #[must_use]
    pub fn on(mut self, on: RetryOn) -> Self {
        self.on = on;
        self
    }

    /// The most attempts a job or call gets, the first one included.
    pub fn max_attempts(&self) -> u32 {
        self.attempts
    }

    /// The outcomes retried.
    pub fn retried_outcomes(&self) -> RetryOn {
        self.on
    }

    /// The wait before attempt number `attempt` (2 for the first retry), jitter included.
    pub fn delay_before(&self, attempt: u32) -> Duration {
        self.backoff.delay(attempt.saturating_sub(1))
    }

    /// Checks the policy when a pool is built.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.attempts == 0 {
            return Err("a retry policy needs at least one attempt, got 0".into());
        }
        Ok(())
    }

    /// What to do after attempt number `attempts_done` ended in an outcome of kind `class`
    /// (`None`: a success, or a cancellation, never retried). `wanted` overrides the policy's
    /// [`RetryOn`] when a classifier was asked; `pause` is a rate-limit hint's pause.
    pub(crate) fn decide(
        &self,
        class: Option<RetryOn>,
        wanted: Option<bool>,
        attempts_done: u32,
        pause: Option<Duration>,
    ) -> Decision {
        let Some(class) = class else {
            return Decision::No;
        };
        let wanted = wanted.unwrap_or_else(|| self.on.contains(class));
        if !wanted || attempts_done >= self.attempts {
            return Decision::No;
        }
        match pause {
            Some(pause) => Decision::AfterPause(pause),
            None => match self.delay_before(attempts_done.saturating_add(1)) {
                delay if delay.is_zero() => Decision::Now,
                delay => Decision::After(delay),
            },
        }
    }
}

/// What a pool does after an attempt that did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Answer with this attempt's outcome.
    No,
    /// Run it again as soon as a worker is free (it goes back to its place in the queue).
    Now,
    /// Run it again after this backoff, holding no worker meanwhile.
    After(Duration),
    /// Pause dispatch for this long (a rate-limit hint), then run it again.
    AfterPause(Duration),
}

impl Decision {
    /// Whether it is run again.
    pub(crate) fn retries(self) -> bool {
        !matches!(self, Decision::No)
    }

    /// The wait before the next attempt, as the retry hook reports it.
    pub(crate) fn delay(self) -> Duration {
        match self {
            Decision::After(delay) | Decision::AfterPause(delay) => delay,
            Decision::No | Decision::Now => Duration::ZERO,
        }
    }
}

/// The wait between attempts: `initial × factor^(retry − 1)`, capped at `max`, less a random
/// part of up to `jitter` of it.
///
/// ```
/// use std::time::Duration;
/// use process_pool::Backoff;
///
/// let backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10))
///     .factor(3.0)
///     .jitter(0.5);
/// let third = backoff.delay(3); // 900 ms less up to half of it
/// assert!(third >= Duration::from_millis(450) && third <= Duration::from_millis(900));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    initial: Duration,
    factor: f64,
    max: Duration,
    jitter: f64,
}

impl Backoff {
    /// Retry at once.
    pub fn none() -> Self {
        Self::fixed(Duration::ZERO)
    }

    /// The same wait before every retry.
    pub fn fixed(delay: Duration) -> Self {
        Backoff {
            initial: delay,
            factor: 1.0,
            max: delay,
            jitter: 0.0,
        }
    }

    /// A wait that doubles after every retry (see [`factor`](Self::factor)), starting at
    /// `initial`, never above `max`.
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            factor: 2.0,
            max,
            jitter: 0.0,
        }
    }

    /// Sets the growth factor between retries (default 2 for an exponential backoff; values
    /// below 1, and non-finite ones, count as 1).
    #[must_use]
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = if factor.is_finite() {
            factor.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// Takes a random part of up to `fraction` (0 to 1) off every wait, so that many jobs
    /// failing together do not retry together (default 0: no jitter).
    #[must_use]
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// The wait before retry number `retry` (1 for the first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        if retry == 0 {
            return Duration::ZERO;
        }
        let exp = i32::try_from(retry - 1).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.factor.powi(exp);
        let full = if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs)
        };
        if self.jitter == 0.0 {
            full
        } else {
            full.mul_f64(1.0 - self.jitter * random_unit())
        }
    }
}

/// A number in `[0, 1)`, different on every call: enough randomness to spread retries, with
/// no dependency.
fn random_unit() -> f64 {
    let bits = RandomState::new().hash_one(std::time::Instant::now());
    // The top 53 bits as a fraction.
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Which outcomes of an attempt lead to another attempt: a set, combined with `|`.
///
/// Each kind means the same in both pools, as far as it applies:
///
/// | kind | a job | a call |
/// |---|---|---|
/// | [`FAILURE`](Self::FAILURE) | exited with a non-zero code | its method answered an error |
/// | [`CRASH`](Self::CRASH) | killed by a signal the pool did not send, or ended by an exception (Windows) | its worker died or broke the protocol under it |
/// | [`TIMEOUT`](Self::TIMEOUT) | ran past its time limit | ran past its time limit |
/// | [`SPAWN_FAILURE`](Self::SPAWN_FAILURE) | could not start | — (worker start-up has its own policy) |
/// | [`TRAP`](Self::TRAP) | a WebAssembly trap | — (a trapped worker is a crash) |
///
/// A cancellation is never retried.
///
/// ```
/// use process_pool::RetryOn;
///
/// let on = RetryOn::TIMEOUT | RetryOn::CRASH;
/// assert!(on.contains(RetryOn::TIMEOUT));
/// assert!(!on.contains(RetryOn::FAILURE));
/// assert!(RetryOn::default().contains(RetryOn::FAILURE | RetryOn::TRAP));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetryOn(u8);

impl RetryOn {
    /// Nothing is retried.
    pub const NONE: RetryOn = RetryOn(0);
    /// A job that exited with a non-zero code; a call whose method answered an error.
    pub const FAILURE: RetryOn = RetryOn(1);
    /// A job killed by a signal it was not sent by the pool; a call whose worker died (or broke
    /// the protocol) while it ran.
    pub const CRASH: RetryOn = RetryOn(1 << 1);
    /// An attempt that ran past its time limit.
    pub const TIMEOUT: RetryOn = RetryOn(1 << 2);
    /// A job that could not be started (a transient `EAGAIN`, say; a missing program stays
    /// missing).
    pub const SPAWN_FAILURE: RetryOn = RetryOn(1 << 3);
    /// A WebAssembly trap.
    pub const TRAP: RetryOn = RetryOn(1 << 4);
    /// A job the kernel killed for going over its memory limit (not retried by default: the
    /// same job under the same limit usually goes over it again).
    pub const OUT_OF_MEMORY: RetryOn = RetryOn(1 << 5);
    /// Every kind above.
    pub const ALL: RetryOn = RetryOn(0b11_1111);

    const NAMES: [(RetryOn, &'static str); 6] = [
        (RetryOn::FAILURE, "FAILURE"),
        (RetryOn::CRASH, "CRASH"),
        (RetryOn::TIMEOUT, "TIMEOUT"),
        (RetryOn::SPAWN_FAILURE, "SPAWN_FAILURE"),
        (RetryOn::TRAP, "TRAP"),
        (RetryOn::OUT_OF_MEMORY, "OUT_OF_MEMORY"),
    ];

    /// Whether every kind in `other` is in this set.
    pub const fn contains(self, other: RetryOn) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }
}

impl Default for RetryOn {
    /// Failures, crashes, timeouts and traps; not a failure to start, which a retry rarely
    /// mends.
    fn default() -> Self {
        RetryOn::FAILURE | RetryOn::CRASH | RetryOn::TIMEOUT | RetryOn::TRAP
    }
}

impl BitOr for RetryOn {
    type Output = RetryOn;
    fn bitor(self, other: RetryOn) -> RetryOn {
        RetryOn(self.0 | other.0)
    }
}

impl BitOrAssign for RetryOn {
    fn bitor_assign(&mut self, other: RetryOn) {
        self.0 |= other.0;
    }
}

impl fmt::Debug for RetryOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = RetryOn::NAMES
            .iter()
            .filter(|(kind, _)| self.contains(*kind))
            .map(|(_, name)| *name)
            .collect();
        if names.is_empty() {
            f.write_str("NONE")
        } else {
            f.write_str(&names.join(" | "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_backoff_grows_by_its_factor_and_caps() {
        let b = Backoff::exponential(Duration::from_millis(10), Duration::from_millis(35));
        assert_eq!(b.delay(0), Duration::ZERO);
        assert_eq!(b.delay(1), Duration::from_millis(10));
        assert_eq!(b.delay(2), Duration::from_millis(20));
        assert_eq!(b.delay(3), Duration::from_millis(35));
        assert_eq!(b.delay(u32::MAX), Duration::from_millis(35));
        let b = b.factor(3.0);
        assert_eq!(b.delay(2), Duration::from_millis(30));
    }

    #[test]
    fn jitter_stays_within_its_fraction_and_varies() {
        let b = Backoff::fixed(Duration::from_millis(1000)).jitter(0.25);
        let delays: Vec<Duration> = (0..200).map(|_| b.delay(1)).collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_millis(750) && *d <= Duration::from_millis(1000)),
            "{delays:?}"
        );
        assert!(
            delays.iter().any(|d| *d != delays[0]),
            "jitter never varied"
        );
        assert_eq!(
            Backoff::fixed(Duration::from_secs(1))
                .jitter(f64::NAN)
                .delay(1),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn decide_counts_attempts_the_same_way_everywhere() {
        let p = RetryPolicy::attempts(2);
        assert_eq!(
            p.decide(Some(RetryOn::FAILURE), None, 1, None),
            Decision::Now
        );
        assert_eq!(
            p.decide(Some(RetryOn::FAILURE), None, 2, None),
            Decision::No
        );
        assert_eq!(
            p.decide(None, None, 1, None),
            Decision::No,
            "success or cancel"
        );
        let p = p.on(RetryOn::TIMEOUT);
        assert_eq!(
            p.decide(Some(RetryOn::FAILURE), None, 1, None),
            Decision::No
        );
        assert_eq!(
            p.decide(Some(RetryOn::FAILURE), Some(true), 1, None),
            Decision::Now
        );
        assert_eq!(
            p.decide(Some(RetryOn::TIMEOUT), Some(false), 1, None),
            Decision::No
        );
        let pause = Duration::from_secs(30);
        assert_eq!(
            p.decide(Some(RetryOn::TIMEOUT), None, 1, Some(pause)),
            Decision::AfterPause(pause)
        );
        let p = p.backoff(Backoff::fixed(Duration::from_millis(5)));
        assert_eq!(
            p.decide(Some(RetryOn::TIMEOUT), None, 1, None),
            Decision::After(Duration::from_millis(5))
        );
        assert_eq!(
            RetryPolicy::none().decide(Some(RetryOn::FAILURE), Some(true), 1, None),
            Decision::No
        );
    }

    #[test]
    fn retry_on_is_a_set() {
        let on = RetryOn::FAILURE | RetryOn::TRAP;
        assert!(on.contains(RetryOn::FAILURE) && on.contains(RetryOn::TRAP));
        assert!(!on.contains(RetryOn::CRASH));
        assert!(!on.contains(RetryOn::NONE), "the empty set is in no set");
        assert_eq!(format!("{on:?}"), "FAILURE | TRAP");
        assert_eq!(format!("{:?}", RetryOn::NONE), "NONE");
        assert!(RetryOn::ALL.contains(RetryOn::default() | RetryOn::SPAWN_FAILURE));
    }

    #[test]
    fn zero_attempts_is_invalid() {
        assert!(RetryPolicy::attempts(0).validate().is_err());
    }
}
