//! [`WorkerPoolBuilder`]: a worker pool's settings, checked when it is built.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::WorkerPool;
use super::error::CallError;
use crate::ConfigError;
use crate::backend::{ExitStatus, WorkerId, WorkerSpawner};
use crate::engine::hooks::contain;
use crate::engine::options::{Options, shared_options};
use crate::engine::retry::{Backoff, RetryOn, RetryPolicy};

/// What a worker hook is told.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerEvent {
    /// The worker.
    pub id: WorkerId,
    /// Its process id, where it has one.
    pub pid: Option<u32>,
    /// Why it started or stopped (`"started"`, `"recycled after 100 calls"`, `"idle"`,
    /// `"exited"`, `"killed: ignored a cancel"`...).
    pub reason: String,
    /// How it ended, for a stop or a crash.
    pub exit: Option<ExitStatus>,
}

pub(crate) type WorkerHook = Arc<dyn Fn(&WorkerEvent) + Send + Sync>;

/// The worker hooks, each called outside the pool's lock and contained (a panic is logged,
/// and the pool goes on as if it had returned).
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) start: Option<WorkerHook>,
    pub(crate) stop: Option<WorkerHook>,
    pub(crate) crash: Option<WorkerHook>,
}

impl Hooks {
    /// Calls a worker hook, contained.
    pub(crate) fn worker(
        &self,
        hook: &Option<WorkerHook>,
        name: &'static str,
        event: &WorkerEvent,
    ) {
        if let Some(hook) = hook {
            contain(name, || hook(event));
        }
    }
}

/// The settings of a pool.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// What both pools' builders share.
    pub(crate) options: Options<CallError>,
    pub(crate) min_workers: usize,
    pub(crate) max_calls_per_worker: usize,
    pub(crate) max_tasks_per_worker: Option<u64>,
    pub(crate) max_memory_per_worker: Option<u64>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) health_check: Option<(Duration, Duration)>,
    pub(crate) startup_retry: RetryPolicy,
    pub(crate) startup_timeout: Duration,
    pub(crate) max_frame: usize,
    pub(crate) write_timeout: Duration,
    pub(crate) warm_up: Option<(String, Bytes)>,
}

/// The default retry policy of calls: up to 3 attempts when the worker running a call dies.
pub(crate) fn default_call_retry() -> RetryPolicy {
    RetryPolicy::attempts(3).on(RetryOn::CRASH)
}

/// How long a worker may leave the pool's writes to it waiting, by default.
pub(crate) const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The default policy of worker starts: up to 4 attempts, 50 ms apart, then twice that each
/// time, at most 5 s.
pub(crate) fn default_startup_retry() -> RetryPolicy {
    RetryPolicy::attempts(4).backoff(Backoff::exponential(
        Duration::from_millis(50),
        Duration::from_secs(5),
    ))
}

/// Builds a [`WorkerPool`].
///
/// The options it shares with [`PoolBuilder`](crate::PoolBuilder) have the same names and
/// meanings: `max_workers`, `timeout`, `retry`, `retry_when`, `pause_when`, `kill_grace`.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use process_pool::{NativeWorker, RetryOn, RetryPolicy, WorkerPool};
///
/// let pool = WorkerPool::builder()
///     .min_workers(1)
///     .max_workers(4)
///     .max_calls_per_worker(8)
///     .max_tasks_per_worker(10_000)
///     .idle_timeout(Duration::from_secs(60))
///     .health_check(Duration::from_secs(5), Duration::from_secs(1))
///     .timeout(Duration::from_secs(30))
///     .retry(RetryPolicy::attempts(3).on(RetryOn::CRASH | RetryOn::TIMEOUT))
///     .build(NativeWorker::new("python3").arg("worker.py"))?;
/// let reply = pool.call("upper", "hello").await?;
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct WorkerPoolBuilder {
    config: Config,
    hooks: Hooks,
}

impl std::fmt::Debug for WorkerPoolBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPoolBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for WorkerPoolBuilder {
    fn default() -> Self {
        WorkerPoolBuilder {
            config: Config {
                options: Options::new(default_call_retry()),
                min_workers: 0,
                max_calls_per_worker: 1,
                max_tasks_per_worker: None,
                max_memory_per_worker: None,
                idle_timeout: None,
                health_check: None,
                startup_retry: default_startup_retry(),
                startup_timeout: Duration::from_secs(10),
                max_frame: process_pool_protocol::DEFAULT_MAX_FRAME,
                write_timeout: DEFAULT_WRITE_TIMEOUT,
                warm_up: None,
            },
            hooks: Hooks::default(),
        }
    }
}

impl WorkerPoolBuilder {
    shared_options!(CallError, "calls");

    fn options_mut(&mut self) -> &mut Options<CallError> {
        &mut self.config.options
    }

    /// Workers kept alive even when idle, started when the pool is built (default 0).
    pub fn min_workers(mut self, n: usize) -> Self {
        self.config.min_workers = n;
        self
    }

    /// How many calls one worker runs at once (default 1); a worker that announces fewer gets
    /// no more than it announced.
    pub fn max_calls_per_worker(mut self, n: usize) -> Self {
        self.config.max_calls_per_worker = n;
        self
    }

    /// Recycles a worker (a graceful stop and a fresh start) after it has answered `n` calls.
    pub fn max_tasks_per_worker(mut self, n: u64) -> Self {
        self.config.max_tasks_per_worker = Some(n);
        self
    }

