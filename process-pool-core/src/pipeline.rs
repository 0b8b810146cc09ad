//! [`Pipeline`]: jobs of one pool joined stdout to stdin, as a shell's `a | b | c`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use tokio::sync::Notify;

use crate::engine::retry::RetryPolicy;
use crate::error::JobError;
use crate::job::Job;
use crate::pool::{JobHandle, ProcessPool};
use crate::result::{JobResult, Outcome};
use crate::stdio::{Input, Output};

/// Jobs run together, each one's stdout the next one's stdin, as a shell runs `a | b | c`
/// with `set -o pipefail`: every stage a [`Job`] of the same pool, with its own timeout,
/// limits and sandbox, and its own result.
///
/// Between two native stages the bytes go through an OS pipe, process to process; where a
/// WASI stage (or another backend that streams in the pool's process) is on either side, its
/// backend reads or writes that pipe in bounded memory. The first stage's stdin and the last
/// stage's stdout and every stage's stderr are the stages' own ([`Job::stdin_file`],
/// [`Job::stdout`], ...); a middle stage that sets its own stdin or stdout is refused.
///
/// The first stage to fail (a non-zero exit, a signal, a timeout, a failure to start) ends
/// the pipeline: every other stage still running is stopped, its whole tree, and answered
/// `Cancelled`; the pipeline's outcome is, as `pipefail` says, that of the last stage that
/// failed by itself. A stage killed by `SIGPIPE` (it wrote after the next stage closed its
/// stdin) stops nothing: the stage that closed its stdin ends by itself, and its own outcome
/// is the pipeline's if it failed (`yes | head -1` succeeds in every stage but the first,
/// and its outcome is the first stage's `SIGPIPE`, as under `pipefail`). Retries apply to the whole pipeline
/// (its [`retry`](Self::retry) policy, else the pool's): every stage runs again, with new
/// pipes; a stage's own retry policy is not used. A pipeline holds as many of the pool's
/// workers as it has stages while it runs, and waits for others' pipelines to leave that many
/// (so pipelines never wait on each other's stages forever); one with more stages than the
/// pool has workers is refused.
///
/// ```
/// # // It runs Unix programs (sh, echo, cat...); Windows runs its own in process-pool-native.
/// # #[cfg(unix)]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use process_pool::{job, NativeSpawner, Pipeline};
///
/// let pool = NativeSpawner::pool(4)?;
/// let run = Pipeline::new([job("seq", ["1000"]), job("grep", ["7"]), job("wc", ["-l"])])
///     .run(&pool)
///     .await?;
/// assert!(run.success());
/// assert_eq!(run.stages[2].stdout_lossy().trim(), "271");
/// # Ok(()) }
/// # #[cfg(not(unix))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
pub struct Pipeline {
    stages: Vec<Job>,
    retry: Option<RetryPolicy>,
}

/// What happened to a [`Pipeline`]: one result per stage (of its last attempt), and the
/// pipeline's own outcome.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PipelineResult {
    /// Each stage's result, in order.
    pub stages: Vec<JobResult>,
    /// `Exited(0)` if every stage succeeded, else, as a shell's `pipefail` says, the outcome
    /// of the last stage that failed by itself (not stopped because another failed).
    pub outcome: Outcome,
    /// Which stage that was, if one failed.
    pub failed_stage: Option<usize>,
    /// How many times the pipeline ran.
    pub attempts: u32,
    /// Why a failed pipeline was not run again though its policy allowed it: a single-use
    /// stream (the first stage's stdin reader, the last stage's writer).
    pub retry_prevented: Option<&'static str>,
}

impl PipelineResult {
    /// Whether every stage succeeded.
    pub fn success(&self) -> bool {
        self.outcome.is_success()
    }

    /// The result of the stage whose outcome is the pipeline's, if one failed.
    pub fn failed(&self) -> Option<&JobResult> {
        self.failed_stage.map(|i| &self.stages[i])
    }

