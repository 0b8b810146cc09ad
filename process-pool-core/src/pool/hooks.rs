//! The job pool's hooks: closures it calls as jobs start, end, fail and retry, and what they
//! are told.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::hooks::contain;
use crate::job::Job;
use crate::result::{JobId, JobResult};

/// What an `on_start` hook is told.
#[derive(Debug)]
#[non_exhaustive]
pub struct JobStart<'a> {
    /// The job's pool-unique id.
    pub id: JobId,
    /// The job's position in its batch.
    pub index: usize,
    /// The attempt about to start (1 for the first).
    pub attempt: u32,
    /// The job itself.
    pub job: &'a Job,
}

/// What an `on_retry` hook is told.
#[derive(Debug)]
#[non_exhaustive]
pub struct JobRetry<'a> {
    /// The attempt that failed.
    pub failed: &'a JobResult,
    /// The attempt that will follow (2 for the first retry).
    pub next_attempt: u32,
    /// How long the pool waits before it.
    pub delay: Duration,
}

pub(crate) type StartHook = Arc<dyn for<'a> Fn(&JobStart<'a>) + Send + Sync>;
pub(crate) type ResultHook = Arc<dyn Fn(&JobResult) + Send + Sync>;
pub(crate) type RetryHook = Arc<dyn for<'a> Fn(&JobRetry<'a>) + Send + Sync>;

/// The pool's event hooks, set through the pool's builder.
///
/// Hooks run where a job ends, before its result is handed out (on a worker task; for a queued
/// job that is cancelled, in the call that cancelled it), so by the time `run_all` returns every
/// hook has seen every result. Each runs outside the pool's lock and contained: a hook that
/// panics is logged, and the pool and the job's result go on as if it had returned nothing.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) on_start: Option<StartHook>,
    pub(crate) on_complete: Option<ResultHook>,
    pub(crate) on_error: Option<ResultHook>,
    pub(crate) on_retry: Option<RetryHook>,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("on_start", &self.on_start.is_some())
            .field("on_complete", &self.on_complete.is_some())
            .field("on_error", &self.on_error.is_some())
            .field("on_retry", &self.on_retry.is_some())
            .finish()
    }
}

impl Hooks {
    pub(crate) fn start(&self, event: &JobStart<'_>) {
        if let Some(hook) = &self.on_start {
            contain("on_start", || hook(event));
        }
    }

    /// Calls `on_complete`, then `on_error` if the job did not succeed.
    pub(crate) fn complete(&self, result: &JobResult) {
        if let Some(hook) = &self.on_complete {
            contain("on_complete", || hook(result));
        }
        if !result.success()
            && let Some(hook) = &self.on_error
        {
            contain("on_error", || hook(result));
        }
    }

    pub(crate) fn retry(&self, event: &JobRetry<'_>) {
        if let Some(hook) = &self.on_retry {
            contain("on_retry", || hook(event));
        }
    }
}
