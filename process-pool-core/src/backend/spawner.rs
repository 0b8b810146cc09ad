//! The [`Spawner`] trait: the one thing a backend implements.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::engine::timer::Deadline;
use crate::job::Job;
use crate::output::Stream;
use crate::result::Usage;
use crate::stdio::{SpillFile, StreamUnsupported};

use super::sink::Captured;

/// Runs one job to completion: the mechanism behind a pool (start, feed, capture, kill).
///
/// The pool owns the policy (limits, queue, timeouts, retries, hooks, statistics); a spawner
/// only starts what it is given and, when [`RunContext::cancelled`] fires (a timeout, a cancel
/// or a shutdown), stops *everything* the job started and returns promptly. It never decides by
/// itself that a job timed out.
///
/// The trait is object safe: a pool holds an `Arc<dyn Spawner>`, and a router can send some jobs
/// to one backend and the rest to another.
///
/// ```
/// use std::io;
/// use process_pool::backend::{Exit, ExitStatus, RunContext, Spawner};
/// use process_pool::{async_trait, Job};
///
/// /// Succeeds at once, for measuring the scheduler alone.
/// struct Noop;
///
/// #[async_trait]
/// impl Spawner for Noop {
///     async fn spawn(&self, _job: &Job, _ctx: &RunContext) -> io::Result<Exit> {
///         Ok(Exit::new(ExitStatus::Code(0)))
///     }
/// }
/// ```
#[async_trait]
pub trait Spawner: Send + Sync + 'static {
    /// Runs `job` until it ends or `ctx` is cancelled.
    ///
    /// `ctx` is valid for the duration of the call.
    ///
    /// Returns `Err` only when the job could not be started (the error should name what was
    /// wrong: the program, the path, the cwd); everything after a successful start is an
    /// [`Exit`], including a job killed because `ctx` was cancelled.
    async fn spawn(&self, job: &Job, ctx: &RunContext) -> io::Result<Exit>;

    /// How many jobs it can run at once, if it has a limit (a WASI spawner's instances): a
    /// pool refuses a worker limit above it when it is built
    /// ([`ConfigError::OverCapacity`](crate::ConfigError::OverCapacity)). `None`, the default,
    /// means no limit of its own.
    fn capacity(&self) -> Option<usize> {
        None
    }

    /// Whether it can carry the job's stdin, stdout and stderr as the job asks (a file, a
    /// reader, a writer, spill, a pipe): the pool asks before each attempt, and a job it
    /// cannot carry fails to start with this error as its reason, rather than lose its data.
    ///
    /// The default carries only what every backend does: stdin bytes, output kept in memory.
    fn check_streams(&self, job: &Job) -> Result<(), StreamUnsupported> {
        match StreamUnsupported::first_of(job, std::any::type_name::<Self>()) {
            Some(unsupported) => Err(unsupported),
            None => Ok(()),
        }
    }

    /// Whether it enforces a memory limit ([`RunContext::max_memory`]) on `job`, or with
    /// `None` on any job it may be given, where it runs; `Err` says why not. A pool with a
    /// default limit is refused when it is built
    /// ([`ConfigError::Unenforceable`](crate::ConfigError::Unenforceable)), and a job with
    /// its own limit fails to start with this reason: a limit is never silently ignored.
    ///
    /// The default enforces none.
    fn check_memory_limit(&self, job: Option<&Job>) -> Result<(), String> {
        let _ = job;
        Err(format!(
            "`{}` does not enforce a memory limit",
            std::any::type_name::<Self>()
        ))
    }
}

#[async_trait]
impl<S: Spawner + ?Sized> Spawner for Arc<S> {
    async fn spawn(&self, job: &Job, ctx: &RunContext) -> io::Result<Exit> {
        (**self).spawn(job, ctx).await
    }

    fn capacity(&self) -> Option<usize> {
        (**self).capacity()
    }

    fn check_memory_limit(&self, job: Option<&Job>) -> Result<(), String> {
        (**self).check_memory_limit(job)
    }

    fn check_streams(&self, job: &Job) -> Result<(), StreamUnsupported> {
        (**self).check_streams(job)
    }
}

