//! [`PoolBuilder`]: every knob of a [`ProcessPool`], with defaults.

use std::sync::Arc;
use std::time::Duration;

use super::ProcessPool;
use super::hooks::{Hooks, JobRetry, JobStart};
use crate::backend::Spawner;
use crate::engine::retry::RetryPolicy;
use crate::error::ConfigError;
use crate::result::JobResult;

/// The default limit of bytes kept per output stream (stdout and stderr each): 64 MiB.
pub const DEFAULT_OUTPUT_LIMIT: usize = 64 << 20;

/// The default time a stopped job has between the polite signal and the kill: 1 second.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(1);

/// The settings a pool applies to every job that does not override them.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) max_workers: usize,
    pub(crate) queue_capacity: Option<usize>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: RetryPolicy,
    pub(crate) output_limit: usize,
    pub(crate) kill_grace: Duration,
}

/// Builds a [`ProcessPool`]: worker limit, queue, timeouts, retries, output limits, hooks.
///
/// The options it shares with [`WorkerPoolBuilder`](crate::WorkerPoolBuilder) have the same
/// names and meanings: `max_workers`, `timeout`, `retry`, `retry_when`, `pause_when`,
/// `kill_grace`.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
/// use process_pool::{Backoff, Job, NativeSpawner, ProcessPool, RetryOn, RetryPolicy};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let done = Arc::new(AtomicUsize::new(0));
/// let seen = done.clone();
/// let pool = ProcessPool::builder()
///     .max_workers(8)
///     .queue_capacity(1_000)
///     .timeout(Duration::from_secs(30))
///     .retry(
///         RetryPolicy::attempts(3)
///             .backoff(Backoff::exponential(Duration::from_millis(100), Duration::from_secs(5)))
///             .on(RetryOn::FAILURE | RetryOn::TIMEOUT),
///     )
///     .output_limit(1 << 20)
///     .kill_grace(Duration::from_millis(500))
///     .on_complete(move |_result| {
///         seen.fetch_add(1, Ordering::Relaxed);
///     })
///     .build(NativeSpawner::new())?;
/// pool.run_all([Job::new("true")]).await?;
/// assert_eq!(done.load(Ordering::Relaxed), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct PoolBuilder {
    config: Config,
    hooks: Hooks,
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            config: Config {
                max_workers: default_workers(),
                queue_capacity: None,
                timeout: None,
                retry: RetryPolicy::none(),
                output_limit: DEFAULT_OUTPUT_LIMIT,
                kill_grace: DEFAULT_KILL_GRACE,
            },
            hooks: Hooks::default(),
        }
    }
}

impl PoolBuilder {
    /// How many jobs run at once (default: the number of CPUs). Must be at least 1, and at
    /// most what the spawner can run at once ([`Spawner::capacity`]).
    pub fn max_workers(mut self, n: usize) -> Self {
        self.config.max_workers = n;
        self
    }

