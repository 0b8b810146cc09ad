//! [`JobError`] and [`ConfigError`]: why a job, a batch or a pool did not do what was asked.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Why a job (or a checked batch) did not succeed, with what is needed to act on it.
///
/// A non-zero exit is only an error where asked for: [`JobResult::into_checked`] and
/// `run_all_checked` turn it into [`JobError::ProcessFailed`].
///
/// [`JobResult::into_checked`]: crate::JobResult::into_checked
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The program ran and failed: a non-zero exit code, death by a signal (Unix) or by an
    /// exception (Windows).
    #[error(
        "job {index} (`{program}`) failed: {}{}{}",
        describe_status(*exit_code, *signal, *exception),
        describe_attempts(*attempts),
        describe_tail(stderr_tail)
    )]
    ProcessFailed {
        /// The job's position in its batch.
        index: usize,
        /// The program.
        program: String,
        /// The exit code, if it exited.
        exit_code: Option<i32>,
        /// The signal, if one killed it.
        signal: Option<i32>,
        /// The exception (an NTSTATUS code), if one ended it: see [`Outcome::Exception`].
        ///
        /// [`Outcome::Exception`]: crate::Outcome::Exception
        exception: Option<u32>,
        /// The end of its stderr, for the reason.
        stderr_tail: String,
        /// Attempts made (more than one when it was retried).
        attempts: u32,
    },
    /// The kernel killed the job for going over its memory limit
    /// ([`Outcome::OutOfMemory`](crate::Outcome::OutOfMemory)).
    #[error(
        "job {index} (`{program}`) was killed over its memory limit of {}{}",
        crate::result::bytes_text(*limit),
        describe_attempts(*attempts)
    )]
    OutOfMemory {
        /// The job's position in its batch.
        index: usize,
        /// The program.
        program: String,
        /// The limit, in bytes.
        limit: u64,
        /// Attempts made (more than one when it was retried).
        attempts: u32,
    },
    /// The job ran past its time limit and was stopped.
    #[error("job {index} (`{program}`) timed out after {limit:?}{}", describe_attempts(*attempts))]
    TimedOut {
        /// The job's position in its batch.
        index: usize,
        /// The program.
        program: String,
        /// The limit it ran into.
        limit: Duration,
        /// Attempts made (more than one when it was retried).
        attempts: u32,
    },
    /// The job could not be started: not found, not executable, bad cwd, bad module.
    #[error("job {index}: cannot start `{program}`{}: {source}", describe_cwd(cwd))]
    SpawnFailed {
        /// The job's position in its batch.
        index: usize,
        /// The program.
        program: String,
        /// The working directory it was to start in.
        cwd: Option<PathBuf>,
        /// The operating system's (or the engine's) reason.
        #[source]
        source: Arc<io::Error>,
    },
    /// The job was stopped because its stdin could not be read or its output written.
    #[error("job {index} (`{program}`) was stopped: {source}")]
    StreamFailed {
        /// The job's position in its batch.
        index: usize,
        /// The program.
        program: String,
        /// What failed: the stream, the file or writer, and the reason.
        #[source]
        source: Arc<io::Error>,
    },
    /// A WebAssembly guest trapped.
    #[error("job {index} (`{program}`) trapped{}: {message}", describe_attempts(*attempts))]
    Trapped {
        /// The job's position in its batch.
        index: usize,
        /// The module.
        program: String,
        /// The trap and its wasm backtrace.
        message: String,
        /// Attempts made (more than one when it was retried).
        attempts: u32,
    },
    /// The job was cancelled before it ended.
    #[error("job {index} (`{program}`) was cancelled")]
    Cancelled {
        /// The job's position in its batch.
        index: usize,
        /// The program.
        program: String,
    },
    /// The pool is closed and takes no new jobs.
    #[error("the pool is closed and takes no new jobs")]
    PoolClosed,
    /// The pool's bounded queue is full.
    #[error("the pool's queue is full ({capacity} jobs waiting)")]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// The job cannot run as described.
    #[error("invalid job: {reason}")]
    InvalidJob {
        /// What is wrong with it.
        reason: String,
    },
}

fn describe_status(exit_code: Option<i32>, signal: Option<i32>, exception: Option<u32>) -> String {
    match (exit_code, signal, exception) {
        (Some(code), _, _) => format!("exit code {code}"),
        (None, Some(sig), _) => format!("killed by signal {sig}"),
        (None, None, Some(code)) => crate::result::describe_exception(code),
        (None, None, None) => "unknown status".into(),
    }
}

/// ` (after N attempts)` when there was more than one.
fn describe_attempts(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

fn describe_tail(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("; stderr: {tail}")
    }
}

fn describe_cwd(cwd: &Option<PathBuf>) -> String {
    match cwd {
        Some(dir) => format!(" in `{}`", dir.display()),
        None => String::new(),
    }
}

/// Why a pool could not be built or reconfigured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_workers` must be at least 1.
    #[error("max_workers must be at least 1, got 0")]
    ZeroWorkers,
    /// A bounded queue must hold at least one job.
    #[error("the queue capacity must be at least 1, got 0")]
    ZeroQueueCapacity,
    /// More workers than the backend can run at once (a WASI spawner's `max_instances`, say):
    /// the rest would fail to start.
    #[error(
        "max_workers is {max_workers}, more than the {capacity} jobs the spawner can run at once; \
         raise the spawner's capacity or lower max_workers"
    )]
    OverCapacity {
        /// The worker limit asked for.
        max_workers: usize,
        /// What the spawner can run at once.
        capacity: usize,
    },
    /// A setting is out of range.
    #[error("invalid setting `{name}`: {reason}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting that the backend cannot carry out on this platform (a memory limit where the
    /// system's memory counters cannot be read, say): refused rather than silently ignored.
    #[error("`{name}` cannot work on {platform}: {reason}")]
    Unsupported {
        /// The setting.
        name: &'static str,
        /// The platform (`std::env::consts::OS`).
        platform: &'static str,
        /// Why not.
        reason: &'static str,
    },
    /// A limit that the pool's backend cannot enforce where it runs (a per-job memory limit
    /// without a cgroup to hold the job, say): refused rather than silently ignored.
    #[error("`{name}` cannot be enforced: {reason}")]
    Unenforceable {
        /// The setting.
        name: &'static str,
        /// Why not, as the backend says.
        reason: String,
    },
    /// The pool was built outside a tokio runtime.
    #[error(
        "a pool must be built inside a tokio runtime (call it from async code or `Runtime::enter`)"
    )]
    NoRuntime,
}
