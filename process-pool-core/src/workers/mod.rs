//! Warm worker pools: long-lived workers serving many named calls each over the process-pool
//! protocol ([`process_pool_protocol`]), on the engine the job pool runs on.
//!
//! - [`WorkerPool`] (this file): the public face.
//! - `state`: the workers and their calls, under the lock; `dispatch`: sending calls and
//!   settling their answers; `stopping`: cancels, timeouts, retiring and stopping workers;
//!   `faults`: starts that fail and workers that die; `conn`: the task serving one worker;
//!   `upkeep`: health pings, idle scale-down, memory checks.

mod builder;
mod call;
mod conn;
mod dispatch;
mod error;
mod faults;
mod state;
mod stats;
mod stopping;
mod upkeep;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::time::Instant;

use bytes::Bytes;
use process_pool_protocol::MAX_NAME_LEN;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use self::builder::{WorkerEvent, WorkerPoolBuilder};
pub use self::call::{Call, CallHandle, CallId};
pub use self::error::CallError;
pub use self::stats::{WorkerInfo, WorkerStats};

use self::builder::{Config, Hooks};
use self::call::CallEntry;
use self::state::{Retire, State, Status};
use crate::Stats;
use crate::backend::WorkerSpawner;
use crate::engine::lifecycle::lifecycle_methods;
use crate::engine::ticket::{Collector, Destination, Pending, Receipt, Ticket};
use crate::engine::{Core, Engine, Lease};
use crate::error::ConfigError;

/// A pool of long-lived workers, each serving many calls of named methods.
///
/// Built by [`WorkerPool::builder`] with a backend's
/// [`WorkerSpawner`](crate::backend::WorkerSpawner); cheap to clone (all clones are one pool).
///
/// **Dispatch**: a call goes to the ready worker with the fewest calls in flight (ties: the one
/// idle longest), else to a new worker while under `max_workers`, else to the queue (higher
/// priority first, first-in first-out among equals).
///
/// **Faults**: a worker that exits, crashes, hangs (a health check's ping unanswered, busy or
/// idle), ignores a cancel, or breaks the protocol is killed and replaced; each of its calls is
/// retried under the pool's [`RetryPolicy`](crate::RetryPolicy) (by default up to 3 attempts
/// when a worker dies under a call; never a [`no_retry`](Call::no_retry) call), then fails with
/// [`CallError::WorkerCrashed`] or [`CallError::ProtocolError`]. Every call gets exactly one
/// answer.
///
/// **Life**: [`close`](Self::close) refuses new calls, [`drain`](Self::drain) waits for the
/// accepted ones, [`shutdown`](Self::shutdown) does both within a grace, then cancels what is
/// left, stops every worker and returns the final [`Stats`].
///
/// **A pool lives as long as a handle on it**: a clone of the pool, or the [`CallHandle`] of
/// a call. When the last one goes, the pool stops at once, as `shutdown(Duration::ZERO)`
/// would: calls still queued or running, which nobody can see any more, are cancelled, and
/// every worker is killed with its process group (a worker still starting too). (This is the
/// same rule as [`ProcessPool`](crate::ProcessPool)'s.)
#[derive(Debug, Clone)]
pub struct WorkerPool {
    shared: Arc<Shared>,
    lease: Arc<Lease<Shared>>,
}

/// What the worker tasks and the pool's handles share.
pub(crate) struct Shared {
    pub(crate) spawner: Arc<dyn WorkerSpawner>,
    pub(crate) config: Config,
    pub(crate) hooks: Hooks,
    pub(crate) runtime: Handle,
    state: Mutex<State>,
    pub(crate) pending: Arc<Pending>,
    /// Fires when the pool stops: the upkeep task ends.
    pub(crate) stopping: CancellationToken,
    pub(crate) tasks: TaskTracker,
    /// Notified whenever a worker becomes ready, a start fails or the pool closes.
    pub(crate) changed: Notify,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("spawner", &self.spawner.describe())
            .finish_non_exhaustive()
    }
}

impl WorkerPool {
    /// A builder with the defaults: up to one worker per CPU, one call at a time per worker.
    pub fn builder() -> WorkerPoolBuilder {
        WorkerPoolBuilder::default()
    }