    /// Bounds the wait queue: past `capacity` waiting jobs, `submit` waits for room and
    /// `try_submit` fails with [`JobError::QueueFull`](crate::JobError::QueueFull).
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.config.queue_capacity = Some(capacity);
        self
    }

    /// Lets the wait queue grow without bound (the default).
    pub fn unbounded_queue(mut self) -> Self {
        self.config.queue_capacity = None;
        self
    }

    /// The time limit of every job that sets none itself (default: none).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.config.timeout = Some(limit);
        self
    }

    /// The retry policy of every job that sets none itself (default: one attempt).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.config.retry = policy;
        self
    }

    /// Decides which failed attempts are retried, in place of the policy's
    /// [`RetryOn`](crate::RetryOn) (the policy still bounds the attempts and sets the backoff).
    /// Never asked about a success or a cancellation.
    ///
    /// ```
    /// use process_pool::{ProcessPool, RetryPolicy};
    ///
    /// // Exit code 75 (EX_TEMPFAIL) is worth another try; any other failure is not.
    /// let builder = ProcessPool::builder()
    ///     .retry(RetryPolicy::attempts(5))
    ///     .retry_when(|result| result.exit_code() == Some(75));
    /// ```
    pub fn retry_when(
        mut self,
        classify: impl Fn(&JobResult) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.hooks.retry_when = Some(Arc::new(classify));
        self
    }

    /// Bytes kept per output stream (default [`DEFAULT_OUTPUT_LIMIT`]); the rest is read and
    /// discarded, and the result is marked truncated.
    pub fn output_limit(mut self, bytes: usize) -> Self {
        self.config.output_limit = bytes;
        self
    }

    /// How long a stopped job may take to exit after the polite signal (SIGTERM to its process
    /// group) before it is killed (default [`DEFAULT_KILL_GRACE`]). A backend that has not
    /// returned a stopped job a second after this grace has its job answered without it (and
    /// an error logged), so a misbehaving backend never holds a worker or a shutdown.
    pub fn kill_grace(mut self, grace: Duration) -> Self {
        self.config.kill_grace = grace;
        self
    }

    /// Called as each attempt starts.
    pub fn on_start(
        mut self,
        hook: impl for<'a> Fn(&JobStart<'a>) + Send + Sync + 'static,
    ) -> Self {
        self.hooks.on_start = Some(Arc::new(hook));
        self
    }

    /// Called with every job's final result, success or not, before it is handed out.
    pub fn on_complete(mut self, hook: impl Fn(&JobResult) + Send + Sync + 'static) -> Self {
        self.hooks.on_complete = Some(Arc::new(hook));
        self
    }

    /// Called with every final result that is not a success, after `on_complete`.
    pub fn on_error(mut self, hook: impl Fn(&JobResult) + Send + Sync + 'static) -> Self {
        self.hooks.on_error = Some(Arc::new(hook));
        self
    }

    /// Called after each failed attempt that will be retried.
    pub fn on_retry(
        mut self,
        hook: impl for<'a> Fn(&JobRetry<'a>) + Send + Sync + 'static,
    ) -> Self {
        self.hooks.on_retry = Some(Arc::new(hook));
        self
    }

    /// Looks at every attempt's result (retried or final) and may ask to pause dispatch for a
    /// while: a rate-limit hint. Running jobs go on; queued jobs and retries wait; the latest
    /// pause decides when dispatch resumes (see [`ProcessPool::pause_for`]). Combine with a
    /// [`RetryPolicy`] to run the limited job again after the pause.
    ///
    /// ```
    /// use std::time::Duration;
    /// use process_pool::ProcessPool;
    ///
    /// // A job exiting with EX_TEMPFAIL (75) says "too many requests": hold off for 30 s.
    /// let builder = ProcessPool::builder().pause_when(|result| {
    ///     (result.exit_code() == Some(75)).then_some(Duration::from_secs(30))
    /// });
    /// ```
    pub fn pause_when(
        mut self,
        hint: impl Fn(&JobResult) -> Option<Duration> + Send + Sync + 'static,
    ) -> Self {
        self.hooks.pause_when = Some(Arc::new(hint));
        self
    }

    /// Builds the pool on the current tokio runtime, running jobs with `spawner`.
    ///
    /// Fails with a [`ConfigError`] for zero workers, more workers than the spawner can run at
    /// once, a zero-capacity queue, a retry policy with zero attempts, a zero timeout, or when
    /// called outside a tokio runtime.
    pub fn build(self, spawner: impl Spawner) -> Result<ProcessPool, ConfigError> {
        let config = self.config;
        check_workers(config.max_workers, spawner.capacity())?;
        if config.queue_capacity == Some(0) {
            return Err(ConfigError::ZeroQueueCapacity);
        }
        if config.timeout == Some(Duration::ZERO) {
            return Err(ConfigError::Invalid {
                name: "timeout",
                reason: "a zero timeout would stop every job at once".into(),
            });
        }
        config
            .retry
            .validate()
            .map_err(|reason| ConfigError::Invalid {
                name: "retry",
                reason,
            })?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConfigError::NoRuntime)?;
        Ok(ProcessPool::from_parts(
            Arc::new(spawner),
            config,
            self.hooks,
            runtime,
        ))
    }
}

/// The default worker limit of both pools: the CPUs this process may use (1 if unknown).
pub(crate) fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Checks a worker limit against zero and against what the spawner can run at once.
pub(crate) fn check_workers(n: usize, capacity: Option<usize>) -> Result<(), ConfigError> {
    if n == 0 {
        return Err(ConfigError::ZeroWorkers);
    }
    match capacity {
        Some(capacity) if n > capacity => Err(ConfigError::OverCapacity {
            max_workers: n,
            capacity,
        }),
        _ => Ok(()),
    }
}