#[async_trait]
impl<S: Spawner + ?Sized> Spawner for Box<S> {
    async fn spawn(&self, job: &Job, ctx: &RunContext) -> io::Result<Exit> {
        (**self).spawn(job, ctx).await
    }

    fn capacity(&self) -> Option<usize> {
        (**self).capacity()
    }

    fn check_streams(&self, job: &Job) -> Result<(), StreamUnsupported> {
        (**self).check_streams(job)
    }

    fn check_memory_limit(&self, job: Option<&Job>) -> Result<(), String> {
        (**self).check_memory_limit(job)
    }
}

/// What a spawner is told besides the job: when to stop, how much output to keep, and how long
/// a stopped job may take to clean up before it is killed.
///
/// A spawner only observes it: the pool decides when a job stops. It lives for the call to
/// [`Spawner::spawn`] and is neither `Clone` nor able to cancel, since a pool may reuse its
/// cancellation for the worker's next job.
#[derive(Debug)]
pub struct RunContext {
    token: CancellationToken,
    pub(crate) output_limit: usize,
    kill_grace: Duration,
    pub(crate) submitted: Instant,
    /// The attempt's time limit, which [`hold_timeout`](Self::hold_timeout) holds.
    pub(crate) deadline: Option<Arc<Deadline>>,
    /// The attempt's number.
    pub(crate) attempt: u32,
    /// The job's memory limit, in bytes, if it has one.
    pub(crate) max_memory: Option<u64>,
}

/// Holds an attempt's timeout while it lives; see [`RunContext::hold_timeout`].
#[derive(Debug)]
#[must_use = "the timeout is held only while this guard lives"]
pub struct TimeoutHold(Option<Arc<Deadline>>);

impl Drop for TimeoutHold {
    fn drop(&mut self) {
        if let Some(deadline) = self.0.take() {
            deadline.release();
        }
    }
}

impl RunContext {
    /// A context for one attempt. Pools make these; a spawner's own tests may too.
    pub fn new(token: CancellationToken, output_limit: usize, kill_grace: Duration) -> Self {
        RunContext {
            token,
            output_limit,
            kill_grace,
            submitted: Instant::now(),
            deadline: None,
            attempt: 1,
            max_memory: None,
        }
    }

    /// The job's memory limit in bytes ([`Job::max_memory`], else the pool's
    /// [`max_memory_per_job`](crate::PoolBuilder::max_memory_per_job)): the pool passes
    /// it only to a spawner whose [`Spawner::check_memory_limit`] accepts it.
    pub fn max_memory(&self) -> Option<u64> {
        self.max_memory
    }

    /// The same context, with this memory limit (for a spawner's own tests, or a backend that
    /// runs a job through another spawner).
    #[must_use]
    pub fn with_max_memory(mut self, bytes: Option<u64>) -> Self {
        self.max_memory = bytes;
        self
    }

    /// Which attempt of its job this is (1 for the first): what a backend marks the job's
    /// live output lines with.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The same context, for attempt number `attempt` (a backend that runs a job through
    /// another spawner passes its attempt on).
    #[must_use]
    pub fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// Holds the attempt's timeout while the returned guard lives: time spent meanwhile does
    /// not count against the job's limit. For work that is the backend's and not the job's,
    /// which one job must not pay for: compiling a module that many jobs share, say. A cancel
    /// or a shutdown still stops the attempt while it is held. Without a timeout, it holds
    /// nothing.
    ///
    /// ```
    /// use std::io;
    /// use process_pool::backend::{Exit, ExitStatus, RunContext, Spawner};
    /// use process_pool::{async_trait, Job};
    ///
    /// struct Compiling;
    ///
    /// #[async_trait]
    /// impl Spawner for Compiling {
    ///     async fn spawn(&self, _job: &Job, ctx: &RunContext) -> io::Result<Exit> {
    ///         {
    ///             let _hold = ctx.hold_timeout();
    ///             // ... prepare what every job shares, racing `ctx.cancelled()` ...
    ///         }
    ///         // ... run the job itself, within its limit ...
    ///         Ok(Exit::new(ExitStatus::Code(0)))
    ///     }
    /// }
    /// ```
    pub fn hold_timeout(&self) -> TimeoutHold {
        if let Some(deadline) = &self.deadline {
            deadline.hold();
        }
        TimeoutHold(self.deadline.clone())
    }