    pub(crate) fn start(
        spawner: Arc<dyn WorkerSpawner>,
        config: Config,
        hooks: Hooks,
        runtime: Handle,
    ) -> Self {
        let shared = Arc::new(Shared {
            spawner,
            hooks,
            runtime,
            state: Mutex::new(State::new(config.min_workers, config.options.max_workers)),
            config,
            pending: Arc::default(),
            stopping: CancellationToken::new(),
            tasks: TaskTracker::new(),
            changed: Notify::new(),
        });
        shared.dispatch(shared.lock());
        let c = &shared.config;
        if c.health_check.is_some() || c.idle_timeout.is_some() || c.max_memory_per_worker.is_some()
        {
            shared.runtime.spawn(upkeep::run(Arc::downgrade(&shared)));
        }
        WorkerPool {
            lease: Lease::new(&shared),
            shared,
        }
    }

    /// Submits a call and returns its handle at once.
    ///
    /// A call that cannot be sent (a method name longer than a frame can carry, 65,535 bytes,
    /// or empty) is answered [`CallError::InvalidCall`] at once, and a closed pool answers
    /// [`CallError::PoolClosed`]; nothing is sent to a worker then.
    pub fn submit(&self, call: Call) -> CallHandle {
        self.shared
            .submit(call, 0, &Destination::Receipt, Arc::clone(&self.lease))
    }

    /// Calls `method` with `payload` and waits for the reply.
    ///
    /// ```no_run
    /// # async fn example(pool: process_pool::WorkerPool) -> Result<(), process_pool::CallError> {
    /// let reply = pool.call("upper", "abc").await?;
    /// assert_eq!(reply, "ABC");
    /// # Ok(()) }
    /// ```
    pub async fn call(
        &self,
        method: impl Into<String>,
        payload: impl Into<Bytes>,
    ) -> Result<Bytes, CallError> {
        self.submit(Call::new(method, payload)).await
    }

    /// Submits every call at once and returns their answers in the same order.
    pub async fn call_many<I>(&self, calls: I) -> Vec<Result<Bytes, CallError>>
    where
        I: IntoIterator<Item = Call>,
    {
        let calls: Vec<Call> = calls.into_iter().collect();
        // Answers go straight into the batch's cells: no channel and no wake per call.
        let collector = Arc::new(Collector::new(calls.len()));
        let to = Destination::Collect(Arc::clone(&collector));
        for (index, call) in calls.into_iter().enumerate() {
            drop(
                self.shared
                    .submit(call, index, &to, Arc::clone(&self.lease)),
            );
        }
        collector.filled().await;
        collector
            .take()
            .into_iter()
            .map(|answer| answer.unwrap_or(Err(CallError::PoolClosed)))
            .collect()
    }

    /// Calls `method` with `argument` as JSON and reads the reply as JSON.
    ///
    /// ```no_run
    /// # async fn example(pool: process_pool::WorkerPool) -> Result<(), process_pool::CallError> {
    /// let sum: i64 = pool.call_json("add", &(2, 40)).await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "json")]
    pub async fn call_json<A, R>(&self, method: &str, argument: &A) -> Result<R, CallError>
    where
        A: serde::Serialize + ?Sized,
        R: serde::de::DeserializeOwned,
    {
        let json_error = |what: &str, e: serde_json::Error| CallError::Json {
            method: method.to_owned(),
            reason: format!("{what}: {e}"),
        };
        let payload = serde_json::to_vec(argument).map_err(|e| json_error("argument", e))?;
        let reply = self.call(method, payload).await?;
        serde_json::from_slice(&reply).map_err(|e| json_error("reply", e))
    }

