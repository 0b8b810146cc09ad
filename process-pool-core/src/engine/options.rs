//! The options both pools' builders share, with the same names and meanings, written once:
//! [`Options`] holds them, `shared_options!` writes their setters into
//! each builder, and the pools ask the classifiers through [`Options`], contained and outside
//! their lock.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::hooks::contain;
use super::retry::RetryPolicy;
use crate::pool::{DEFAULT_KILL_GRACE, default_workers};

/// Decides whether a failed attempt (of answer `A`) is retried.
pub(crate) type Classifier<A> = Arc<dyn Fn(&A) -> bool + Send + Sync>;
/// Reads a rate-limit hint off a failed attempt (of answer `A`).
pub(crate) type PauseHint<A> = Arc<dyn Fn(&A) -> Option<Duration> + Send + Sync>;

/// The options of a pool whose attempts end in an `A` (a `JobResult`, a `CallError`).
pub(crate) struct Options<A: ?Sized> {
    pub(crate) max_workers: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: RetryPolicy,
    pub(crate) kill_grace: Duration,
    pub(crate) retry_when: Option<Classifier<A>>,
    pub(crate) pause_when: Option<PauseHint<A>>,
}

impl<A: ?Sized> Options<A> {
    /// The defaults, with `retry` as the pool's default policy.
    pub(crate) fn new(retry: RetryPolicy) -> Self {
        Options {
            max_workers: default_workers(),
            timeout: None,
            retry,
            kill_grace: DEFAULT_KILL_GRACE,
            retry_when: None,
            pause_when: None,
        }
    }

    /// Checks the values that can be wrong.
    pub(crate) fn validate(&self, capacity: Option<usize>) -> Result<(), crate::ConfigError> {
        crate::pool::check_workers(self.max_workers, capacity)?;
        if self.timeout == Some(Duration::ZERO) {
            return Err(crate::ConfigError::Invalid {
                name: "timeout",
                reason: "a zero timeout would stop every attempt at once".into(),
            });
        }
        self.retry
            .validate()
            .map_err(|reason| crate::ConfigError::Invalid {
                name: "retry",
                reason,
            })
    }

    /// Whether `retry_when` wants this attempt retried; `None` when it is not set (or
    /// panicked), leaving it to the policy's outcomes.
    pub(crate) fn wants_retry(&self, attempt: &A) -> Option<bool> {
        let classify = self.retry_when.as_ref()?;
        contain("retry_when", || classify(attempt))
    }

    /// How long `pause_when` asks to pause dispatch after this attempt, if at all.
    pub(crate) fn pause_after(&self, attempt: &A) -> Option<Duration> {
        let hint = self.pause_when.as_ref()?;
        contain("pause_when", || hint(attempt)).flatten()
    }

    /// Whether there is anything to ask about a failed attempt.
    pub(crate) fn classifies(&self) -> bool {
        self.retry_when.is_some() || self.pause_when.is_some()
    }
}

impl<A: ?Sized> Clone for Options<A> {
    fn clone(&self) -> Self {
        Options {
            max_workers: self.max_workers,
            timeout: self.timeout,
            retry: self.retry.clone(),
            kill_grace: self.kill_grace,
            retry_when: self.retry_when.clone(),
            pause_when: self.pause_when.clone(),
        }
    }
}

impl<A: ?Sized> fmt::Debug for Options<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("max_workers", &self.max_workers)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("kill_grace", &self.kill_grace)
            .field("retry_when", &self.retry_when.is_some())
            .field("pause_when", &self.pause_when.is_some())
            .finish()
    }
}

/// Writes the shared options' setters into a builder that has an `options_mut()` giving its
/// [`Options<$attempt>`]: `max_workers`, `timeout`, `retry`, `retry_when`, `pause_when` and
/// `kill_grace`, documented for `$work` (jobs, calls) whose attempts end in a `$attempt`.
macro_rules! shared_options {
    ($attempt:ty, $work:literal) => {
        #[doc = concat!("How many ", $work, " run at once (default: the number of CPUs). Must be")]
        /// at least 1, and at most what the backend can run at once (its `capacity`).
        pub fn max_workers(mut self, n: usize) -> Self {
            self.options_mut().max_workers = n;
            self
        }

        #[doc = concat!("The time limit of every attempt of the ", $work, " that set none")]
        /// themselves (default: none). Past it, the attempt is stopped and counts as timed out.
        pub fn timeout(mut self, limit: std::time::Duration) -> Self {
            self.options_mut().timeout = Some(limit);
            self
        }

        #[doc = concat!("The retry policy of the ", $work, " that set none themselves: how many")]
        /// attempts (the first one included), the wait between them, and which outcomes are
        /// retried.
        pub fn retry(mut self, policy: $crate::RetryPolicy) -> Self {
            self.options_mut().retry = policy;
            self
        }

        /// Decides which failed attempts are retried, in place of the policy's
        /// [`RetryOn`](crate::RetryOn) (the policy still bounds the attempts and sets the
        /// backoff). Never asked about a success or a cancellation. Runs outside the pool's
        /// lock; a panic in it counts as no answer.
        pub fn retry_when(
            mut self,
            classify: impl Fn(&$attempt) -> bool + Send + Sync + 'static,
        ) -> Self {
            self.options_mut().retry_when = Some(std::sync::Arc::new(classify));
            self
        }

        /// Looks at every failed attempt and may ask to pause dispatch for a while: a
        /// rate-limit hint. What runs goes on; what is queued, retries included, waits; the
        /// latest pause decides when dispatch resumes (see `pause_for`). Combine with a retry
        /// policy (or `retry_when`) to run the limited work again after the pause. Runs
        /// outside the pool's lock; a panic in it counts as no pause.
        pub fn pause_when(
            mut self,
            hint: impl Fn(&$attempt) -> Option<std::time::Duration> + Send + Sync + 'static,
        ) -> Self {
            self.options_mut().pause_when = Some(std::sync::Arc::new(hint));
            self
        }

        #[doc = concat!("How long stopped ", $work, " have to end before they are killed, with")]
        /// their process group (default [`DEFAULT_KILL_GRACE`](crate::DEFAULT_KILL_GRACE)): a
        /// job between SIGTERM and SIGKILL, a worker between a cancel or shutdown frame and
        /// SIGKILL. A backend that has not returned a stopped job a second after it has the job
        /// answered without it, so a misbehaving backend never holds a slot or a shutdown.
        pub fn kill_grace(mut self, grace: std::time::Duration) -> Self {
            self.options_mut().kill_grace = grace;
            self
        }
    };
}

pub(crate) use shared_options;
