//! [`JobHandle`] and the ticket behind it: how exactly one result reaches each submitted job.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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
        self.done_many(1);
    }

    /// Counts `n` jobs out at once.
    fn done_many(&self, n: usize) {
        if n > 0 && self.count.fetch_sub(n, Ordering::AcqRel) == n {
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

/// Who a job's handle belongs to, which decides what dropping it does and where the result goes.
#[derive(Debug, Clone)]
pub(crate) enum Owner {
    /// The caller of `submit`: the result comes through the handle; dropping the handle
    /// detaches the job.
    Caller,
    /// A batch that takes results one by one (`stream`, `run_all_fail_fast`): as `Caller`, but
    /// dropping the handle cancels the job.
    Batch,
    /// A batch that takes all its results at once (`run_all`): each result goes straight into
    /// the batch's cell for it, with no channel per job, and the batch is woken once, when the
    /// last one is in. The handle only cancels.
    Collect(Arc<Collector>),
}

/// The results of a batch that takes them all at once: a cell per job, written by whoever
/// answers it, and a count of cells still empty.
#[derive(Debug)]
pub(crate) struct Collector {
    cells: Vec<Mutex<Option<JobResult>>>,
    empty: Pending,
}

impl Collector {
    pub(crate) fn new(jobs: usize) -> Self {
        let empty = Pending::default();
        empty.add(jobs);
        Collector {
            cells: (0..jobs).map(|_| Mutex::new(None)).collect(),
            empty,
        }
    }

    fn put(&self, index: usize, result: JobResult) {
        debug_assert!(
            index < self.cells.len(),
            "a batch's job indexes its own cells"
        );
        if let Some(cell) = self.cells.get(index) {
            *cell.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
            self.empty.done();
        }
    }

    /// Stops waiting for `n` jobs that were never submitted.
    pub(crate) fn forget(&self, n: usize) {
        self.empty.done_many(n);
    }

    /// Completes once every submitted job has its result in.
    pub(crate) async fn filled(&self) {
        self.empty.wait_idle().await;
    }

    /// The results, in input order; `None` for a job never submitted.
    pub(crate) fn take(&self) -> Vec<Option<JobResult>> {
        self.cells
            .iter()
            .map(|cell| cell.lock().unwrap_or_else(|p| p.into_inner()).take())
            .collect()
    }
}

/// Where a ticket's result goes.
#[derive(Debug)]
enum Reply {
    Handle(oneshot::Sender<JobResult>),
    Collect(Arc<Collector>),
    Given,
}

/// One accepted job on its way through the pool: queued, running, waiting to retry.
///
/// It owns the job and where its result goes (a handle's channel or a batch's cell). Whoever
/// holds it answers
/// the job by [`Ticket::answer`]; and if it is ever dropped unanswered (a runtime shutting down
/// under the pool), its `Drop` answers `Cancelled`. So every accepted job gets exactly one
/// result, and the pool's count of pending jobs falls exactly once per job.
#[derive(Debug)]
pub(crate) struct Ticket {
    pub(crate) id: JobId,
    pub(crate) index: usize,
    pub(crate) key: QueueKey,
    pub(crate) job: Job,
    reply: Reply,
    pending: Arc<Pending>,
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
        let key = QueueKey::new(job.get_priority(), id.0);
        let (reply, rx) = match &owner {
            Owner::Collect(collector) => (Reply::Collect(Arc::clone(collector)), None),
            Owner::Caller | Owner::Batch => {
                let (tx, rx) = oneshot::channel();
                (Reply::Handle(tx), Some(rx))
            }
        };
        let handle = JobHandle {
            rx,
            id,
            key,
            inner: Arc::clone(inner),
            cancel_on_drop: !matches!(owner, Owner::Caller),
            finished: false,
        };
        let ticket = Ticket {
            id,
            index,
            key,
            job,
            reply,
            pending: Arc::clone(&inner.pending),
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

    /// Marks a job the pool refused before accepting it: it is dropped without an answer (its
    /// submitter gets the refusal as an error instead).
    pub(crate) fn refuse(&mut self) {
        self.reply = Reply::Given;
    }

    /// Hands the result to the job's handle (if anyone still holds it) or its batch's cell.
    pub(crate) fn answer(&mut self, result: JobResult) {
        match std::mem::replace(&mut self.reply, Reply::Given) {
            // The handle may be gone; the job is answered all the same.
            Reply::Handle(tx) => drop(tx.send(result)),
            Reply::Collect(collector) => collector.put(self.index, result),
            Reply::Given => {}
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !matches!(self.reply, Reply::Given) {
            let result = self.final_result(Outcome::Cancelled, 0, None);
            self.answer(result);
        }
        self.pending.done();
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
    /// `None` when the result goes to a batch's cell instead.
    rx: Option<oneshot::Receiver<JobResult>>,
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

    /// Lets go of a batch's handle whose result has been collected, without cancelling.
    pub(crate) fn release(mut self) {
        self.finished = true;
    }
}

impl Future for JobHandle {
    type Output = JobResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<JobResult> {
        let this = &mut *self;
        let received = match this.rx.as_mut() {
            Some(rx) => std::task::ready!(Pin::new(rx).poll(cx)).ok(),
            None => None,
        };
        // A channel is read once; polling again after the result is misuse, answered, not a panic.
        this.rx = None;
        this.finished = true;
        // No result only for a handle without a channel (a collecting batch's, never awaited)
        // or a ticket that vanished without being dropped: answer rather than panic.
        Poll::Ready(received.unwrap_or_else(|| JobResult::lost(this.id)))
    }
}

impl Drop for JobHandle {
    fn drop(&mut self) {
        if self.cancel_on_drop && !self.finished {
            self.cancel();
        }
    }
}

/// Cancels every job of a batch and waits until each has its result, so that none of them is
/// still running when this returns. For a collecting batch, jobs never submitted must have been
/// forgotten first.
pub(crate) async fn cancel_and_reap(handles: Vec<JobHandle>, owner: &Owner) {
    for handle in &handles {
        handle.cancel();
    }
    match owner {
        Owner::Collect(collector) => {
            collector.filled().await;
            handles.into_iter().for_each(JobHandle::release);
        }
        Owner::Caller | Owner::Batch => {
            for handle in handles {
                handle.await;
            }
        }
    }
}
