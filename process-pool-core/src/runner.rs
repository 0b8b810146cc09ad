//! The worker loop: run an attempt, decide between retry and result, take the next job.

use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;

use crate::handle::Ticket;
use crate::hooks::{JobRetry, JobStart, panic_message};
use crate::pool::{Entry, Inner};
use crate::result::{JobResult, Outcome};
use crate::spawner::{ExitStatus, RunContext};

impl Inner {
    /// Starts a worker task with its first job. The caller has counted it in `running`.
    pub(crate) fn start_worker(self: &Arc<Self>, first: Entry) {
        let inner = Arc::clone(self);
        self.runtime.spawn(async move {
            let mut slot = WorkerSlot(Some(Arc::clone(&inner)));
            let mut entry = first;
            loop {
                let ended = inner.attempt(entry).await;
                // Take the next job (or retire) before answering this one, so that whoever
                // sees a result also sees the pool's counters without it.
                let next = inner.next_or_retire();
                if next.is_none() {
                    slot.0 = None;
                }
                if let Some((ticket, result)) = ended {
                    inner.finish(ticket, result);
                }
                match next {
                    Some(next) => entry = next,
                    None => return,
                }
            }
        });
    }

    /// Runs one attempt of a job. Returns the job and its result when it has ended; `None`
    /// when a retry was scheduled instead.
    async fn attempt(self: &Arc<Self>, entry: Entry) -> Option<(Ticket, JobResult)> {
        let Entry {
            ticket, attempts, ..
        } = entry;
        let job = &ticket.job;
        let time_limit = job.get_timeout().or(self.config.timeout);
        if ticket.token.is_cancelled() {
            let result = ticket.bare_result(Outcome::Cancelled, attempts, time_limit);
            return Some((ticket, result));
        }
        let attempt = attempts + 1;
        self.hooks.start(&JobStart {
            id: ticket.id,
            index: ticket.index,
            attempt,
            job,
        });

        // A timeout must stop this attempt only, and leave the job's own token usable for a
        // retry, hence a child token when there is a limit.
        let token = match time_limit {
            Some(_) => ticket.token.child_token(),
            None => ticket.token.clone(),
        };
        let output_limit = job.get_output_limit().unwrap_or(self.config.output_limit);
        let ctx = RunContext::new(token.clone(), output_limit, self.config.kill_grace);
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
                        token.cancel();
                        (run.await, true)
                    }
                }
            }
        };
        let duration = started.elapsed();
        self.counters.attempt(duration);

        let cancelled = ticket.token.is_cancelled();
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
        let mut result = ticket.bare_result(outcome, attempt, time_limit);
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
            self.counters
                .retried
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.hooks.retry(&JobRetry {
                failed: &result,
                next_attempt: attempt + 1,
                delay,
            });
            tracing::debug!(id = %ticket.id, attempt, ?delay, outcome = %result.outcome, "retrying job");
            self.schedule_retry(Entry::retry(ticket, attempt), delay);
            return None;
        }
        Some((ticket, result))
    }

    /// Puts a job back in line after `delay`, without holding a worker meanwhile; answers it
    /// `Cancelled` if it is cancelled while it waits.
    fn schedule_retry(self: &Arc<Self>, entry: Entry, delay: Duration) {
        if delay.is_zero() {
            return self.requeue(entry);
        }
        let inner = Arc::clone(self);
        self.runtime.spawn(async move {
            let token = entry.ticket.token.clone();
            tokio::select! {
                () = tokio::time::sleep(delay) => inner.requeue(entry),
                () = token.cancelled() => inner.finish_unrun(entry, Outcome::Cancelled),
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
struct WorkerSlot(Option<Arc<Inner>>);

impl Drop for WorkerSlot {
    fn drop(&mut self) {
        if let Some(inner) = self.0.take() {
            inner.retire_abnormally();
        }
    }
}
