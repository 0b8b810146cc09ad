//! [`Hooks`]: closures the pool calls as jobs start, end, fail and retry.

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

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
pub(crate) type PauseHook = Arc<dyn Fn(&JobResult) -> Option<std::time::Duration> + Send + Sync>;

/// The pool's event hooks, set through the pool's builder (`on_start`, `on_complete`,
/// `on_error`, `on_retry`).
///
/// Hooks run where a job ends, before its result is handed out (on a worker task; for a queued
/// job that is cancelled, in the call that cancelled it), so by the time `run_all` returns every
/// hook has seen every result. Keep them quick. A hook that panics is
/// caught and logged (`tracing`, target `process_pool_core::hooks`), and the pool and the job's
/// result go on as if it had returned.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) on_start: Option<StartHook>,
    pub(crate) on_complete: Option<ResultHook>,
    pub(crate) on_error: Option<ResultHook>,
    pub(crate) on_retry: Option<RetryHook>,
    pub(crate) pause_when: Option<PauseHook>,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("on_start", &self.on_start.is_some())
            .field("on_complete", &self.on_complete.is_some())
            .field("on_error", &self.on_error.is_some())
            .field("on_retry", &self.on_retry.is_some())
            .field("pause_when", &self.pause_when.is_some())
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

impl Hooks {
    /// How long `pause_when` asks to pause dispatch after this attempt, if at all.
    pub(crate) fn pause_after(&self, result: &JobResult) -> Option<std::time::Duration> {
        let hook = self.pause_when.as_ref()?;
        let mut pause = None;
        contain("pause_when", || pause = hook(result));
        pause
    }
}

/// Runs a hook, logging instead of unwinding if it panics.
fn contain(name: &'static str, call: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(call)) {
        tracing::error!(
            hook = name,
            panic = %panic_message(payload.as_ref()),
            "a pool hook panicked; the pool goes on"
        );
    }
}

/// The text of a panic payload, when it has one.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-text panic payload".to_owned()
    }
}
