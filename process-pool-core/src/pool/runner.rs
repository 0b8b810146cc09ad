//! The job pool's worker loop: run an attempt, decide between retry and result, take the next
//! job.

use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use super::Inner;
use super::hooks::{JobRetry, JobStart};
use super::state::{Entry, Next, Report};
use crate::backend::{ExitStatus, RunContext};
use crate::engine::hooks::panic_message;
use crate::engine::retry::{Decision, RetryOn};
use crate::engine::tally::End;
use crate::engine::timer::{Deadline, Timer};
use crate::engine::{self, Engine};
use crate::result::{JobResult, Outcome};

/// How long past the kill grace a spawner may take to return from a cancelled attempt before
/// the pool answers the job without it.
const SPAWNER_MARGIN: Duration = Duration::from_secs(1);

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
            let mut ctx = RunContext::new(token, 0, inner.config.options.kill_grace);
            loop {
                let mut report = Report::default();
                let ended = inner.attempt(slot, entry, &mut ctx, &mut report).await;
                // Count this job and take the next one (or retire) before answering this one,
                // so that whoever sees a result also sees the counters with it.
                let next = inner.lock().next(slot, &report);
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
                            ctx = RunContext::new(fresh, 0, inner.config.options.kill_grace);
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
        let job = &entry.ticket.work;
        let time_limit = job.get_timeout().or(self.config.options.timeout);
        if slot_ctx.is_cancelled() {
            let attempts = entry.attempts;
            let result = entry
                .ticket
                .final_result(Outcome::Cancelled, attempts, time_limit);
            report.ended = Some(End::Cancelled);
            return Some((entry, result));
        }
        let attempt = entry.attempts + 1;
        self.hooks.start(&JobStart {
            id: crate::JobId(entry.ticket.id),
            index: entry.ticket.index,
            attempt,
            job,
        });

        let output_limit = job.get_output_limit().unwrap_or(self.config.output_limit);
        let max_memory = job.get_max_memory().or(self.config.max_memory);
        let started = Instant::now();
        report.started =
            Some((attempt == 1).then(|| started.saturating_duration_since(entry.submitted)));
        // A timeout stops this attempt only, through a child of the slot's token, which a
        // timer cancels at the deadline (which the spawner may hold: `hold_timeout`).
        let timed = time_limit.map(|limit| {
            let mut ctx = RunContext::new(
                slot_ctx.token().child_token(),
                output_limit,
                self.config.options.kill_grace,
            );
            ctx.submitted = entry.submitted;
            ctx.attempt = attempt;
            ctx.max_memory = max_memory;
            let deadline = Deadline::new(limit);
            ctx.deadline = Some(Arc::clone(&deadline));
            let timer = Timer::expire(&self.runtime, deadline, ctx.token().clone());
            (ctx, timer)
        });
        let ctx = match &timed {
            Some((ctx, _)) => ctx,
            None => {
                slot_ctx.output_limit = output_limit;
                slot_ctx.submitted = entry.submitted;
                slot_ctx.attempt = attempt;
                slot_ctx.max_memory = max_memory;
                &*slot_ctx
            }
        };
        let ran = self.run_spawner(job, ctx).await;
        let duration = started.elapsed();
        report.ran = Some(duration);

        // The first stop is the one that describes the attempt: a timeout that fired before a
        // cancel (a pipeline stopping its other stages, say) stays a timeout.
        let timed_out = timed.as_ref().is_some_and(|(ctx, _)| {
            ctx.is_cancelled() && ctx.deadline.as_ref().is_some_and(|d| d.expired())
        });
        // Stopped from outside (a cancel, a shutdown): never retried, however it is described.
        let cancelled = slot_ctx.is_cancelled();
        drop(timed);
        let (outcome, exit) = match ran {
            Some(Ok(exit)) => (outcome_of(&exit.status), Some(exit)),
            Some(Err(error)) => (Outcome::SpawnFailed(Arc::new(error)), None),
            None => (Outcome::Cancelled, None),
        };
        // The pool's own stop decides how the attempt is described, not the signal it used.
        let outcome = if timed_out {
            Outcome::TimedOut
        } else if cancelled {
            Outcome::Cancelled
        } else {
            outcome
        };
        let class = if cancelled { None } else { class_of(&outcome) };
        let max_attempts = job
            .get_retry()
            .unwrap_or(&self.config.options.retry)
            .max_attempts();
        let would_retry = class.is_some() && attempt < max_attempts;
        // A single-use stream (a reader, a writer) was used up by this attempt.
        let prevented = would_retry.then(|| job.single_use()).flatten();
        let may_retry = would_retry && prevented.is_none();
        if !may_retry && self.config.options.pause_when.is_none() {
            // The common path: no decision to make, the job's identity moves into its result.
            let mut result = entry.ticket.final_result(outcome, attempt, time_limit);
            fill(&mut result, exit, duration);
            result.retry_prevented = prevented;
            report.ended = Some(end_of(&result.outcome));
            return Some((entry, result));
        }
        let mut result = entry.ticket.interim_result(outcome, attempt, time_limit);
        fill(&mut result, exit, duration);
        result.retry_prevented = prevented;
        let decision = self.decide(&entry, &result, class.filter(|_| may_retry));
        if decision.retries() {
            if let Some(entry) = self.hand_over(slot, entry, attempt, &result, decision, report) {
                // Cancelled after the attempt ended (from the retry hook, say): no retry.
                return Some(self.conclude(entry, result, Outcome::Cancelled, report));
            }
            return None;
        }
        let outcome = result.outcome.clone();
        Some(self.conclude(entry, result, outcome, report))
    }

    /// Runs the spawner for an attempt: `None` when it did not return within the kill grace
    /// (and a margin) after the attempt was stopped, so that a backend that ignores its
    /// cancellation never holds a worker slot or a result; the attempt is dropped then.
    async fn run_spawner(
        &self,
        job: &crate::Job,
        ctx: &RunContext,
    ) -> Option<io::Result<crate::backend::Exit>> {
        if let Err(unsupported) = self.spawner.check_streams(job) {
            return Some(Err(unsupported.into()));
        }
        if let Some(limit) = ctx.max_memory
            && let Err(reason) = self.spawner.check_memory_limit(Some(job))
        {
            let limit = crate::result::bytes_text(limit);
            return Some(Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("its memory limit of {limit} cannot be enforced: {reason}"),
            )));
        }
        let run = AssertUnwindSafe(self.spawner.spawn(job, ctx)).catch_unwind();
        tokio::pin!(run);
        // An attempt that ends on its first poll (a no-op, a cached answer) needs no watch.
        if let Poll::Ready(ran) = futures::poll!(run.as_mut()) {
            return Some(Self::spawned(job, ran));
        }
        let grace = ctx.kill_grace().saturating_add(SPAWNER_MARGIN);
        let overdue = async {
            ctx.cancelled().await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            biased;
            ran = run => Some(Self::spawned(job, ran)),
            () = overdue => {
                tracing::error!(
                    program = %job.program_lossy(),
                    ?grace,
                    "the spawner did not return within the kill grace after its attempt was \
                     stopped: answering the job without it (a backend bug)"
                );
                None
            }
        }
    }

    /// What the spawner returned, a panic in it made a failure to start.
    fn spawned(
        job: &crate::Job,
        ran: std::thread::Result<io::Result<crate::backend::Exit>>,
    ) -> io::Result<crate::backend::Exit> {
        ran.unwrap_or_else(|panic| {
            let message = panic_message(panic.as_ref());
            tracing::error!(program = %job.program_lossy(), panic = %message, "the spawner panicked");
            Err(io::Error::other(format!("the spawner panicked: {message}")))
        })
    }

    /// Whether and when a failed attempt (of retry kind `class`) runs again: the job's policy
    /// (or the pool's), the `retry_when` classifier and the `pause_when` hint, asked outside
    /// the lock. A hint pauses dispatch whether or not the job is retried.
    fn decide(
        self: &Arc<Self>,
        entry: &Entry,
        result: &JobResult,
        class: Option<RetryOn>,
    ) -> Decision {
        let pause = self.config.options.pause_after(result);
        if let Some(pause) = pause {
            tracing::debug!(id = %result.id, ?pause, "pausing dispatch, as asked");
            engine::pause_for(self, &mut self.lock(), pause);
        }
        if class.is_none() {
            return Decision::No;
        }
        let policy = entry
            .ticket
            .work
            .get_retry()
            .unwrap_or(&self.config.options.retry);
        let wanted = self.config.options.wants_retry(result);
        match policy.decide(class, wanted, result.attempts, pause) {
            // The pause above already holds dispatch.
            Decision::AfterPause(_) => Decision::Now,
            decision => decision,
        }
    }

    /// Hands a job that will be retried over from the worker in `slot` to the queue or the
    /// retry wait, in one locked step, so a cancel always finds it in exactly one place. Gives
    /// the job back if its slot was cancelled since its attempt ended.
    fn hand_over(
        self: &Arc<Self>,
        slot: usize,
        mut entry: Box<Entry>,
        attempt: u32,
        failed: &JobResult,
        decision: Decision,
        report: &mut Report,
    ) -> Option<Box<Entry>> {
        self.hooks.retry(&JobRetry {
            failed,
            next_attempt: attempt + 1,
            delay: decision.delay(),
        });
        tracing::debug!(id = %failed.id, attempt, ?decision, outcome = %failed.outcome, "retrying job");
        entry.attempts = attempt;
        let mut state = self.lock();
        let entry = match state.leave_slot_for_retry(slot, entry) {
            Ok(entry) => entry,
            Err(cancelled) => return Some(cancelled),
        };
        report.retried = true;
        let id = entry.ticket.id;
        match decision {
            Decision::After(delay) => engine::retry_after(self, &mut state, id, entry, delay),
            _ => {
                // Back to its place in line: this worker, or another, takes it next.
                let key = entry.ticket.key;
                state.core.queue.push(key, entry);
                self.dispatch(state);
            }
        }
        None
    }

    /// The job's final result, its outcome set, counted in `report`.
    fn conclude(
        &self,
        mut entry: Box<Entry>,
        mut result: JobResult,
        outcome: Outcome,
        report: &mut Report,
    ) -> (Box<Entry>, JobResult) {
        let (program, label, cwd) = entry.ticket.work.take_identity();
        result.program = program;
        result.label = label;
        result.cwd = cwd;
        report.ended = Some(end_of(&outcome));
        result.outcome = outcome;
        (entry, result)
    }
}