    /// `Ok(self)` on success, else the error of the stage whose outcome is the pipeline's.
    pub fn into_checked(self) -> Result<PipelineResult, JobError> {
        match self.failed().and_then(JobResult::error) {
            Some(error) => Err(error),
            None => Ok(self),
        }
    }
}

impl Pipeline {
    /// A pipeline of these stages, first to last.
    pub fn new(stages: impl IntoIterator<Item = Job>) -> Self {
        Pipeline {
            stages: stages.into_iter().collect(),
            retry: None,
        }
    }

    /// How often the whole pipeline is attempted (default: the pool's retry policy).
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Runs it on `pool` until every stage has ended, retrying the whole as its policy says.
    ///
    /// Fails with [`JobError::InvalidJob`] for an empty pipeline, one with more stages than
    /// the pool has workers, or a middle stage with stdio of its own (and for a stage that is
    /// not a valid job); with [`JobError::PoolClosed`] once the pool is closed. Dropping the
    /// future stops every stage.
    pub async fn run(self, pool: &ProcessPool) -> Result<PipelineResult, JobError> {
        self.check(pool.max_workers())?;
        let policy = self
            .retry
            .clone()
            .unwrap_or_else(|| pool.inner.config.options.retry.clone());
        policy.validate().map_err(|reason| JobError::InvalidJob {
            reason: format!("the pipeline's retry policy: {reason}"),
        })?;
        let single_use = self.stages.iter().find_map(Job::single_use);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let stages = {
                let _held = pool.inner.pipelines.hold(self.stages.len(), pool).await;
                self.attempt(pool).await?
            };
            // As `pipefail`: the last stage that failed by itself (the others were stopped
            // for it), else one that was cancelled from outside.
            let failed_stage = stages.iter().rposition(|r| !r.success() && !r.cancelled());
            let failed_stage = failed_stage.or_else(|| stages.iter().position(|r| !r.success()));
            let outcome = failed_stage.map_or(Outcome::Exited(0), |i| stages[i].outcome.clone());
            let class = crate::pool::class_of(&outcome)
                .filter(|class| policy.retried_outcomes().contains(*class));
            let again = class.is_some() && attempt < policy.max_attempts();
            if again && single_use.is_none() {
                tracing::debug!(attempt, %outcome, "retrying a pipeline");
                tokio::time::sleep(policy.delay_before(attempt + 1)).await;
                continue;
            }
            return Ok(PipelineResult {
                stages,
                outcome,
                failed_stage,
                attempts: attempt,
                retry_prevented: single_use.filter(|_| again),
            });
        }
    }

    fn check(&self, workers: usize) -> Result<(), JobError> {
        let invalid = |reason: String| Err(JobError::InvalidJob { reason });
        let n = self.stages.len();
        if n == 0 {
            return invalid("a pipeline needs at least one stage".into());
        }
        if n > workers {
            return invalid(format!(
                "a pipeline of {n} stages runs them at once, and the pool has {workers} workers"
            ));
        }
        for (i, stage) in self.stages.iter().enumerate() {
            crate::pool::validate(stage, Some(i))?;
            let name = || format!("stage {} (`{}`)", i + 1, stage.program_lossy());
            if i > 0 && !stage.get_input().is_empty() {
                return invalid(format!(
                    "{} sets its own stdin, which the pipeline feeds from stage {i}",
                    name()
                ));
            }
            if i + 1 < n && !stage.get_stdout().is_memory() {
                return invalid(format!(
                    "{} sets its own stdout, which the pipeline sends to stage {}",
                    name(),
                    i + 2
                ));
            }
        }
        Ok(())
    }

    /// Runs every stage once, joined by new pipes; stops them all when one fails.
    async fn attempt(&self, pool: &ProcessPool) -> Result<Vec<JobResult>, JobError> {
        let n = self.stages.len();
        let mut readers: Vec<Option<std::io::PipeReader>> = (0..n).map(|_| None).collect();
        let mut writers: Vec<Option<std::io::PipeWriter>> = (0..n).map(|_| None).collect();
        for i in 1..n {
            let (reader, writer) = std::io::pipe().map_err(|e| JobError::SpawnFailed {
                index: i,
                program: self.stages[i].program_lossy(),
                cwd: self.stages[i].get_cwd().map(ToOwned::to_owned),
                source: Arc::new(std::io::Error::new(
                    e.kind(),
                    format!("cannot make a pipe between stages {i} and {}: {e}", i + 1),
                )),
            })?;
            readers[i] = Some(reader);
            writers[i - 1] = Some(writer);
        }
        let jobs = self
            .stages
            .iter()
            .zip(readers)
            .zip(writers)
            .map(|((stage, reader), writer)| {
                let mut job = stage.clone().retry(RetryPolicy::none());
                if let Some(reader) = reader {
                    job = job.stdin_input(Input::pipe(reader));
                }
                if let Some(writer) = writer {
                    job = job.stdout(Output::pipe(writer));
                }
                job
            });
        let mut running = Running(Vec::with_capacity(n));
        for job in jobs {
            // A stage not submitted is dropped with its pipe ends: its neighbours see the end.
            let handle = pool.submit(job).await?;
            running.0.push(Some(handle));
        }
        let mut results: Vec<Option<JobResult>> = vec![None; n];
        let mut stopped = false;
        std::future::poll_fn(|cx| {
            let mut failed = false;
            for (i, (slot, result)) in running.0.iter_mut().zip(&mut results).enumerate() {
                let Some(handle) = slot else { continue };
                if let Poll::Ready(ended) = Pin::new(&mut *handle).poll(cx) {
                    *slot = None;
                    // A stage killed for writing to a pipe that its reader closed failed
                    // because of that reader, which ends (and is heard) by itself.
                    let effect = i + 1 < n && broken_pipe(&ended.outcome);
                    failed |= !ended.success() && !effect;
                    *result = Some(ended);
                }
            }
            if failed && !stopped {
                // The first failure stops every other stage, its whole tree.
                stopped = true;
                running.cancel();
            }
            if running.0.iter().all(Option::is_none) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        Ok(results.into_iter().flatten().collect())
    }
}

/// Whether a process was killed by `SIGPIPE`: it wrote to a pipe whose reader had gone.
fn broken_pipe(outcome: &Outcome) -> bool {
    /// `SIGPIPE`'s number on every Unix this project builds for (Linux, macOS).
    const SIGPIPE: i32 = 13;
    cfg!(unix) && matches!(outcome, Outcome::Signaled(SIGPIPE))
}

/// The handles of a pipeline's running stages: dropped early (the pipeline's future dropped),
/// it stops them all.
struct Running(Vec<Option<JobHandle>>);

impl Running {
    fn cancel(&self) {
        for handle in self.0.iter().flatten() {
            handle.cancel();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// How many of a pool's workers running pipelines hold: a pipeline waits until its stages fit
/// beside the others', so two pipelines never each hold part of the pool while their other
/// stages wait in the queue behind each other.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    held: Mutex<usize>,
    freed: Notify,
}

/// Workers a running pipeline holds, given back when dropped.
struct Held<'a>(&'a Gate, usize);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        *self.0.held.lock().unwrap_or_else(|p| p.into_inner()) -= self.1;
        self.0.freed.notify_waiters();
    }
}

impl Gate {
    async fn hold(&self, stages: usize, pool: &ProcessPool) -> Held<'_> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
                // Alone, a pipeline always starts (it was checked against the pool's size).
                if *held == 0 || *held + stages <= pool.max_workers() {
                    *held += stages;
                    return Held(self, stages);
                }
            }
            freed.await;
        }
    }
}
