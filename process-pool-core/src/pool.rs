//! [`ProcessPool`]: accepts jobs, queues them, and runs at most `max_workers` at a time.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::builder::{Config, PoolBuilder};
use crate::error::{ConfigError, JobError};
use crate::handle::{JobHandle, Owner, Pending, Ticket, cancel_and_reap};
use crate::hooks::Hooks;
use crate::job::Job;
use crate::queue::QueueKey;
use crate::result::{JobId, JobResult, Outcome};
use crate::spawner::Spawner;
use crate::state::{Cancelled, Entry, HandOver, Next, Placement, State};
use crate::stats::{Report, Stats};

/// A bounded pool of workers running [`Job`]s through a [`Spawner`].
///
/// Cheap to clone: clones share one pool. Jobs run at most `max_workers` at a time; the rest
/// wait in a priority queue. Every accepted job yields exactly one [`JobResult`], whatever
/// happens to it (exit, signal, timeout, cancel, spawn failure, shutdown).
///
/// Dropping the pool does not stop accepted jobs: they run to the end and answer their handles.
/// Call [`ProcessPool::shutdown`] to stop them.
///
/// [`JobResult`]: crate::JobResult
#[derive(Debug, Clone)]
pub struct ProcessPool {
    pub(crate) inner: Arc<Inner>,
}

/// What all clones of a pool share.
pub(crate) struct Inner {
    pub(crate) spawner: Arc<dyn Spawner>,
    pub(crate) config: Config,
    pub(crate) hooks: Hooks,
    pub(crate) runtime: Handle,
    state: Mutex<State>,
    pub(crate) pending: Arc<Pending>,
    /// One permit per free place in a bounded queue.
    room: Option<Arc<Semaphore>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("config", &self.config)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

/// How many jobs of a batch are placed per lock of the pool's state.
const ENTER_CHUNK: usize = 128;

impl ProcessPool {
    /// A builder with every setting at its default.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// A pool of `max_workers` with default settings, running jobs with `spawner`.
    ///
    /// Fails with [`ConfigError::ZeroWorkers`] for 0 and [`ConfigError::NoRuntime`] outside a
    /// tokio runtime.
    pub fn new(spawner: impl Spawner, max_workers: usize) -> Result<Self, ConfigError> {
        Self::builder().max_workers(max_workers).build(spawner)
    }

    pub(crate) fn from_parts(
        spawner: Arc<dyn Spawner>,
        config: Config,
        hooks: Hooks,
        runtime: Handle,
    ) -> Self {
        let room = config.queue_capacity.map(|n| Arc::new(Semaphore::new(n)));
        let state = State::new(config.max_workers);
        ProcessPool {
            inner: Arc::new(Inner {
                spawner,
                config,
                hooks,
                runtime,
                state: Mutex::new(state),
                pending: Arc::default(),
                room,
                next_id: AtomicU64::new(0),
            }),
        }
    }

    /// Submits one job, waiting for room if the queue is bounded and full.
    ///
    /// Fails with [`JobError::InvalidJob`] for a job that cannot run (an empty program name, a
    /// zero timeout) and [`JobError::PoolClosed`] once the pool is closed.
    pub async fn submit(&self, job: Job) -> Result<JobHandle, JobError> {
        self.inner.submit(job, 0, Owner::Caller).await
    }

    /// Submits one job if there is room now; fails with [`JobError::QueueFull`] otherwise.
    pub fn try_submit(&self, job: Job) -> Result<JobHandle, JobError> {
        validate(&job, None)?;
        let room = match &self.inner.room {
            None => None,
            Some(room) => Some(Arc::clone(room).try_acquire_owned().map_err(|e| match e {
                TryAcquireError::Closed => JobError::PoolClosed,
                TryAcquireError::NoPermits => JobError::QueueFull {
                    capacity: self.inner.config.queue_capacity.unwrap_or_default(),
                },
            })?),
        };
        self.inner.admit(job, 0, room, Owner::Caller)
    }

    /// Waits until every accepted job has been answered. The pool stays open.
    pub async fn drain(&self) {
        self.inner.pending.wait_idle().await;
    }

