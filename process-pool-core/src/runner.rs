//! The worker loop: run an attempt, decide between retry and result, take the next job.

use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::hooks::{JobRetry, JobStart, panic_message};
use crate::pool::Inner;
use crate::result::{JobResult, Outcome};
use crate::spawner::{ExitStatus, RunContext};
use crate::state::{Entry, Next};
use crate::stats::Report;

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
            // One context per slot token, reused by every job it stops: a token clone takes a
            // lock, so none is made per job.
            let mut ctx = RunContext::new(token, 0, inner.config.kill_grace);
            loop {
                let mut report = Report::default();
                let ended = inner.attempt(slot, entry, &mut ctx, &mut report).await;
                // Count this job and take the next one (or retire) before answering this one,
                // so that whoever sees a result also sees the counters with it.
                let next = inner.next_job(slot, &report);
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
                            ctx = RunContext::new(fresh, 0, inner.config.kill_grace);
                        }
                    }
                    Next::Retire => return,
                }
            }
        });
    }

    /// Runs one attempt of a job with the slot's context, whose token stops it. Returns the job
    /// and its result when it has ended; `None` when a retry was scheduled instead.
    async fn attempt(
        self: &Arc<Self>,
        slot: usize,
        mut entry: Box<Entry>,
        slot_ctx: &mut RunContext,
        report: &mut Report,
    ) -> Option<(Box<Entry>, JobResult)> {
        let token = slot_ctx.token();
        let job = &entry.ticket.job;
        let time_limit = job.get_timeout().or(self.config.timeout);
        if token.is_cancelled() {
            let attempts = entry.attempts;
            let result = entry
                .ticket
                .final_result(Outcome::Cancelled, attempts, time_limit);
            report.ended = Some(Outcome::Cancelled);
            return Some((entry, result));
        }
        let attempt = entry.attempts + 1;
        self.hooks.start(&JobStart {
            id: entry.ticket.id,
            index: entry.ticket.index,
            attempt,
            job,
        });

        let output_limit = job.get_output_limit().unwrap_or(self.config.output_limit);
        let started = Instant::now();
        let (ran, timed_out) = match time_limit {
            None => {
                slot_ctx.output_limit = output_limit;
                slot_ctx.submitted = entry.submitted;
                let ctx: &RunContext = slot_ctx;
                (
                    AssertUnwindSafe(self.spawner.spawn(job, ctx))
                        .catch_unwind()
                        .await,
                    false,
                )
            }
            Some(limit) => {
                // A timeout stops this attempt only, through a child of the slot's token.
                let mut ctx =
                    RunContext::new(token.child_token(), output_limit, self.config.kill_grace);
                ctx.submitted = entry.submitted;
                let run = AssertUnwindSafe(self.spawner.spawn(job, &ctx)).catch_unwind();
                tokio::pin!(run);
                tokio::select! {
                    biased;
                    ran = &mut run => (ran, false),
                    () = tokio::time::sleep(limit) => {
                        ctx.token().cancel();
                        (run.await, true)
                    }
                }
            }
        };
        let token = slot_ctx.token();
        let duration = started.elapsed();
        report.ran = Some(duration);
        if attempt == 1 {
            report.waited = Some(started.saturating_duration_since(entry.submitted));
        }

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
        let policy = job.get_retry().unwrap_or(&self.config.retry);
        let retry = !cancelled && policy.should_retry(&outcome, attempt);
        let delay = if retry {
            policy.delay_before(attempt + 1)
        } else {
            Duration::ZERO
        };
        let mut result = if retry {
            entry.ticket.interim_result(outcome, attempt, time_limit)
        } else {
            entry.ticket.final_result(outcome, attempt, time_limit)
        };
        result.duration = duration;
        if let Some(exit) = exit {
            result.stdout = exit.stdout;
            result.stderr = exit.stderr;
            result.stdout_truncated = exit.stdout_truncated;
            result.stderr_truncated = exit.stderr_truncated;
        }

        if let Some(pause) = self.hooks.pause_after(&result) {
            tracing::debug!(id = %entry.ticket.id, ?pause, "pausing dispatch, as asked");
            self.pause_for(pause);
        }
        if retry {
            self.hooks.retry(&JobRetry {
                failed: &result,
                next_attempt: attempt + 1,
                delay,
            });
            tracing::debug!(id = %entry.ticket.id, attempt, ?delay, outcome = %result.outcome, "retrying job");
            entry.attempts = attempt;
            match self.retry(slot, entry, delay) {
                Ok(()) => {
                    report.retried = true;
                    return None;
                }
                Err(cancelled) => {
                    // Cancelled after the attempt ended (from the retry hook, say): no retry.
                    entry = cancelled;
                    result = entry
                        .ticket
                        .final_result(Outcome::Cancelled, attempt, time_limit);
                    result.duration = duration;
                }
            }
        }
        report.ended = Some(result.outcome.clone());
        Some((entry, result))
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