    /// Waits until `min_workers` workers (at least one) have started and said hello, starting
    /// one if none is; fails if a worker cannot be started.
    pub async fn ready(&self) -> Result<(), CallError> {
        {
            let mut state = self.shared.lock();
            state.last_start_failure = None;
            state.start_blocked = false;
        }
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut state = self.shared.lock();
                if !state.core.is_open() {
                    return Err(CallError::PoolClosed);
                }
                let want = state.min_workers.max(1).min(state.max_workers);
                if state.ready() >= want {
                    return Ok(());
                }
                if let Some(failure) = state.last_start_failure.take() {
                    return Err(failure);
                }
                while state.live() < want {
                    self.shared.start_worker(&mut state);
                }
            }
            changed.await;
        }
    }

    /// A snapshot of the pool's workers.
    pub fn workers(&self) -> WorkerStats {
        self.shared.lock().worker_stats()
    }

    /// Sets the worker bounds at run time; extra workers retire when idle.
    pub fn resize(&self, min_workers: usize, max_workers: usize) -> Result<(), ConfigError> {
        crate::pool::check_workers(max_workers, self.shared.spawner.capacity())?;
        if min_workers > max_workers {
            return Err(ConfigError::Invalid {
                name: "min_workers",
                reason: format!("{min_workers} is more than max_workers ({max_workers})"),
            });
        }
        let mut state = self.shared.lock();
        state.min_workers = min_workers;
        state.max_workers = max_workers;
        let live: Vec<_> = state
            .workers
            .iter()
            .filter(|(_, s)| matches!(s.status, Status::Ready | Status::Starting))
            .map(|(&id, _)| id)
            .collect();
        for id in live.into_iter().skip(max_workers) {
            if let Some(slot) = state.workers.get_mut(&id) {
                slot.status = Status::Retiring(Retire::Resized);
            }
        }
        self.shared.retire_idle(&mut state);
        self.shared.dispatch(state);
        Ok(())
    }

    /// The current upper bound of workers.
    pub fn max_workers(&self) -> usize {
        self.shared.lock().max_workers
    }

    lifecycle_methods!("calls");

    fn engine(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Engine for Shared {
    type Item = CallEntry;
    type State = State;

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn core(state: &mut State) -> &mut Core<CallEntry> {
        &mut state.core
    }

    fn runtime(&self) -> &Handle {
        &self.runtime
    }

    fn pending(&self) -> &Pending {
        &self.pending
    }

    fn dispatch(self: &Arc<Self>, mut state: MutexGuard<'_, State>) {
        self.send_queued(&mut state);
    }

    /// Refuses new calls, and tells `ready` waiters.
    fn close(&self) {
        self.lock().core.close();
        self.changed.notify_waiters();
    }

    fn cancel(self: &Arc<Self>, entries: Vec<CallEntry>) {
        for mut entry in entries {
            let method = entry.method();
            entry.answer(Err(CallError::Cancelled { method }));
        }
    }

    fn stop(self: &Arc<Self>) {
        self.stop_now();
    }

    fn stats(&self) -> Stats {
        self.lock().stats()
    }

    async fn ended(self: &Arc<Self>) {
        {
            let mut state = self.lock();
            self.retire_all(&mut state);
        }
        self.stopping.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        Engine::lock(self)
    }

    /// Accepts a call, answering it at once if it cannot be sent or the pool is closed.
    fn submit(
        self: &Arc<Self>,
        call: Call,
        index: usize,
        to: &Destination<Result<Bytes, CallError>>,
        lease: Arc<Lease<Shared>>,
    ) -> CallHandle {
        let mut refusal = invalid(&call).map(|reason| CallError::InvalidCall {
            method: cut(&call.method),
            reason,
        });
        let mut state = self.lock();
        let id = state.next_call;
        state.next_call += 1;
        if refusal.is_none() && !state.core.is_open() {
            refusal = Some(CallError::PoolClosed);
        }
        self.pending.add(1);
        let priority = call.priority;
        let (mut ticket, receipt) = Ticket::issue(id, index, priority, call, to, &self.pending);
        let key = ticket.key;
        match refusal {
            Some(error) => {
                drop(state);
                ticket.answer(Err(error));
            }
            None => {
                state.start_blocked = false;
                state.core.tally.submitted(1);
                state.core.queue.push(
                    key,
                    CallEntry {
                        ticket,
                        attempts: 0,
                        submitted: Instant::now(),
                        sent: None,
                        wire: 0,
                        timer: None,
                    },
                );
                self.send_queued(&mut state);
            }
        }
        CallHandle {
            id,
            key,
            receipt: receipt.unwrap_or_else(Receipt::none),
            lease,
        }
    }
}

/// Why a call cannot be sent as it is, if it cannot.
fn invalid(call: &Call) -> Option<String> {
    let len = call.method.len();
    if len == 0 {
        Some("the method name is empty".into())
    } else if len > MAX_NAME_LEN {
        Some(format!(
            "the method name is {len} bytes, over the protocol's limit of {MAX_NAME_LEN}"
        ))
    } else {
        None
    }
}

/// The first 64 bytes of a method name, for an error about it.
fn cut(method: &str) -> String {
    if method.len() <= 64 {
        return method.to_owned();
    }
    let mut end = 64;
    while !method.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &method[..end])
}