    /// Refuses new jobs from now on ([`JobError::PoolClosed`]); accepted jobs go on.
    pub fn close(&self) {
        self.inner.lock().closed = true;
        if let Some(room) = &self.inner.room {
            room.close();
        }
    }

    /// Whether [`ProcessPool::close`] (or a shutdown) has been called.
    pub fn is_closed(&self) -> bool {
        self.inner.lock().closed
    }

    /// Closes the pool, lets accepted jobs finish for up to `grace`, then cancels the rest:
    /// queued jobs are answered `Cancelled` at once, running ones are stopped (their whole
    /// process tree) and answered `Cancelled`. Returns when every job has its result, with the
    /// final counters.
    pub async fn shutdown(&self, grace: Duration) -> Stats {
        self.close();
        if tokio::time::timeout(grace, self.drain()).await.is_err() {
            tracing::debug!(?grace, "shutdown grace over; cancelling what is left");
            let queued = self.inner.lock().stop();
            for entry in queued {
                self.inner.finish_unrun(entry, Outcome::Cancelled);
            }
            self.drain().await;
        }
        self.stats()
    }

    /// Changes the worker limit of a running pool. Growing starts queued jobs at once;
    /// shrinking lets running jobs finish and starts no new ones until below the new limit.
    pub fn set_max_workers(&self, n: usize) -> Result<(), ConfigError> {
        if n == 0 {
            return Err(ConfigError::ZeroWorkers);
        }
        self.inner.lock().max_workers = n;
        self.inner.start_queued();
        Ok(())
    }

    /// Pauses dispatch: jobs keep being accepted and queued, running jobs go on, but none
    /// starts until [`resume`](Self::resume). While paused, `drain` and `run_all` wait.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use process_pool_core::{async_trait, Exit, ExitStatus, Job, ProcessPool, RunContext, Spawner};
    /// # struct Noop;
    /// # #[async_trait] impl Spawner for Noop {
    /// #     async fn spawn(&self, _: &Job, _: &RunContext) -> std::io::Result<Exit> { Ok(Exit::new(ExitStatus::Code(0))) }
    /// # }
    /// let pool = ProcessPool::new(Noop, 2)?;
    /// pool.pause();
    /// let handle = pool.submit(Job::new("later")).await?;
    /// assert_eq!(pool.stats().queued, 1);
    /// pool.resume();
    /// assert!(handle.await.success());
    /// # Ok(()) }
    /// ```
    pub fn pause(&self) {
        self.inner.set_paused(true);
    }

    /// Resumes dispatch after [`pause`](Self::pause): queued jobs start, up to the limit.
    pub fn resume(&self) {
        self.inner.set_paused(false);
        self.inner.start_queued();
    }

    /// Pauses dispatch for `time`, then resumes it (after a rate-limit hint, say; see
    /// [`PoolBuilder::pause_when`](crate::PoolBuilder::pause_when)), unless a `pause`,
    /// `resume` or `pause_for` came meanwhile: the latest one decides.
    pub fn pause_for(&self, time: std::time::Duration) {
        self.inner.pause_for(time);
    }

    /// The current worker limit.
    pub fn max_workers(&self) -> usize {
        self.inner.max_workers()
    }

    /// Jobs waiting in the queue now.
    pub fn queue_len(&self) -> usize {
        self.inner.lock().queue_len()
    }

    /// A snapshot of the pool's counters.
    pub fn stats(&self) -> Stats {
        self.inner.lock().stats()
    }
}

/// Drops jobs the pool did not accept, without answering them: their submitter is told.
fn refuse(entries: impl Iterator<Item = Box<Entry>>) {
    for mut entry in entries {
        entry.ticket.refuse();
    }
}

/// Checks a job before it is accepted, naming it by its batch index when it has one.
pub(crate) fn validate(job: &Job, index: Option<usize>) -> Result<(), JobError> {
    job.validate().map_err(|reason| JobError::InvalidJob {
        reason: match index {
            Some(i) => format!("job {i}: {reason}"),
            None => reason,
        },
    })
}

impl Inner {
    /// Starts workers for queued jobs, as many as the limit allows.
    pub(crate) fn start_queued(self: &Arc<Self>) {
        let starts: Vec<_> = {
            let mut state = self.lock();
            std::iter::from_fn(|| state.pop_for_new_worker()).collect()
        };
        for (entry, slot, token) in starts {
            self.start_worker(entry, slot, token);
        }
    }

