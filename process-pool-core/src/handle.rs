//! [`JobHandle`] and the ticket behind it: how exactly one result reaches each submitted job.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, oneshot};

use crate::job::Job;
use crate::pool::Inner;
use crate::queue::QueueKey;
use crate::result::{JobId, JobResult, Outcome};

/// Counts the jobs that have been accepted and not yet answered, and wakes `drain` at zero.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    count: AtomicUsize,
    idle: Notify,
}

impl Pending {
    /// Counts `n` more accepted jobs; each one's ticket counts itself out when dropped.
    pub(crate) fn add(&self, n: usize) {
        self.count.fetch_add(n, Ordering::AcqRel);
    }

    pub(crate) fn done(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Completes once no accepted job is left unanswered.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Register before looking, so a `done` between the look and the wait is not missed.
            notified.as_mut().enable();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Who a job's handle belongs to, which decides what dropping it does.
#[derive(Debug, Clone)]
pub(crate) enum Owner {
    /// The caller of `submit`: dropping the handle detaches the job.
    Caller,
    /// A batch (`run_all`, `stream`): dropping the handle cancels the job. A batch that takes
    /// all its results at once also gives a count of its own, which wakes it once, when its last
    /// job is answered, instead of once per job.
    Batch(Option<Arc<Pending>>),
}

/// One accepted job on its way through the pool: queued, running, waiting to retry.
///
/// It owns the job and the sending half of the job's result channel. Whoever holds it answers
/// the job by [`Ticket::answer`]; and if it is ever dropped unanswered (a runtime shutting down
/// under the pool), its `Drop` answers `Cancelled`. So every accepted job gets exactly one
/// result, and the pool's count of pending jobs falls exactly once per job.
#[derive(Debug)]
pub(crate) struct Ticket {
    pub(crate) id: JobId,
    pub(crate) index: usize,
    pub(crate) key: QueueKey,
    pub(crate) job: Job,
    reply: Option<oneshot::Sender<JobResult>>,
    pending: Arc<Pending>,
    batch: Option<Arc<Pending>>,
}

impl Ticket {
    /// A ticket and the handle that will receive its result. The caller has counted the job
    /// in `inner.pending`.
    pub(crate) fn issue(
        inner: &Arc<Inner>,
        id: JobId,
        index: usize,
        job: Job,
        owner: Owner,
    ) -> (Ticket, JobHandle) {
        let (tx, rx) = oneshot::channel();
        let key = QueueKey::new(job.get_priority(), id.0);
        let handle = JobHandle {
            rx,
            id,
            key,
            inner: Arc::clone(inner),
            cancel_on_drop: matches!(owner, Owner::Batch(_)),
            finished: false,
        };
        let batch = match owner {
            Owner::Batch(batch) => batch,
            Owner::Caller => None,
        };
        let ticket = Ticket {
            id,
            index,
            key,
            job,
            reply: Some(tx),
            pending: Arc::clone(&inner.pending),
            batch,
        };
        (ticket, handle)
    }

    /// A result with this outcome and no output, leaving the job as it is (for a job that will
    /// run again).
    pub(crate) fn interim_result(
        &self,
        outcome: Outcome,
        attempts: u32,
        time_limit: Option<Duration>,
    ) -> JobResult {
        let identity = (
            self.job.program_lossy(),
            self.job.get_label().map(str::to_owned),
            self.job.get_cwd().map(ToOwned::to_owned),
        );
        self.result(identity, outcome, attempts, time_limit)
    }

    /// A result with this outcome and no output, for a job that has ended: its program, label
    /// and cwd move into the result.
    pub(crate) fn final_result(
        &mut self,
        outcome: Outcome,
        attempts: u32,
        time_limit: Option<Duration>,
    ) -> JobResult {
        let identity = self.job.take_identity();
        self.result(identity, outcome, attempts, time_limit)
    }

    fn result(
        &self,
        (program, label, cwd): (String, Option<String>, Option<PathBuf>),
        outcome: Outcome,
        attempts: u32,
        time_limit: Option<Duration>,
    ) -> JobResult {
        JobResult {
            id: self.id,
            index: self.index,
            program,
            label,
            cwd,
            outcome,
            stdout: Bytes::new(),
            stderr: Bytes::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            duration: Duration::ZERO,
            attempts,
            time_limit,
        }
    }

    /// Hands the result to the job's handle (if anyone still holds it).
    pub(crate) fn answer(&mut self, result: JobResult) {
        if let Some(tx) = self.reply.take() {
            // The handle may be gone; the job is answered all the same.
            let _ = tx.send(result);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(tx) = self.reply.take() {
            let result = self.final_result(Outcome::Cancelled, 0, None);
            let _ = tx.send(result);
        }
        self.pending.done();
        if let Some(batch) = &self.batch {
            batch.done();
        }
    }
}

/// A submitted job: await it for its [`JobResult`], or cancel it.
///
/// Dropping a handle detaches it: the job still runs and is still counted, like a dropped
/// `tokio::task::JoinHandle`. (Handles owned by a batch — `run_all`, `stream` — cancel their
/// jobs instead when the batch is dropped, so an abandoned batch leaves nothing running.)
///
/// ```
/// # use process_pool_core::{async_trait, Exit, ExitStatus, Job, ProcessPool, RunContext, Spawner};
/// # struct Noop;
/// # #[async_trait]
/// # impl Spawner for Noop {
/// #     async fn spawn(&self, _: &Job, _: &RunContext) -> std::io::Result<Exit> {
/// #         Ok(Exit::new(ExitStatus::Code(0)))
/// #     }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = ProcessPool::new(Noop, 2)?;
/// let handle = pool.submit(Job::new("work")).await?;
/// println!("submitted {}", handle.id());
/// let result = handle.await;
/// assert!(result.success());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a handle does nothing unless awaited or cancelled; drop it to detach the job"]
pub struct JobHandle {
    rx: oneshot::Receiver<JobResult>,
    id: JobId,
    key: QueueKey,
    inner: Arc<Inner>,
    cancel_on_drop: bool,
    finished: bool,
}

impl JobHandle {
    /// The job's pool-unique id.
    pub fn id(&self) -> JobId {
        self.id
    }

    /// Cancels the job.
    ///
    /// A queued job leaves the queue at once and is answered `Cancelled`; a running job is
    /// stopped like a timed-out one (its whole process tree, for native jobs) and answered
    /// `Cancelled`; a job waiting to retry is answered `Cancelled`. A job that has already ended
    /// keeps its result. Awaiting the handle afterwards gives that one result.
    pub fn cancel(&self) {
        self.inner.cancel(self.id, &self.key);
    }

    /// Whether the result has been taken from this handle.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

impl Future for JobHandle {
    type Output = JobResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<JobResult> {
        let this = &mut *self;
        match Pin::new(&mut this.rx).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(received) => {
                this.finished = true;
                Poll::Ready(received.unwrap_or_else(|_| {
                    // Unreachable while tickets answer on drop; answer rather than panic.
                    JobResult {
                        id: this.id,
                        index: 0,
                        program: String::new(),
                        label: None,
                        cwd: None,
                        outcome: Outcome::Cancelled,
                        stdout: Bytes::new(),
                        stderr: Bytes::new(),
                        stdout_truncated: false,
                        stderr_truncated: false,
                        duration: Duration::ZERO,
                        attempts: 0,
                        time_limit: None,
                    }
                }))
            }
        }
    }
}

impl Drop for JobHandle {
    fn drop(&mut self) {
        if self.cancel_on_drop && !self.finished {
            self.cancel();
        }
    }
}

/// Cancels every job of `handles` and waits for each one's result, so that none of them is
/// still running when this returns.
pub(crate) async fn cancel_and_reap(handles: Vec<JobHandle>) {
    for handle in &handles {
        handle.cancel();
    }
    for handle in handles {
        handle.await;
    }
}
