//! [`CallError`]: why a call to a worker pool did not return a reply.

use std::time::Duration;

use crate::ExitStatus;

/// Why a call did not return a reply, with what is needed to act on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No worker serves the method.
    #[error("no worker method `{method}` (the worker serves: {})", served.join(", "))]
    UnknownMethod {
        /// The method called.
        method: String,
        /// What the worker said it serves.
        served: Vec<String>,
    },
    /// The method ran and failed, or panicked; the worker lives on.
    #[error("`{method}` failed ({code}): {message}")]
    Failed {
        /// The method.
        method: String,
        /// The worker's error code (`failed`, `panicked`, `bad_request`, `too_large`...).
        code: String,
        /// The worker's message.
        message: String,
    },
    /// The worker running the call died (or was killed) before answering, on the last
    /// attempt allowed.
    #[error(
        "the worker running `{method}` crashed ({}) after {attempts} attempt(s){}",
        describe_exit(exit),
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
    #[error("the worker running `{method}` broke the protocol: {reason}")]
    ProtocolError {
        /// The method.
        method: String,
        /// What was wrong.
        reason: String,
    },
    /// No worker could be started.
    #[error("cannot start a worker (`{program}`) after {attempts} attempt(s): {reason}")]
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
    #[error("`{method}` timed out after {limit:?}")]
    TimedOut {
        /// The method.
        method: String,
        /// The limit.
        limit: Duration,
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

fn describe_exit(exit: &Option<ExitStatus>) -> String {
    exit.as_ref()
        .map_or_else(|| "killed".to_owned(), describe_status)
}

/// How a worker ended, in words.
pub(crate) fn describe_status(status: &ExitStatus) -> String {
    match status {
        ExitStatus::Code(code) => format!("exit code {code}"),
        ExitStatus::Signal(signal) => format!("killed by signal {signal}"),
        ExitStatus::Trapped(message) => format!("trapped: {message}"),
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