    /// Pauses or resumes dispatch; returns the pause epoch this change made.
    fn set_paused(&self, paused: bool) -> u64 {
        let mut state = self.lock();
        state.paused = paused;
        state.pause_epoch += 1;
        state.pause_epoch
    }

    /// [`ProcessPool::pause_for`].
    pub(crate) fn pause_for(self: &Arc<Self>, time: std::time::Duration) {
        let epoch = self.set_paused(true);
        let inner = Arc::downgrade(self);
        self.runtime.spawn(async move {
            tokio::time::sleep(time).await;
            if let Some(inner) = inner.upgrade()
                && inner.lock().pause_epoch == epoch
            {
                inner.set_paused(false);
                inner.start_queued();
            }
        });
    }

    /// The current worker limit.
    pub(crate) fn max_workers(&self) -> usize {
        self.lock().max_workers
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is only changed in short sections that cannot panic half-way, so a
        // poisoned lock still holds consistent data.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Accepts a job once there is room for it.
    pub(crate) async fn submit(
        self: &Arc<Self>,
        job: Job,
        index: usize,
        owner: Owner,
    ) -> Result<JobHandle, JobError> {
        validate(&job, (!matches!(owner, Owner::Caller)).then_some(index))?;
        let room = match &self.room {
            None => None,
            Some(room) => Some(
                Arc::clone(room)
                    .acquire_owned()
                    .await
                    .map_err(|_| JobError::PoolClosed)?,
            ),
        };
        self.admit(job, index, room, owner)
    }

    /// Whether accepting a job may have to wait for room.
    pub(crate) fn is_bounded(&self) -> bool {
        self.room.is_some()
    }

    /// Accepts a job that has room: starts it if a worker is free, else queues it.
    pub(crate) fn admit(
        self: &Arc<Self>,
        job: Job,
        index: usize,
        room: Option<OwnedSemaphorePermit>,
        owner: Owner,
    ) -> Result<JobHandle, JobError> {
        self.pending.add(1);
        let (entry, handle) = self.prepare(job, index, room, owner, Instant::now());
        let mut entries = std::iter::once(entry);
        if let Err(error) = self.enter(&mut entries) {
            refuse(entries);
            return Err(error);
        }
        Ok(handle)
    }

    /// Accepts a batch of valid jobs into an unbounded queue, a chunk per lock. If the pool
    /// closes half-way, the jobs already accepted are cancelled and reaped (the others, refused,
    /// are answered `Cancelled`), then the error is returned.
    pub(crate) async fn admit_batch(
        self: &Arc<Self>,
        jobs: Vec<Job>,
        owner: Owner,
    ) -> Result<Vec<JobHandle>, JobError> {
        let mut handles = Vec::with_capacity(jobs.len());
        let mut entries = Vec::with_capacity(jobs.len());
        self.pending.add(jobs.len());
        // One time for the whole batch, taken before any of it is accepted.
        let submitted = Instant::now();
        for (index, job) in jobs.into_iter().enumerate() {
            let (entry, handle) = self.prepare(job, index, None, owner.clone(), submitted);
            entries.push(entry);
            handles.push(handle);
        }
        let mut entries = entries.into_iter();
        while entries.len() > 0 {
            if let Err(error) = self.enter(&mut entries.by_ref().take(ENTER_CHUNK)) {
                if let Owner::Collect(collector) = &owner {
                    collector.forget(entries.len());
                }
                refuse(entries);
                cancel_and_reap(handles, &owner).await;
                return Err(error);
            }
        }
        Ok(handles)
    }

    /// A job's ticket, boxed in its queue entry, and its handle. The caller has counted it as
    /// pending.
    fn prepare(
        self: &Arc<Self>,
        job: Job,
        index: usize,
        room: Option<OwnedSemaphorePermit>,
        owner: Owner,
        submitted: Instant,
    ) -> (Box<Entry>, JobHandle) {
        let id = JobId(self.next_id.fetch_add(1, Relaxed));
        let (ticket, handle) = Ticket::issue(self, id, index, job, owner);
        let entry = Box::new(Entry {
            ticket,
            attempts: 0,
            room,
            submitted,
        });
        (entry, handle)
    }

    /// Places prepared jobs under one lock, then starts the workers they need. A closed pool
    /// refuses them all (their tickets, dropped, answer `Cancelled` to nobody).
    fn enter(self: &Arc<Self>, entries: impl Iterator<Item = Box<Entry>>) -> Result<(), JobError> {
        let mut placed = Vec::new();
        {
            let mut state = self.lock();
            if state.closed {
                return Err(JobError::PoolClosed);
            }
            for entry in entries {
                state.tally.submitted += 1;
                match state.place(entry) {
                    Placement::Queued => {}
                    other => placed.push(other),
                }
            }
        }
        for placement in placed {
            self.dispatch(placement);
        }
        Ok(())
    }

    /// Starts a worker for a placed job, or answers a refused one; outside the lock.
    fn dispatch(self: &Arc<Self>, placement: Placement) {
        match placement {
            Placement::Run(entry, slot, token) => self.start_worker(entry, slot, token),
            Placement::Queued => {}
            Placement::Refused(entry) => self.finish_unrun(entry, Outcome::Cancelled),
        }
    }

    /// Counts what the worker in `slot` reports, and gives it its next job or retires it.
    pub(crate) fn next_job(&self, slot: usize, report: &Report) -> Next {
        self.lock().next(slot, report)
    }

    /// Answers a job whose retry wait was cancelled.
    fn finish_retry_cancelled(&self, entry: Box<Entry>) {
        self.lock().retry_wait_cancelled();
        self.finish_unrun(entry, Outcome::Cancelled);
    }

    /// Hands a job that will be retried over from the worker in `slot` to its retry. Gives
    /// the job back if it was cancelled since its attempt ended.
    pub(crate) fn retry(
        self: &Arc<Self>,
        slot: usize,
        entry: Box<Entry>,
        delay: Duration,
    ) -> Result<(), Box<Entry>> {
        let handed = self.lock().hand_over_for_retry(slot, entry, delay);
        match handed {
            HandOver::Cancelled(entry) => return Err(entry),
            HandOver::Placed(placement) => self.dispatch(placement),
            HandOver::Waiting(entry, wait) => {
                let inner = Arc::clone(self);
                self.runtime.spawn(async move {
                    tokio::select! {
                        () = tokio::time::sleep(delay) => inner.requeue(entry),
                        () = wait.cancelled() => inner.finish_retry_cancelled(entry),
                    }
                });
            }
        }
        Ok(())
    }

    /// Puts a job whose retry wait is over back in line, unless a cancel ended the wait first.
    fn requeue(self: &Arc<Self>, entry: Box<Entry>) {
        let placement = {
            let mut state = self.lock();
            if state.end_retry_wait(entry.ticket.id) {
                state.place(entry)
            } else {
                state.retry_wait_cancelled();
                Placement::Refused(entry)
            }
        };
        self.dispatch(placement);
    }

    /// A worker task died without retiring: give its place back, and hand it on to a queued
    /// job if one is waiting.
    pub(crate) fn retire_abnormally(self: &Arc<Self>, slot: usize) {
        let next = {
            let mut state = self.lock();
            state.vacate(slot);
            state.pop_for_new_worker()
        };
        if let Some((entry, slot, token)) = next {
            self.start_worker(entry, slot, token);
        }
    }

    /// Cancels a job wherever it is; a queued job is answered at once.
    pub(crate) fn cancel(&self, id: JobId, key: &QueueKey) {
        let found = self.lock().cancel(id, key);
        if let Cancelled::Withdrawn(entry) = found {
            self.finish_unrun(entry, Outcome::Cancelled);
        }
    }

    /// Answers a job that ends without (another) run; the caller has counted it.
    pub(crate) fn finish_unrun(&self, mut entry: Box<Entry>, outcome: Outcome) {
        let result = entry.ticket.final_result(outcome, entry.attempts, None);
        self.finish(entry, result);
    }

    /// The one place where a job ends: tell the hooks, answer the handle.
    pub(crate) fn finish(&self, mut entry: Box<Entry>, result: JobResult) {
        self.hooks.complete(&result);
        tracing::debug!(id = %result.id, program = %result.program, outcome = %result.outcome, "job ended");
        entry.ticket.answer(result);
    }
}
