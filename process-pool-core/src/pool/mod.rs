//! [`ProcessPool`]: accepts jobs, queues them, and runs at most `max_workers` at a time through a
//! [`Spawner`], on the engine it shares with the worker pool.

mod batch;
mod builder;
mod handle;
mod hooks;
mod runner;
mod state;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

pub use self::batch::ResultStream;
pub use self::builder::{DEFAULT_KILL_GRACE, DEFAULT_OUTPUT_LIMIT, PoolBuilder};
pub use self::handle::JobHandle;
pub use self::hooks::{JobRetry, JobStart};

pub(crate) use self::builder::{check_workers, default_workers};
pub(crate) use self::runner::class_of;

use self::builder::Config;
use self::handle::{JobTicket, Owner, cancel_and_reap};
use self::hooks::Hooks;
use self::state::{Cancelled, Entry, State};
use crate::Stats;
use crate::backend::Spawner;
use crate::engine::lifecycle::lifecycle_methods;
use crate::engine::queue::QueueKey;
use crate::engine::ticket::{Destination, Pending, Ticket};
use crate::engine::{Core, Engine, Lease};
use crate::error::{ConfigError, JobError};
use crate::job::Job;
use crate::result::{JobId, JobResult, Outcome};

/// A bounded pool of workers running [`Job`]s through a [`Spawner`].
///
/// Cheap to clone: clones share one pool. Jobs run at most `max_workers` at a time; the rest
/// wait in a priority queue. Every accepted job yields exactly one [`JobResult`], whatever
/// happens to it (exit, signal, timeout, cancel, spawn failure, shutdown).
///
/// **A pool lives as long as a handle on it**: a clone of the pool, a [`ResultStream`], or the
/// [`JobHandle`] of a job not yet awaited. When the last one goes, the pool stops at once, as
/// `shutdown(Duration::ZERO)` would: jobs still queued or running, which nobody can see any
/// more, are cancelled and their process trees killed. So dropping a job's handle detaches the
/// job while the pool is held, and dropping the pool lets the handles still held get their
/// results; call [`shutdown`](Self::shutdown) or [`drain`](Self::drain) first to let detached
/// jobs finish. (This is the same rule as [`WorkerPool`](crate::WorkerPool)'s.)
///
/// ```
/// # // It runs Unix programs (sh, echo, cat...); Windows runs its own in process-pool-native.
/// # #[cfg(unix)]
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use process_pool::{job, NativeSpawner};
///
/// let pool = NativeSpawner::pool(4)?;
/// let results = pool.run_all([job("echo", ["hello"]), job("echo", ["world"])]).await?;
/// assert_eq!(results[1].stdout_lossy(), "world\n");
/// let stats = pool.shutdown(Duration::from_secs(5)).await;
/// assert_eq!(stats.succeeded, 2);
/// # Ok(()) }
/// # #[cfg(not(unix))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
pub struct ProcessPool {
    pub(crate) inner: Arc<Inner>,
    pub(crate) lease: Arc<Lease<Inner>>,
}

/// What all clones of a pool, its handles and its workers share.
pub(crate) struct Inner {
    pub(crate) spawner: Arc<dyn Spawner>,
    pub(crate) config: Config,
    pub(crate) hooks: Hooks,
    pub(crate) runtime: Handle,
    state: Mutex<State>,
    pending: Arc<Pending>,
    /// One permit per free place in a bounded queue.
    room: Option<Arc<Semaphore>>,
    next_id: AtomicU64,
    /// The workers running pipelines hold.
    pub(crate) pipelines: crate::pipeline::Gate,
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
        let state = State::new(config.options.max_workers);
        let inner = Arc::new(Inner {
            spawner,
            config,
            hooks,
            runtime,
            state: Mutex::new(state),
            pending: Arc::default(),
            room,
            next_id: AtomicU64::new(0),
            pipelines: crate::pipeline::Gate::default(),
        });
        ProcessPool {
            lease: Lease::new(&inner),
            inner,
        }
    }

    /// Submits one job, waiting for room if the queue is bounded and full.
    ///
    /// Fails with [`JobError::InvalidJob`] for a job that cannot run (see [`Job::validate`])
    /// and [`JobError::PoolClosed`] once the pool is closed.
    pub async fn submit(&self, job: Job) -> Result<JobHandle, JobError> {
        self.inner
            .submit(job, 0, Owner::Caller(Arc::clone(&self.lease)))
            .await
    }

    /// Submits one job if there is room now; fails with [`JobError::QueueFull`] otherwise.
    pub fn try_submit(&self, job: Job) -> Result<JobHandle, JobError> {
        job.validate()?;
        let room = match &self.inner.room {
            None => None,
            Some(room) => Some(Arc::clone(room).try_acquire_owned().map_err(|e| match e {
                TryAcquireError::Closed => JobError::PoolClosed,
                TryAcquireError::NoPermits => JobError::QueueFull {
                    capacity: self.inner.config.queue_capacity.unwrap_or_default(),
                },
            })?),
        };
        self.inner
            .admit(job, 0, room, Owner::Caller(Arc::clone(&self.lease)))
    }

    /// Changes the worker limit of a running pool. Growing starts queued jobs at once;
    /// shrinking lets running jobs finish and starts no new ones until below the new limit.
    ///
    /// Fails for 0, and for more than the spawner can run at once
    /// ([`Spawner::capacity`]).
    pub fn set_max_workers(&self, n: usize) -> Result<(), ConfigError> {
        builder::check_workers(n, self.inner.spawner.capacity())?;
        let mut state = self.inner.lock();
        state.max_workers = n;
        self.inner.dispatch(state);
        Ok(())
    }

    /// The current worker limit.
    pub fn max_workers(&self) -> usize {
        self.inner.lock().max_workers
    }

    lifecycle_methods!("jobs");

    fn engine(&self) -> &Arc<Inner> {
        &self.inner
    }
}

