//! [`JobHandle`], a job's side of the engine's ticket, and who owns a handle.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::Inner;
use crate::engine::Lease;
use crate::engine::queue::QueueKey;
use crate::engine::ticket::{Collector, Destination, Receipt, Ticket, Work};
use crate::job::Job;
use crate::result::{JobId, JobResult, Outcome};

/// A job's ticket in the engine.
pub(crate) type JobTicket = Ticket<Job>;

impl Work for Job {
    type Answer = JobResult;

    fn abandoned(&mut self, id: u64, index: usize) -> JobResult {
        JobResult::unrun(
            JobId(id),
            index,
            self.take_identity(),
            Outcome::Cancelled,
            0,
            None,
        )
    }
}

impl Ticket<Job> {
    /// A result with this outcome and no output, leaving the job as it is (for a job that will
    /// run again).
    pub(crate) fn interim_result(
        &self,
        outcome: Outcome,
        attempts: u32,
        time_limit: Option<Duration>,
    ) -> JobResult {
        let identity = self.work.identity();
        JobResult::unrun(
            JobId(self.id),
            self.index,
            identity,
            outcome,
            attempts,
            time_limit,
        )
    }

    /// A result with this outcome and no output, for a job that has ended: its program, label
    /// and cwd move into the result.
    pub(crate) fn final_result(
        &mut self,
        outcome: Outcome,
        attempts: u32,
        time_limit: Option<Duration>,
    ) -> JobResult {
        let identity = self.work.take_identity();
        JobResult::unrun(
            JobId(self.id),
            self.index,
            identity,
            outcome,
            attempts,
            time_limit,
        )
    }
}

/// Who a job's handle belongs to, which decides what dropping it does and where the result goes.
#[derive(Debug, Clone)]
pub(crate) enum Owner {
    /// The caller of `submit`: the result comes through the handle, which holds the pool (its
    /// lease); dropping the handle detaches the job.
    Caller(Arc<Lease<Inner>>),
    /// A batch that takes results one by one (`stream`, `run_all_fail_fast`): the result comes
    /// through the handle, but dropping it cancels the job (the batch holds the pool).
    Batch,
    /// A batch that takes all its results at once (`run_all`): each result goes straight into
    /// the batch's cell for it. The handle only cancels.
    Collect(Arc<Collector<JobResult>>),
}

impl Owner {
    pub(crate) fn destination(&self) -> Destination<JobResult> {
        match self {
            Owner::Caller(_) | Owner::Batch => Destination::Receipt,
            Owner::Collect(collector) => Destination::Collect(Arc::clone(collector)),
        }
    }
}

/// A submitted job: await it for its [`JobResult`], or cancel it.
///
/// Dropping a handle detaches it: the job still runs and is still counted, like a dropped
/// `tokio::task::JoinHandle`, as long as its pool is held. A handle holds its pool: the pool
/// does not stop while the handle is there. (Handles owned by a batch — `run_all`, `stream` —
/// cancel their jobs instead when the batch is dropped, so an abandoned batch leaves nothing
/// running.)
///
/// ```
/// # // It runs Unix programs (sh, echo, cat...); Windows runs its own in process-pool-native.
/// # #[cfg(unix)]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use process_pool::{Job, NativeSpawner};
///
/// let pool = NativeSpawner::pool(2)?;
/// let handle = pool.submit(Job::new("true")).await?;
/// println!("submitted {}", handle.id());
/// let result = handle.await;
/// assert!(result.success());
/// # Ok(())
/// # }
/// # #[cfg(not(unix))]
/// # fn main() {}
/// ```
#[derive(Debug)]
#[must_use = "a handle does nothing unless awaited or cancelled; drop it to detach the job"]
pub struct JobHandle {
    receipt: Receipt<JobResult>,
    id: JobId,
    key: QueueKey,
    inner: Arc<Inner>,
    /// The pool's lease, for a handle the caller holds: the pool lives while it does.
    _lease: Option<Arc<Lease<Inner>>>,
    cancel_on_drop: bool,
    finished: bool,
}

impl JobHandle {
    pub(crate) fn new(
        receipt: Option<Receipt<JobResult>>,
        ticket: &JobTicket,
        inner: &Arc<Inner>,
        owner: &Owner,
    ) -> Self {
        JobHandle {
            receipt: receipt.unwrap_or_else(Receipt::none),
            id: JobId(ticket.id),
            key: ticket.key,
            inner: Arc::clone(inner),
            _lease: match owner {
                Owner::Caller(lease) => Some(Arc::clone(lease)),
                _ => None,
            },
            cancel_on_drop: !matches!(owner, Owner::Caller(_)),
            finished: false,
        }
    }

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
        self.inner.cancel_job(self.id, &self.key);
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
        let received = std::task::ready!(Pin::new(&mut this.receipt).poll(cx));
        this.finished = true;
        // No result only for a handle without a channel (a collecting batch's, never awaited)
        // or polled again after its result: answered rather than a panic.
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
        Owner::Caller(_) | Owner::Batch => {
            for handle in handles {
                handle.await;
            }
        }
    }
}