    /// When the job was submitted to the pool (for a context made by hand, when it was made).
    /// The attempt must see every change made before this moment to what the job uses: a
    /// spawner that caches something about a file (the WASI backend caches compiled modules)
    /// may trust a look it took after this moment instead of looking again.
    pub fn submitted_at(&self) -> Instant {
        self.submitted
    }

    /// Completes when the job must stop (timeout, cancel or shutdown).
    pub async fn cancelled(&self) {
        self.token.cancelled().await;
    }

    /// Whether the job must stop.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The token behind [`RunContext::cancelled`]; the pool's to cancel, not the spawner's.
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Bytes to keep per output stream; the rest is read and discarded.
    pub fn output_limit(&self) -> usize {
        self.output_limit
    }

    /// How long a stopped job may take to exit after the polite signal before it is killed.
    pub fn kill_grace(&self) -> Duration {
        self.kill_grace
    }
}

/// How a started job ended, as the backend saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitStatus {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal (Unix).
    Signal(i32),
    /// Ended by this exception, an NTSTATUS code of error severity (Windows): see
    /// [`Outcome::Exception`](crate::Outcome::Exception).
    Exception(u32),
    /// A WebAssembly trap, with its message.
    Trapped(String),
    /// Stopped because its stdin could not be read or its output could not be written (a
    /// reader that failed, a full disk, a writer that closed): the message says which.
    StreamFailed(String),
    /// Killed by the kernel for going over its memory limit of `limit` bytes: see
    /// [`Outcome::OutOfMemory`](crate::Outcome::OutOfMemory).
    OutOfMemory {
        /// The limit, in bytes.
        limit: u64,
    },
}

/// What a spawner returns for a job that started: how it ended and what it wrote.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Exit {
    /// How it ended.
    pub status: ExitStatus,
    /// stdout, at most the output limit.
    pub stdout: Bytes,
    /// stderr, at most the output limit.
    pub stderr: Bytes,
    /// Whether stdout went past the limit.
    pub stdout_truncated: bool,
    /// Whether stderr went past the limit.
    pub stderr_truncated: bool,
    /// All of stdout on disk, when it was spilled ([`Output::spill`](crate::Output::spill)).
    pub stdout_spill: Option<SpillFile>,
    /// All of stderr on disk, when it was spilled.
    pub stderr_spill: Option<SpillFile>,
    /// What the job's processes used, where the backend measures it.
    pub usage: Usage,
}

impl Exit {
    /// An exit with this status and no output.
    pub fn new(status: ExitStatus) -> Self {
        Exit {
            status,
            stdout: Bytes::new(),
            stderr: Bytes::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            stdout_spill: None,
            stderr_spill: None,
            usage: Usage::default(),
        }
    }

    /// Sets what the job's processes used.
    #[must_use]
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = usage;
        self
    }

    /// Sets one stream from what a [`Sink`](super::Sink) captured (its error aside, which
    /// the backend reports in the status).
    #[must_use]
    pub fn with_captured(mut self, stream: Stream, captured: Captured) -> Self {
        let Captured {
            bytes,
            truncated,
            spill,
            ..
        } = captured;
        match stream {
            Stream::Stdout => {
                (self.stdout, self.stdout_truncated, self.stdout_spill) = (bytes, truncated, spill);
            }
            Stream::Stderr => {
                (self.stderr, self.stderr_truncated, self.stderr_spill) = (bytes, truncated, spill);
            }
        }
        self
    }

    /// Sets stdout and whether it was truncated.
    #[must_use]
    pub fn with_stdout(mut self, bytes: Bytes, truncated: bool) -> Self {
        self.stdout = bytes;
        self.stdout_truncated = truncated;
        self
    }

    /// Sets stderr and whether it was truncated.
    #[must_use]
    pub fn with_stderr(mut self, bytes: Bytes, truncated: bool) -> Self {
        self.stderr = bytes;
        self.stderr_truncated = truncated;
        self
    }
}