/// Moves what the spawner returned into the attempt's result.
fn fill(result: &mut JobResult, exit: Option<crate::backend::Exit>, duration: Duration) {
    result.duration = duration;
    if let Some(exit) = exit {
        result.stdout = exit.stdout;
        result.stderr = exit.stderr;
        result.stdout_truncated = exit.stdout_truncated;
        result.stderr_truncated = exit.stderr_truncated;
        result.stdout_spill = exit.stdout_spill;
        result.stderr_spill = exit.stderr_spill;
        result.usage = exit.usage;
    }
}

/// The retry kind of an attempt's outcome; `None` for a success or a cancellation.
pub(crate) fn class_of(outcome: &Outcome) -> Option<RetryOn> {
    Some(match outcome {
        Outcome::Exited(0) | Outcome::Cancelled => return None,
        Outcome::Exited(_) => RetryOn::FAILURE,
        Outcome::Signaled(_) | Outcome::Exception(_) => RetryOn::CRASH,
        Outcome::TimedOut => RetryOn::TIMEOUT,
        Outcome::SpawnFailed(_) => RetryOn::SPAWN_FAILURE,
        Outcome::Trapped(_) => RetryOn::TRAP,
        Outcome::StreamFailed(_) => RetryOn::FAILURE,
        Outcome::OutOfMemory { .. } => RetryOn::OUT_OF_MEMORY,
    })
}

