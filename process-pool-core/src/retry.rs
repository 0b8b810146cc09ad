//! [`RetryPolicy`]: how often a job is tried, how long to wait between tries, and which
//! outcomes are worth another try.

use std::time::Duration;

use crate::result::Outcome;

/// How often a job is attempted and when.
///
/// The default is a single attempt. A retried job gives up its worker slot while it waits, so a
/// backoff never idles the pool.
///
/// ```
/// use std::time::Duration;
/// use process_pool_core::{Backoff, RetryOn, RetryPolicy};
///
/// // Up to 3 attempts, 50 ms then 100 ms apart, on a non-zero exit or a timeout only.
/// let policy = RetryPolicy::attempts(3)
///     .backoff(Backoff::exponential(Duration::from_millis(50), Duration::from_secs(1)))
///     .on(RetryOn::NONE.exit_failure(true).timeout(true));
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

    /// The most attempts a job gets.
    pub fn max_attempts(&self) -> u32 {
        self.attempts
    }

    /// The wait before attempt number `attempt` (2 for the first retry).
    pub fn delay_before(&self, attempt: u32) -> Duration {
        self.backoff.delay(attempt.saturating_sub(1))
    }

    /// Whether an attempt that ended in `outcome`, after `attempts_done` attempts, is retried.
    pub fn should_retry(&self, outcome: &Outcome, attempts_done: u32) -> bool {
        attempts_done < self.attempts && self.on.matches(outcome)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.attempts == 0 {
            return Err("a retry policy needs at least one attempt".into());
        }
        Ok(())
    }
}

/// The wait between attempts: `initial × factor^(retry − 1)`, capped at `max`.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    initial: Duration,
    factor: f64,
    max: Duration,
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
        }
    }

    /// A wait that doubles after every retry, starting at `initial`, never above `max`.
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            factor: 2.0,
            max,
        }
    }

    /// Sets the growth factor (values below 1 are treated as 1).
    #[must_use]
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = if factor.is_finite() {
            factor.max(1.0)
        } else {
            1.0
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
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs)
        }
    }
}

/// Which outcomes of an attempt lead to another attempt.
///
/// The default retries a non-zero exit, death by a signal, a timeout and a trap, but not a
/// spawn failure (a missing program stays missing) and never a cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOn {
    exit_failure: bool,
    signal: bool,
    timeout: bool,
    spawn_failure: bool,
    trap: bool,
}

impl Default for RetryOn {
    fn default() -> Self {
        RetryOn {
            exit_failure: true,
            signal: true,
            timeout: true,
            spawn_failure: false,
            trap: true,
        }
    }
}

impl RetryOn {
    /// Retry nothing; add outcomes with the methods below.
    pub const NONE: RetryOn = RetryOn {
        exit_failure: false,
        signal: false,
        timeout: false,
        spawn_failure: false,
        trap: false,
    };

    /// Retry a non-zero exit code.
    #[must_use]
    pub const fn exit_failure(mut self, yes: bool) -> Self {
        self.exit_failure = yes;
        self
    }

    /// Retry death by a signal.
    #[must_use]
    pub const fn signal(mut self, yes: bool) -> Self {
        self.signal = yes;
        self
    }

    /// Retry a timeout.
    #[must_use]
    pub const fn timeout(mut self, yes: bool) -> Self {
        self.timeout = yes;
        self
    }

    /// Retry a failure to start (for example a transient `EAGAIN`).
    #[must_use]
    pub const fn spawn_failure(mut self, yes: bool) -> Self {
        self.spawn_failure = yes;
        self
    }

    /// Retry a WebAssembly trap.
    #[must_use]
    pub const fn trap(mut self, yes: bool) -> Self {
        self.trap = yes;
        self
    }

    /// Whether `outcome` is one of the retried outcomes.
    pub fn matches(&self, outcome: &Outcome) -> bool {
        match outcome {
            Outcome::Exited(0) => false,
            Outcome::Exited(_) => self.exit_failure,
            Outcome::Signaled(_) => self.signal,
            Outcome::TimedOut => self.timeout,
            Outcome::SpawnFailed(_) => self.spawn_failure,
            Outcome::Trapped(_) => self.trap,
            Outcome::Cancelled => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_backoff_doubles_and_caps() {
        let b = Backoff::exponential(Duration::from_millis(10), Duration::from_millis(35));
        assert_eq!(b.delay(0), Duration::ZERO);
        assert_eq!(b.delay(1), Duration::from_millis(10));
        assert_eq!(b.delay(2), Duration::from_millis(20));
        assert_eq!(b.delay(3), Duration::from_millis(35));
        assert_eq!(b.delay(u32::MAX), Duration::from_millis(35));
    }

    #[test]
    fn should_retry_respects_attempts_and_outcomes() {
        let p = RetryPolicy::attempts(2);
        assert!(p.should_retry(&Outcome::Exited(1), 1));
        assert!(!p.should_retry(&Outcome::Exited(1), 2));
        assert!(!p.should_retry(&Outcome::Exited(0), 1));
        assert!(!p.should_retry(&Outcome::Cancelled, 1));
        let p = p.on(RetryOn::NONE.timeout(true));
        assert!(!p.should_retry(&Outcome::Exited(1), 1));
        assert!(p.should_retry(&Outcome::TimedOut, 1));
    }

    #[test]
    fn zero_attempts_is_invalid() {
        assert!(RetryPolicy::attempts(0).validate().is_err());
    }
}