/// Drops jobs the pool did not accept, without answering them: their submitter is told.
fn refuse(entries: impl Iterator<Item = Box<Entry>>) {
    for entry in entries {
        let Entry { ticket, .. } = *entry;
        ticket.refuse();
    }
}

/// Checks a job before it is accepted, naming it by its batch index when it has one.
pub(crate) fn validate(job: &Job, index: Option<usize>) -> Result<(), JobError> {
    job.validate().map_err(|error| match (error, index) {
        (JobError::InvalidJob { reason }, Some(i)) => JobError::InvalidJob {
            reason: format!("job {i}: {reason}"),
        },
        (error, _) => error,
    })
}

impl Engine for Inner {
    type Item = Box<Entry>;
    type State = State;

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is only changed in short sections that cannot panic half-way, so a
        // poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn core(state: &mut State) -> &mut Core<Box<Entry>> {
        &mut state.core
    }

    fn runtime(&self) -> &Handle {
        &self.runtime
    }

    fn pending(&self) -> &Pending {
        &self.pending
    }

    /// Starts workers for queued jobs, as many as the limit allows.
    fn dispatch(self: &Arc<Self>, mut state: MutexGuard<'_, State>) {
        let starts: Vec<_> = std::iter::from_fn(|| state.pop_for_new_worker()).collect();
        drop(state);
        for (entry, slot, token) in starts {
            self.start_worker(entry, slot, token);
        }
    }

    /// Closes the pool: new jobs are refused, waiting submitters woken.
    fn close(&self) {
        self.lock().core.close();
        if let Some(room) = &self.room {
            room.close();
        }
    }

    fn cancel(self: &Arc<Self>, entries: Vec<Box<Entry>>) {
        for entry in entries {
            self.finish_unrun(entry, Outcome::Cancelled);
        }
    }

    fn stop(self: &Arc<Self>) {
        let left = self.lock().stop();
        self.cancel(left);
    }

    fn stats(&self) -> Stats {
        self.lock().stats()
    }

    async fn ended(self: &Arc<Self>) {
        // A job's processes are gone when it is answered: nothing else to wait for.
    }
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        Engine::lock(self)
    }

    /// The current worker limit.
    pub(crate) fn max_workers(&self) -> usize {
        self.lock().max_workers
    }

    /// Accepts a job once there is room for it.
    pub(crate) async fn submit(
        self: &Arc<Self>,
        job: Job,
        index: usize,
        owner: Owner,
    ) -> Result<JobHandle, JobError> {
        validate(&job, (!matches!(owner, Owner::Caller(_))).then_some(index))?;
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

    /// Accepts a valid job that has room: starts it if a worker is free, else queues it.
    pub(crate) fn admit(
        self: &Arc<Self>,
        job: Job,
        index: usize,
        room: Option<OwnedSemaphorePermit>,
        owner: Owner,
    ) -> Result<JobHandle, JobError> {
        self.pending.add(1);
        let to = owner.destination();
        let (entry, handle) = self.prepare(job, index, room, (&owner, &to), Instant::now());
        let mut entries = std::iter::once(entry);
        if let Err(error) = self.enter(&mut entries) {
            refuse(entries);
            return Err(error);
        }
        Ok(handle)
    }

    /// Accepts a batch of valid jobs into an unbounded queue, a chunk per lock. If the pool
    /// closes half-way, the jobs already accepted are cancelled and reaped (the others are
    /// refused), then the error is returned.
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
        let to = owner.destination();
        for (index, job) in jobs.into_iter().enumerate() {
            let (entry, handle) = self.prepare(job, index, None, (&owner, &to), submitted);
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
        (owner, to): (&Owner, &Destination<JobResult>),
        submitted: Instant,
    ) -> (Box<Entry>, JobHandle) {
        let id = self.next_id.fetch_add(1, Relaxed);
        let priority = job.get_priority();
        let (ticket, receipt): (JobTicket, _) =
            Ticket::issue(id, index, priority, job, to, &self.pending);
        let handle = JobHandle::new(receipt, &ticket, self, owner);
        let entry = Box::new(Entry {
            ticket,
            attempts: 0,
            room,
            submitted,
        });
        (entry, handle)
    }

    /// Places prepared jobs under one lock, then starts the workers they need. A closed pool
    /// refuses them all, leaving them in `entries`.
    fn enter(self: &Arc<Self>, entries: impl Iterator<Item = Box<Entry>>) -> Result<(), JobError> {
        let mut starts = Vec::new();
        {
            let mut state = self.lock();
            if !state.core.is_open() {
                return Err(JobError::PoolClosed);
            }
            for entry in entries {
                state.core.tally.submitted(1);
                starts.extend(state.place(entry));
            }
        }
        for (entry, slot, token) in starts {
            self.start_worker(entry, slot, token);
        }
        Ok(())
    }

    /// Cancels a job wherever it is; a queued or waiting job is answered at once.
    pub(crate) fn cancel_job(&self, id: JobId, key: &QueueKey) {
        let found = self.lock().cancel(id.0, key);
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
