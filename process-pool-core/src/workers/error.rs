//! [`CallError`]: why a call to a worker pool did not return a reply.

use std::sync::Arc;
use std::time::Duration;

use crate::ErrorCode;
use crate::backend::ExitStatus;

/// Why a call did not return a reply, with what is needed to act on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No worker serves the method.
    #[error("no worker method `{method}` (the worker serves: {})", served.join(", "))]
    UnknownMethod {
        /// The method called.
        method: String,
        /// What the worker said it serves (one list per worker, shared by the errors that
        /// quote it).
        served: Arc<[String]>,
    },
    /// The method ran and failed, or panicked, or could not read its payload; the worker
    /// lives on.
    #[error("`{method}` failed ({}): {message}{}", code.as_str(), describe_attempts(*attempts))]
    Failed {
        /// The method.
        method: String,
        /// The worker's error code ([`ErrorCode::Failed`], [`ErrorCode::Panicked`],
        /// [`ErrorCode::BadRequest`], [`ErrorCode::TooLarge`], or a code of its own).
        code: ErrorCode,
        /// The worker's message.
        message: String,
        /// Attempts made (more than one when failures are retried).
        attempts: u32,
    },
    /// The call cannot be sent as it is; nothing was sent.
    #[error("cannot call `{method}`: {reason}")]
    InvalidCall {
        /// The method (cut to its first 64 bytes if it was the problem).
        method: String,
        /// What is wrong.
        reason: String,
    },
    /// The worker running the call died (or was killed) before answering, on the last
    /// attempt allowed.
    #[error(
        "the worker running `{method}` crashed ({}) after {}{}",
        describe_exit(exit),
        plural(*attempts, "attempt"),
        describe_tail(stderr_tail)
    )]
    WorkerCrashed {
        /// The method.
        method: String,
        /// How the worker ended, if known.
        exit: Option<ExitStatus>,
        /// The end of the worker's stderr.
        stderr_tail: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The worker broke the protocol (a malformed, oversized or unexpected frame) and was
    /// killed, on the last attempt allowed.
    #[error("the worker running `{method}` broke the protocol: {reason}{}", describe_attempts(*attempts))]
    ProtocolError {
        /// The method.
        method: String,
        /// What was wrong.
        reason: String,
        /// Attempts made.
        attempts: u32,
    },
    /// No worker could be started.
    #[error("cannot start a worker (`{program}`) after {}: {reason}", plural(*attempts, "attempt"))]
    WorkerStart {
        /// What the spawner starts.
        program: String,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's failure.
        reason: String,
    },
    /// The call ran past its time limit (it was cancelled, its worker killed if it ignored
    /// the cancel).
    #[error("`{method}` timed out after {limit:?}{}", describe_attempts(*attempts))]
    TimedOut {
        /// The method.
        method: String,
        /// The limit.
        limit: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// The call was cancelled (by its handle, or by a shutdown).
    #[error("`{method}` was cancelled")]
    Cancelled {
        /// The method.
        method: String,
    },
    /// The call's frame would exceed the worker's frame limit.
    #[error("the call to `{method}` is {len} bytes, over the worker's frame limit of {max}")]
    TooLarge {
        /// The method.
        method: String,
        /// The frame's size.
        len: usize,
        /// The worker's limit.
        max: usize,
    },
    /// The pool is shut down and takes no calls.
    #[error("the worker pool is shut down and takes no calls")]
    PoolClosed,
    /// A typed call's argument or reply was not the JSON expected.
    #[error("`{method}`: {reason}")]
    Json {
        /// The method.
        method: String,
        /// What did not convert.
        reason: String,
    },
}

/// `1 attempt`, `3 attempts`.
fn plural(n: u32, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// ` after N attempts` when there was more than one.
fn describe_attempts(attempts: u32) -> String {
    if attempts > 1 {
        format!(" after {attempts} attempts")
    } else {
        String::new()
    }
}

fn describe_exit(exit: &Option<ExitStatus>) -> String {
    exit.as_ref()
        .map_or_else(|| "killed".to_owned(), describe_status)
}

/// How a worker ended, in words.
pub(crate) fn describe_status(status: &ExitStatus) -> String {
    match status {
        ExitStatus::Code(code) => format!("exit code {code}"),
        ExitStatus::Signal(signal) => format!("killed by signal {signal}"),
        ExitStatus::Exception(code) => crate::result::describe_exception(*code),
        ExitStatus::Trapped(message) => format!("trapped: {message}"),
        ExitStatus::StreamFailed(message) => format!("stopped: {message}"),
        ExitStatus::OutOfMemory { limit } => {
            crate::Outcome::OutOfMemory { limit: *limit }.to_string()
        }
    }
}

/// The end of a worker's stderr as a suffix of a message (`; stderr: …`), or nothing.
pub(crate) fn describe_tail(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("; stderr: {tail}")
    }
}
