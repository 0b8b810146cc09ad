//! The worker loop: run an attempt, decide between retry and result, take the next job.

use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::hooks::{JobRetry, JobStart, panic_message};
use crate::pool::Inner;
use crate::result::{JobResult, Outcome};
use crate::spawner::{ExitStatus, RunContext};
use crate::state::{Entry, Next};

impl Inner {
    /// Starts a worker task in `slot` with its first job; `token` stops the slot's job. The
    /// caller has counted the worker in.
    pub(crate) fn start_worker(
        self: &Arc<Self>,
        first: Box<Entry>,
        slot: usize,
        token: CancellationToken,
    ) {
        let inner = Arc::clone(self);
        self.runtime.spawn(async move {
            let mut guard = WorkerGuard(Some((Arc::clone(&inner), slot)));
            let mut entry = first;
            let mut token = token;
            loop {
                let ended = inner.attempt(entry, &token).await;
                // Take the next job (or retire) before answering this one, so that whoever
                // sees a result also sees the pool's counters without it.
                let next = inner.next_job(slot);
                if matches!(next, Next::Retire) {
                    guard.0 = None;
                }
                if let Some((entry, result)) = ended {
                    inner.finish(entry, result);
                }
                match next {
                    Next::Run(next, fresh) => {
                        entry = next;
                        if let Some(fresh) = fresh {
                            token = fresh;
                        }
                    }
                    Next::Retire => return,
                }
            }
        });
    }

    /// Runs one attempt of a job, stopped by `token` (the slot's). Returns the job and its
    /// result when it has ended; `None` when a retry was scheduled instead.
    async fn attempt(
        self: &Arc<Self>,
        mut entry: Box<Entry>,
        token: &CancellationToken,
    ) -> Option<(Box<Entry>, JobResult)> {
        let job = &entry.ticket.job;
        let time_limit = job.get_timeout().or(self.config.timeout);
        if token.is_cancelled() {
            let result = entry
                .ticket
                .bare_result(Outcome::Cancelled, entry.attempts, time_limit);
            return Some((entry, result));
        }
        let attempt = entry.attempts + 1;
        self.hooks.start(&JobStart {
            id: entry.ticket.id,
            index: entry.ticket.index,
            attempt,
            job,
        });

        // A timeout stops this attempt only, through a child of the slot's token.
        let stop = match time_limit {
            Some(_) => token.child_token(),
            None => token.clone(),
        };
        let output_limit = job.get_output_limit().unwrap_or(self.config.output_limit);
        let ctx = RunContext::new(stop.clone(), output_limit, self.config.kill_grace);
        let started = Instant::now();
        let run = AssertUnwindSafe(self.spawner.spawn(job, ctx)).catch_unwind();
        let (ran, timed_out) = match time_limit {
            None => (run.await, false),
            Some(limit) => {
                tokio::pin!(run);
                tokio::select! {
                    biased;
                    ran = &mut run => (ran, false),
                    () = tokio::time::sleep(limit) => {
                        stop.cancel();
                        (run.await, true)
                    }
                }
            }
        };
        let duration = started.elapsed();
        self.counters.attempt(duration);

        let cancelled = token.is_cancelled();
        let (outcome, exit) = match ran {
            Ok(Ok(exit)) => (outcome_of(&exit.status), Some(exit)),
            Ok(Err(error)) => (Outcome::SpawnFailed(Arc::new(error)), None),
            Err(panic) => {
                let message = panic_message(panic.as_ref());
                tracing::error!(program = %job.program_lossy(), panic = %message, "the spawner panicked");
                let error = io::Error::other(format!("the spawner panicked: {message}"));
                (Outcome::SpawnFailed(Arc::new(error)), None)
            }
        };
        // The pool's own stop decides how the attempt is described, not the signal it used.
        let outcome = if timed_out {
            Outcome::TimedOut
        } else if cancelled {
            Outcome::Cancelled
        } else {
            outcome
        };
        let mut result = entry.ticket.bare_result(outcome, attempt, time_limit);
        result.duration = duration;
        if let Some(exit) = exit {
            result.stdout = exit.stdout;
            result.stderr = exit.stderr;
            result.stdout_truncated = exit.stdout_truncated;
            result.stderr_truncated = exit.stderr_truncated;
        }

        let policy = job.get_retry().unwrap_or(&self.config.retry);
        if !cancelled && policy.should_retry(&result.outcome, attempt) {
            let delay = policy.delay_before(attempt + 1);
            self.counters.retried.fetch_add(1, Relaxed);
            self.hooks.retry(&JobRetry {
                failed: &result,
                next_attempt: attempt + 1,
                delay,
            });
            tracing::debug!(id = %entry.ticket.id, attempt, ?delay, outcome = %result.outcome, "retrying job");
            entry.attempts = attempt;
            self.schedule_retry(entry, delay);
            return None;
        }
        Some((entry, result))
    }

    /// Puts a job back in line after `delay`, without holding a worker meanwhile; answers it
    /// `Cancelled` if it is cancelled (or the pool stops) while it waits.
    fn schedule_retry(self: &Arc<Self>, entry: Box<Entry>, delay: Duration) {
        if delay.is_zero() {
            return self.requeue(entry, false);
        }
        let wait = self.wait_to_retry(entry.ticket.id);
        let inner = Arc::clone(self);
        self.runtime.spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(delay) => inner.requeue(entry, true),
                () = wait.cancelled() => inner.finish_unrun(entry, Outcome::Cancelled),
            }
        });
    }
}

fn outcome_of(status: &ExitStatus) -> Outcome {
    match status {
        ExitStatus::Code(code) => Outcome::Exited(*code),
        ExitStatus::Signal(signal) => Outcome::Signaled(*signal),
        ExitStatus::Trapped(message) => Outcome::Trapped(message.clone()),
    }
}

/// Gives a worker's place back if its task ends other than by retiring (a panic, or the
/// runtime dropping it), so the pool never loses capacity.
struct WorkerGuard(Option<(Arc<Inner>, usize)>);

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        if let Some((inner, slot)) = self.0.take() {
            inner.retire_abnormally(slot);
        }
    }
}