    /// Recycles a worker whose memory, looked at whenever it is idle, is over `bytes`
    /// (native: resident set; WASI: linear memory). A backend that cannot read it on this
    /// platform has the pool refused at [`build`](Self::build) with
    /// [`ConfigError::Unsupported`].
    pub fn max_memory_per_worker(mut self, bytes: u64) -> Self {
        self.config.max_memory_per_worker = Some(bytes);
        self
    }

    /// Stops a worker idle for `limit`, down to `min_workers`.
    pub fn idle_timeout(mut self, limit: Duration) -> Self {
        self.config.idle_timeout = Some(limit);
        self
    }

    /// Every `interval`, pings each idle worker; one that does not answer within `deadline`
    /// is killed and replaced.
    pub fn health_check(mut self, interval: Duration, deadline: Duration) -> Self {
        self.config.health_check = Some((interval, deadline));
        self
    }

    /// How failed worker starts are retried (default: up to 4 attempts, from 50 ms apart
    /// doubling to 5 s) before the queued calls fail with
    /// [`CallError::WorkerStart`]. The policy's attempts and backoff apply; its
    /// [`RetryOn`] does not: every failed start is retried, except a program that does not
    /// exist or may not be run, which a retry would not mend.
    pub fn startup_retry(mut self, policy: RetryPolicy) -> Self {
        self.config.startup_retry = policy;
        self
    }

    /// How long a new worker has to send its hello (default 10 s).
    pub fn startup_timeout(mut self, limit: Duration) -> Self {
        self.config.startup_timeout = limit;
        self
    }

    /// The largest frame accepted from a worker (default 16 MiB); a larger one is a protocol
    /// error and its worker is killed.
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.config.max_frame = bytes;
        self
    }

    /// How long a worker may leave bytes the pool writes to it unread (default 30 s): one
    /// whose stdin takes nothing for this long, while a frame waits, is killed as hung and
    /// replaced, its calls retried. A worker that keeps reading is never cut off, however
    /// slowly it reads.
    pub fn write_timeout(mut self, limit: Duration) -> Self {
        self.config.write_timeout = limit;
        self
    }

    /// Calls `method` with `payload` on every new worker before it serves: a start whose
    /// warm-up fails counts as a failed start.
    pub fn warm_up(mut self, method: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        self.config.warm_up = Some((method.into(), payload.into()));
        self
    }

    /// Called when a worker has started and said hello.
    pub fn on_worker_start(mut self, hook: impl Fn(&WorkerEvent) + Send + Sync + 'static) -> Self {
        self.hooks.start = Some(Arc::new(hook));
        self
    }

    /// Called when a worker stopped as asked (recycled, idle, shut down).
    pub fn on_worker_stop(mut self, hook: impl Fn(&WorkerEvent) + Send + Sync + 'static) -> Self {
        self.hooks.stop = Some(Arc::new(hook));
        self
    }

    /// Called when a worker died unasked, or was killed (hung, ignored a cancel, broke the
    /// protocol).
    pub fn on_worker_crash(mut self, hook: impl Fn(&WorkerEvent) + Send + Sync + 'static) -> Self {
        self.hooks.crash = Some(Arc::new(hook));
        self
    }

    /// Builds the pool and starts its `min_workers`. Must be called inside a tokio runtime.
    pub fn build(self, spawner: impl WorkerSpawner) -> Result<WorkerPool, ConfigError> {
        let c = &self.config;
        let invalid = |name, reason: String| Err(ConfigError::Invalid { name, reason });
        c.options.validate(spawner.capacity())?;
        if c.min_workers > c.options.max_workers {
            return invalid(
                "min_workers",
                format!(
                    "{} is more than max_workers ({})",
                    c.min_workers, c.options.max_workers
                ),
            );
        }
        if c.max_calls_per_worker == 0 {
            return invalid("max_calls_per_worker", "must be at least 1, got 0".into());
        }
        if c.max_tasks_per_worker == Some(0) {
            return invalid("max_tasks_per_worker", "must be at least 1, got 0".into());
        }
        if let Some((interval, deadline)) = c.health_check
            && (interval.is_zero() || deadline.is_zero())
        {
            return invalid(
                "health_check",
                "interval and deadline must be above zero".into(),
            );
        }
        if c.write_timeout.is_zero() {
            return invalid("write_timeout", "must be above zero".into());
        }
        if c.idle_timeout.is_some_and(|t| t.is_zero()) {
            return invalid("idle_timeout", "must be above zero".into());
        }
        if c.max_frame < process_pool_protocol::HEADER_LEN {
            return invalid(
                "max_frame",
                format!("{} bytes cannot hold a frame header", c.max_frame),
            );
        }
        if c.max_memory_per_worker.is_some() {
            spawner
                .reads_memory()
                .map_err(|(platform, reason)| ConfigError::Unsupported {
                    name: "max_memory_per_worker",
                    platform,
                    reason,
                })?;
        }
        c.startup_retry
            .validate()
            .map_err(|reason| ConfigError::Invalid {
                name: "startup_retry",
                reason,
            })?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConfigError::NoRuntime)?;
        Ok(WorkerPool::start(
            Arc::new(spawner),
            self.config,
            self.hooks,
            runtime,
        ))
    }
}
