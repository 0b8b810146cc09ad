//! [`WorkerPoolBuilder`]: a worker pool's settings, checked when it is built.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::backend::{WorkerId, WorkerSpawner};
use super::error::CallError;
use super::pool::WorkerPool;
use crate::{ConfigError, ExitStatus};

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
pub(crate) type RetryClassifier = Arc<dyn Fn(&CallError) -> Retry + Send + Sync>;

/// What to do with a call the worker answered with an error, as a
/// [`retry_when`](WorkerPoolBuilder::retry_when) classifier decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retry {
    /// Answer the caller with the error.
    No,
    /// Run the call again, on any worker (while it has retries left).
    Again,
    /// Pause dispatch for this long (a rate limit), then run the call again.
    AfterPause(Duration),
}

/// The hooks, each called outside the pool's lock.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) start: Option<WorkerHook>,
    pub(crate) stop: Option<WorkerHook>,
    pub(crate) crash: Option<WorkerHook>,
    pub(crate) retry_when: Option<RetryClassifier>,
}

/// The settings of a pool.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) min_workers: usize,
    pub(crate) max_workers: usize,
    pub(crate) max_calls_per_worker: usize,
    pub(crate) max_tasks_per_worker: Option<u64>,
    pub(crate) max_memory_per_worker: Option<u64>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) health_check: Option<(Duration, Duration)>,
    pub(crate) startup_retries: u32,
    pub(crate) startup_backoff: Duration,
    pub(crate) startup_timeout: Duration,
    pub(crate) call_timeout: Option<Duration>,
    pub(crate) retries: u32,
    pub(crate) cancel_grace: Duration,
    pub(crate) max_frame: usize,
    pub(crate) warm_up: Option<(String, Bytes)>,
}

/// The default time a worker has to answer a cancel (or a shutdown) before it is killed.
pub const DEFAULT_CANCEL_GRACE: Duration = Duration::from_secs(1);

/// Builds a [`WorkerPool`].
///
/// ```no_run
/// # async fn example(spawner: impl process_pool_core::WorkerSpawner) -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use process_pool_core::WorkerPool;
///
/// let pool = WorkerPool::builder()
///     .min_workers(1)
///     .max_workers(4)
///     .max_calls_per_worker(8)
///     .max_tasks_per_worker(10_000)
///     .idle_timeout(Duration::from_secs(60))
///     .health_check(Duration::from_secs(5), Duration::from_secs(1))
///     .call_timeout(Duration::from_secs(30))
///     .retries(2)
///     .build(spawner)?;
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
                min_workers: 0,
                max_workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
                max_calls_per_worker: 1,
                max_tasks_per_worker: None,
                max_memory_per_worker: None,
                idle_timeout: None,
                health_check: None,
                startup_retries: 3,
                startup_backoff: Duration::from_millis(50),
                startup_timeout: Duration::from_secs(10),
                call_timeout: None,
                retries: 2,
                cancel_grace: DEFAULT_CANCEL_GRACE,
                max_frame: process_pool_protocol::DEFAULT_MAX_FRAME,
                warm_up: None,
            },
            hooks: Hooks::default(),
        }
    }
}

impl WorkerPoolBuilder {
    /// Workers kept alive even when idle, started when the pool is built (default 0).
    pub fn min_workers(mut self, n: usize) -> Self {
        self.config.min_workers = n;
        self
    }

    /// The most workers at once (default: the CPU count).
    pub fn max_workers(mut self, n: usize) -> Self {
        self.config.max_workers = n;
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
    /// (native: resident set; WASI: linear memory).
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

    /// How many more times a failed worker start is tried (default 3), waiting `backoff`,
    /// then twice that, and so on (default 50 ms), before the queued calls fail with
    /// [`CallError::WorkerStart`](crate::CallError::WorkerStart).
    pub fn startup_retries(mut self, retries: u32, backoff: Duration) -> Self {
        self.config.startup_retries = retries;
        self.config.startup_backoff = backoff;
        self
    }

    /// How long a new worker has to send its hello (default 10 s).
    pub fn startup_timeout(mut self, limit: Duration) -> Self {
        self.config.startup_timeout = limit;
        self
    }

    /// The time limit of every call without its own (default: none).
    pub fn call_timeout(mut self, limit: Duration) -> Self {
        self.config.call_timeout = Some(limit);
        self
    }

    /// How many times a call whose worker died is run again on another (default 2), unless
    /// it is [`no_retry`](crate::Call::no_retry).
    pub fn retries(mut self, retries: u32) -> Self {
        self.config.retries = retries;
        self
    }

    /// How long a worker has to answer a cancel before it is killed (default 1 s).
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.config.cancel_grace = grace;
        self
    }

    /// The largest frame accepted from a worker (default 16 MiB); a larger one is a protocol
    /// error and its worker is killed.
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.config.max_frame = bytes;
        self
    }

    /// Calls `method` with `payload` on every new worker before it serves: a start whose
    /// warm-up fails counts as a failed start.
    pub fn warm_up(mut self, method: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        self.config.warm_up = Some((method.into(), payload.into()));
        self
    }

    /// Classifies the errors workers answer with (never crashes, which `retries` covers): a
    /// call may run again, at once or after pausing dispatch for a while (a rate-limit hint),
    /// within its `retries` (never a [`no_retry`](crate::Call::no_retry) one). Runs under the pool's lock: keep it quick, and do not call the
    /// pool from it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use process_pool_core::{CallError, Retry, WorkerPool};
    ///
    /// let builder = WorkerPool::builder().retry_when(|error| match error {
    ///     CallError::Failed { code, .. } if code == "rate_limited" => {
    ///         Retry::AfterPause(Duration::from_secs(30))
    ///     }
    ///     _ => Retry::No,
    /// });
    /// ```
    pub fn retry_when(
        mut self,
        classify: impl Fn(&CallError) -> Retry + Send + Sync + 'static,
    ) -> Self {
        self.hooks.retry_when = Some(Arc::new(classify));
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
        if c.max_workers == 0 {
            return Err(ConfigError::ZeroWorkers);
        }
        if c.min_workers > c.max_workers {
            return invalid(
                "min_workers",
                format!(
                    "{} is more than max_workers ({})",
                    c.min_workers, c.max_workers
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
        if c.idle_timeout.is_some_and(|t| t.is_zero()) {
            return invalid("idle_timeout", "must be above zero".into());
        }
        if c.max_frame < process_pool_protocol::HEADER_LEN {
            return invalid(
                "max_frame",
                format!("{} bytes cannot hold a frame header", c.max_frame),
            );
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ConfigError::NoRuntime);
        }
        Ok(WorkerPool::start(
            Arc::new(spawner),
            self.config,
            self.hooks,
        ))
    }
}
