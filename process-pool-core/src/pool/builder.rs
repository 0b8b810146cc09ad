//! [`PoolBuilder`]: every knob of a [`ProcessPool`], with defaults.

use std::sync::Arc;
use std::time::Duration;

use super::ProcessPool;
use super::hooks::{Hooks, JobRetry, JobStart};
use crate::backend::Spawner;
use crate::engine::options::{Options, shared_options};
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
    /// What both pools' builders share.
    pub(crate) options: Options<JobResult>,
    pub(crate) queue_capacity: Option<usize>,
    pub(crate) output_limit: usize,
    /// The memory limit of jobs that set none.
    pub(crate) max_memory: Option<u64>,
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
    options: Options<JobResult>,
    queue_capacity: Option<usize>,
    output_limit: usize,
    max_memory: Option<u64>,
    hooks: Hooks,
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            // A job is tried once unless asked otherwise.
            options: Options::new(RetryPolicy::none()),
            queue_capacity: None,
            output_limit: DEFAULT_OUTPUT_LIMIT,
            max_memory: None,
            hooks: Hooks::default(),
        }
    }
}

impl PoolBuilder {
    shared_options!(JobResult, "jobs");

    fn options_mut(&mut self) -> &mut Options<JobResult> {
        &mut self.options
    }

    /// Bounds the wait queue: past `capacity` waiting jobs, `submit` waits for room and
    /// `try_submit` fails with [`JobError::QueueFull`](crate::JobError::QueueFull).
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = Some(capacity);
        self
    }

    /// Lets the wait queue grow without bound (the default).
    pub fn unbounded_queue(mut self) -> Self {
        self.queue_capacity = None;
        self
    }

    /// Bytes kept per output stream (default [`DEFAULT_OUTPUT_LIMIT`]); the rest is read and
    /// discarded, and the result is marked truncated.
    pub fn output_limit(mut self, bytes: usize) -> Self {
        self.output_limit = bytes;
        self
    }

    /// The memory limit of every job that sets none itself ([`Job::max_memory`]): `bytes` for
    /// all of a job's processes together, enforced by the kernel (default: none). A spawner
    /// that cannot enforce it is refused here with [`ConfigError::Unenforceable`], naming why
    /// (a `NativeSpawner` without cgroups, say).
    ///
    /// [`Job::max_memory`]: crate::Job::max_memory
    pub fn max_memory_per_job(mut self, bytes: u64) -> Self {
        self.max_memory = Some(bytes);
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

    /// Builds the pool on the current tokio runtime, running jobs with `spawner`.
    ///
    /// Fails with a [`ConfigError`] for zero workers, more workers than the spawner can run at
    /// once, a zero-capacity queue, a retry policy with zero attempts, a zero timeout, a
    /// memory limit of zero or one the spawner cannot enforce, or when called outside a tokio
    /// runtime.
    pub fn build(self, spawner: impl Spawner) -> Result<ProcessPool, ConfigError> {
        self.options.validate(spawner.capacity())?;
        if self.queue_capacity == Some(0) {
            return Err(ConfigError::ZeroQueueCapacity);
        }
        if let Some(bytes) = self.max_memory {
            let name = "max_memory_per_job";
            if bytes == 0 {
                return Err(ConfigError::Invalid {
                    name,
                    reason: "a memory limit of 0 bytes".into(),
                });
            }
            spawner
                .check_memory_limit(None)
                .map_err(|reason| ConfigError::Unenforceable { name, reason })?;
        }
        let config = Config {
            options: self.options,
            queue_capacity: self.queue_capacity,
            output_limit: self.output_limit,
            max_memory: self.max_memory,
        };
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