/// How a job that ended this way is counted.
pub(crate) fn end_of(outcome: &Outcome) -> End {
    match outcome {
        Outcome::Exited(0) => End::Succeeded,
        Outcome::TimedOut => End::TimedOut,
        Outcome::Cancelled => End::Cancelled,
        _ => End::Failed,
    }
}

fn outcome_of(status: &ExitStatus) -> Outcome {
    match status {
        ExitStatus::Code(code) => Outcome::Exited(*code),
        ExitStatus::Signal(signal) => Outcome::Signaled(*signal),
        ExitStatus::Exception(code) => Outcome::Exception(*code),
        ExitStatus::Trapped(message) => Outcome::Trapped(message.clone()),
        ExitStatus::StreamFailed(message) => {
            Outcome::StreamFailed(Arc::new(io::Error::other(message.clone())))
        }
        ExitStatus::OutOfMemory { limit } => Outcome::OutOfMemory { limit: *limit },
    }
}

/// Handles a worker task that ends other than by retiring: a panic in the pool's own code, or
/// the runtime dropping the task as it shuts down. The pool cannot run anything on a runtime
/// that is going, so it stops: every queued and waiting job is answered `Cancelled` (the task's
/// own job is answered by its ticket), rather than left for a worker that will never come.
struct WorkerGuard(Option<(Arc<Inner>, usize)>);

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        if let Some((inner, slot)) = self.0.take() {
            tracing::warn!("a worker task of the pool ended abnormally; stopping the pool");
            let left = {
                let mut state = inner.lock();
                state.vacate(slot);
                state.core.close();
                state.stop()
            };
            for entry in left {
                inner.finish_unrun(entry, Outcome::Cancelled);
            }
        }
    }
}
