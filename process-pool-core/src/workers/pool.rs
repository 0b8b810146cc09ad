//! [`WorkerPool`]: the policy of warm workers: dispatch, queue, retries, cancels, recycling,
//! health checks, scaling and shutdown. Each worker is served by one task ([`super::conn`]);
//! everything they share is in one [`State`] under one lock, held only for bookkeeping.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use process_pool_protocol::{ErrorCode, Frame, Kind};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::backend::{WorkerControl, WorkerId, WorkerSpawner};
use super::builder::{Config, Hooks, Retry, WorkerPoolBuilder};
use super::call::{Call, CallHandle, CallId};
use super::error::CallError;
use super::stats::{WorkerInfo, WorkerPoolStats};
use crate::queue::{Queue, QueueKey};

/// A pool of long-lived workers, each serving many calls of named methods.
///
/// Built by [`WorkerPool::builder`] with a backend's [`WorkerSpawner`]; cheap to clone (all
/// clones are one pool). When the last clone is dropped, every worker is killed; call
/// [`shutdown`](WorkerPool::shutdown) to let the calls in flight finish first.
///
/// **Dispatch**: a call goes to the ready worker with the fewest calls in flight (ties: the one
/// idle longest), else to a new worker while under `max_workers`, else to the queue (higher
/// priority first, first-in first-out among equals).
///
/// **Faults**: a worker that exits, crashes, hangs past a health check, ignores a cancel, or
/// breaks the protocol is killed and replaced; each of its calls runs again on another worker
/// up to `retries` times (never a [`no_retry`](Call::no_retry) call), then fails with
/// [`CallError::WorkerCrashed`] or [`CallError::ProtocolError`]. Every call gets exactly one
/// answer.
#[derive(Debug, Clone)]
pub struct WorkerPool {
    shared: Arc<Shared>,
    _last_handle: Arc<KillOnDrop>,
}

/// What the worker tasks and the pool's handles share.
pub(crate) struct Shared {
    pub(crate) spawner: Arc<dyn WorkerSpawner>,
    pub(crate) config: Config,
    pub(crate) hooks: Hooks,
    state: Mutex<State>,
    /// Fires when the pool is dropped or shut down: the maintenance task ends.
    pub(crate) stopping: CancellationToken,
    pub(crate) tasks: TaskTracker,
    /// Notified whenever a worker becomes ready or a start fails.
    changed: Notify,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("spawner", &self.spawner.describe())
            .finish_non_exhaustive()
    }
}

/// Kills every worker when the last [`WorkerPool`] clone goes.
#[derive(Debug)]
struct KillOnDrop(Arc<Shared>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let shared = &self.0;
        shared.stopping.cancel();
        let mut state = shared.lock();
        state.closed = true;
        let state = &mut *state;
        for mut pending in state.queue.take_all() {
            if pending.answer(Err(CallError::PoolClosed)) {
                state.counters.calls_failed += 1;
            }
        }
        for slot in state.workers.values_mut() {
            for pending in slot.in_flight.values_mut() {
                if pending.answer(Err(CallError::PoolClosed)) {
                    state.counters.calls_failed += 1;
                }
            }
            if let Some(control) = &slot.control {
                control.kill();
            }
        }
    }
}

/// A call not answered yet.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) id: CallId,
    pub(crate) call: Call,
    key: QueueKey,
    pub(crate) attempts: u32,
    submitted: Instant,
    /// When its current attempt was sent to a worker.
    sent: Option<Instant>,
    /// `None` once the caller has been answered (a cancel or a timeout) while the worker
    /// still owes its reply.
    reply: Option<oneshot::Sender<Result<Bytes, CallError>>>,
    /// The timer of its current attempt's timeout, stopped once the call is answered.
    timer: Option<tokio::task::AbortHandle>,
}

impl Pending {
    /// Answers the caller, if not answered yet.
    pub(crate) fn answer(&mut self, result: Result<Bytes, CallError>) -> bool {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
        match self.reply.take() {
            Some(reply) => {
                let _ = reply.send(result);
                true
            }
            None => false,
        }
    }
}

/// Where a live call is.
#[derive(Debug, Clone, Copy)]
enum Location {
    Queued(QueueKey),
    OnWorker(WorkerId),
}

/// A worker's part in the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Being started; takes calls once it has said hello.
    Starting,
    /// Takes calls.
    Ready,
    /// Takes no new calls; sent a shutdown once idle.
    Retiring(Retire),
}

/// Why a worker is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retire {
    /// It served `max_tasks_per_worker` calls.
    Served(u64),
    /// Its memory went over `max_memory_per_worker`.
    Memory(u64),
    /// Idle past `idle_timeout`.
    Idle,
    /// Above the bounds set by `resize`.
    Resized,
    /// The pool is shutting down.
    ShutDown,
}

impl Retire {
    fn is_recycling(self) -> bool {
        matches!(self, Retire::Served(_) | Retire::Memory(_))
    }
}

impl std::fmt::Display for Retire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Retire::Served(n) => write!(f, "recycled after {n} calls"),
            Retire::Memory(bytes) => write!(f, "recycled: {bytes} bytes of memory, over the limit"),
            Retire::Idle => f.write_str("idle"),
            Retire::Resized => f.write_str("resized"),
            Retire::ShutDown => f.write_str("shut down"),
        }
    }
}

/// A worker as the pool sees it.
pub(crate) struct Slot {
    pub(crate) status: Status,
    pub(crate) to_worker: Option<mpsc::UnboundedSender<Frame>>,
    pub(crate) control: Option<Arc<dyn WorkerControl>>,
    capacity: usize,
    max_frame: usize,
    methods: Arc<Vec<String>>,
    pub(crate) in_flight: HashMap<CallId, Pending>,
    served: u64,
    last_used: Instant,
    /// An unanswered ping: its id and when it was sent.
    ping: Option<(u64, Instant)>,
    shutdown_sent: bool,
    /// Why the pool killed it, if it did.
    pub(crate) killed_because: Option<String>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("status", &self.status)
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

impl Slot {
    fn send(&self, frame: Frame) {
        if let Some(to_worker) = &self.to_worker {
            // A closed channel means the worker is going; its death is handled by its task.
            let _ = to_worker.send(frame);
        }
    }

    /// Kills the worker, saying why; its task then handles the death.
    pub(crate) fn kill(&mut self, why: impl Into<String>) {
        if self.killed_because.is_none() {
            self.killed_because = Some(why.into());
        }
        if let Some(control) = &self.control {
            control.kill();
        }
    }
}

/// Everything the pool's tasks and handles share, under one lock.
#[derive(Debug)]
pub(crate) struct State {
    queue: Queue<Pending>,
    calls: HashMap<CallId, Location>,
    pub(crate) workers: BTreeMap<WorkerId, Slot>,
    next_call: CallId,
    next_seq: u64,
    next_worker: WorkerId,
    next_ping: u64,
    pub(crate) closed: bool,
    pub(crate) counters: Counters,
    /// The bounds now (`resize` changes them).
    min_workers: usize,
    max_workers: usize,
    /// Why the last series of start attempts failed, for [`WorkerPool::ready`].
    last_start_failure: Option<CallError>,
    /// Set when a series of start attempts failed: `min_workers` is not kept up (no crash
    /// loop) until a call or [`WorkerPool::ready`] asks for a worker again.
    start_blocked: bool,
    /// Dispatch is paused: calls wait in the queue, calls in flight go on.
    paused: bool,
    /// Counts pauses and resumes, so that a timed pause ends only if nothing came after it.
    pause_epoch: u64,
    latency: crate::latency::Latency,
}

/// What [`WorkerPoolStats`] counts.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counters {
    pub(crate) started: u64,
    pub(crate) recycled: u64,
    pub(crate) crashed: u64,
    pub(crate) stopped: u64,
    pub(crate) start_failures: u64,
    pub(crate) calls_done: u64,
    pub(crate) calls_failed: u64,
    pub(crate) calls_retried: u64,
}

impl WorkerPool {
    /// A builder with the defaults: up to one worker per CPU, one call at a time per worker.
    pub fn builder() -> WorkerPoolBuilder {
        WorkerPoolBuilder::default()
    }

    pub(crate) fn start(spawner: Arc<dyn WorkerSpawner>, config: Config, hooks: Hooks) -> Self {
        let shared = Arc::new(Shared {
            spawner,
            hooks,
            state: Mutex::new(State {
                queue: Queue::new(),
                calls: HashMap::new(),
                workers: BTreeMap::new(),
                next_call: 1,
                next_seq: 0,
                next_worker: 1,
                next_ping: 1,
                closed: false,
                counters: Counters::default(),
                min_workers: config.min_workers,
                max_workers: config.max_workers,
                last_start_failure: None,
                start_blocked: false,
                paused: false,
                pause_epoch: 0,
                latency: crate::latency::Latency::default(),
            }),
            config,
            stopping: CancellationToken::new(),
            tasks: TaskTracker::new(),
            changed: Notify::new(),
        });
        {
            let mut state = shared.lock();
            shared.dispatch(&mut state);
        }
        let c = &shared.config;
        if c.health_check.is_some() || c.idle_timeout.is_some() || c.max_memory_per_worker.is_some()
        {
            tokio::spawn(super::upkeep::run(Arc::downgrade(&shared)));
        }
        WorkerPool {
            _last_handle: Arc::new(KillOnDrop(Arc::clone(&shared))),
            shared,
        }
    }

    /// Submits a call and returns its handle at once.
    ///
    /// A closed pool answers the handle with [`CallError::PoolClosed`].
    pub fn submit(&self, call: Call) -> CallHandle {
        let (reply, answer) = oneshot::channel();
        let method = call.method.clone();
        let mut state = self.shared.lock();
        let id = state.next_call;
        state.next_call += 1;
        if state.closed {
            let _ = reply.send(Err(CallError::PoolClosed));
        } else {
            state.start_blocked = false;
            let key = QueueKey::new(call.priority, state.next_seq);
            state.next_seq += 1;
            state.calls.insert(id, Location::Queued(key));
            let pending = Pending {
                id,
                call,
                key,
                attempts: 0,
                timer: None,
                submitted: Instant::now(),
                sent: None,
                reply: Some(reply),
            };
            state.queue.push(key, pending);
            self.shared.dispatch(&mut state);
        }
        CallHandle {
            id,
            method,
            reply: answer,
            pool: Arc::downgrade(&self.shared),
        }
    }

    /// Calls `method` with `payload` and waits for the reply.
    ///
    /// ```no_run
    /// # async fn example(pool: process_pool_core::WorkerPool) -> Result<(), process_pool_core::CallError> {
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
        let handles: Vec<CallHandle> = calls.into_iter().map(|c| self.submit(c)).collect();
        futures::future::join_all(handles).await
    }

    /// Calls `method` with `argument` as JSON and reads the reply as JSON.
    ///
    /// ```no_run
    /// # async fn example(pool: process_pool_core::WorkerPool) -> Result<(), process_pool_core::CallError> {
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
                if state.closed {
                    return Err(CallError::PoolClosed);
                }
                let want = state.min_workers.max(1).min(state.max_workers);
                let ready = state
                    .workers
                    .values()
                    .filter(|s| s.status == Status::Ready)
                    .count();
                if ready >= want {
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

    /// A snapshot of the pool's workers and counters.
    pub fn stats(&self) -> WorkerPoolStats {
        let state = self.shared.lock();
        let c = &state.counters;
        WorkerPoolStats {
            workers: state.workers.len(),
            started: c.started,
            recycled: c.recycled,
            crashed: c.crashed,
            stopped: c.stopped,
            start_failures: c.start_failures,
            calls_done: c.calls_done,
            calls_failed: c.calls_failed,
            calls_retried: c.calls_retried,
            queued: state.queue.len(),
            in_flight: state.workers.values().map(|s| s.in_flight.len()).sum(),
            wait: state.latency.wait(),
            run: state.latency.run(),
            paused: state.paused,
            per_worker: state
                .workers
                .iter()
                .map(|(&id, slot)| WorkerInfo {
                    id,
                    pid: slot.control.as_ref().and_then(|c| c.pid()),
                    ready: slot.status == Status::Ready,
                    in_flight: slot.in_flight.len(),
                    served: slot.served,
                })
                .collect(),
        }
    }

    /// Stops taking calls, answers the queued ones with [`CallError::Cancelled`], asks every
    /// worker to finish its calls and exit, and waits up to `grace` for them; then kills what
    /// is left (its calls answered with [`CallError::Cancelled`]). Returns when every worker
    /// process has ended.
    pub async fn shutdown(&self, grace: Duration) {
        {
            let mut guard = self.shared.lock();
            let state = &mut *guard;
            state.closed = true;
            for mut pending in state.queue.take_all() {
                if pending.answer(Err(CallError::Cancelled {
                    method: pending.call.method.clone(),
                })) {
                    state.counters.calls_failed += 1;
                }
            }
            state
                .calls
                .retain(|_, at| matches!(at, Location::OnWorker(_)));
            for slot in state.workers.values_mut() {
                slot.status = Status::Retiring(Retire::ShutDown);
            }
            // Workers still starting get theirs once they have said hello.
            self.shared.retire_idle(state);
        }
        self.shared.changed.notify_waiters();
        self.shared.stopping.cancel();
        self.shared.tasks.close();
        if tokio::time::timeout(grace, self.shared.tasks.wait())
            .await
            .is_err()
        {
            let mut guard = self.shared.lock();
            let state = &mut *guard;
            for slot in state.workers.values_mut() {
                for pending in slot.in_flight.values_mut() {
                    if pending.answer(Err(CallError::Cancelled {
                        method: pending.call.method.clone(),
                    })) {
                        state.counters.calls_failed += 1;
                    }
                }
                // A worker still starting is killed as soon as it has a handle.
                slot.kill("shut down: the grace ran out");
            }
        }
        self.shared.tasks.wait().await;
    }

    /// Pauses dispatch: calls are still accepted and queued, calls in flight go on, but none
    /// is sent until [`resume`](Self::resume).
    pub fn pause(&self) {
        self.set_paused(true);
    }

    /// Resumes dispatch after [`pause`](Self::pause).
    pub fn resume(&self) {
        self.set_paused(false);
    }

    /// Pauses dispatch for `time`, then resumes it (after a rate-limit hint, say), unless a
    /// `pause`, `resume` or `pause_for` came meanwhile: the latest one decides.
    pub fn pause_for(&self, time: Duration) {
        let mut state = self.shared.lock();
        let state = &mut *state;
        pause_for(
            &self.shared,
            &mut state.paused,
            &mut state.pause_epoch,
            time,
        );
    }

    fn set_paused(&self, paused: bool) {
        let mut state = self.shared.lock();
        state.paused = paused;
        state.pause_epoch += 1;
        self.shared.dispatch(&mut state);
    }

    /// Sets the worker bounds at run time; extra workers retire when idle.
    pub fn resize(&self, min_workers: usize, max_workers: usize) -> Result<(), crate::ConfigError> {
        if max_workers == 0 {
            return Err(crate::ConfigError::ZeroWorkers);
        }
        if min_workers > max_workers {
            return Err(crate::ConfigError::Invalid {
                name: "min_workers",
                reason: format!("{min_workers} is more than max_workers ({max_workers})"),
            });
        }
        let mut state = self.shared.lock();
        state.min_workers = min_workers;
        state.max_workers = max_workers;
        let live: Vec<WorkerId> = state
            .workers
            .iter()
            .filter(|(_, s)| matches!(s.status, Status::Ready | Status::Starting))
            .map(|(&id, _)| id)
            .collect();
        for &id in live.iter().skip(max_workers) {
            if let Some(slot) = state.workers.get_mut(&id) {
                slot.status = Status::Retiring(Retire::Resized);
            }
        }
        self.shared.retire_idle(&mut state);
        self.shared.dispatch(&mut state);
        Ok(())
    }
}

impl State {
    /// Workers starting or ready: not retiring.
    fn live(&self) -> usize {
        self.workers
            .values()
            .filter(|s| !matches!(s.status, Status::Retiring(_)))
            .count()
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends queued calls to workers with room (fewest in flight first, then the one idle
    /// longest), then starts workers while calls wait, or while under `min_workers`.
    pub(crate) fn dispatch(self: &Arc<Self>, state: &mut State) {
        while !state.paused && state.queue.len() > 0 {
            let Some(worker) = pick(state) else { break };
            let Some(mut pending) = state.queue.pop() else {
                break;
            };
            let id = pending.id;
            let slot = state
                .workers
                .get_mut(&worker)
                .expect("picked a live worker");
            let frame = Frame::call(
                id,
                pending.call.method.clone(),
                pending.call.payload.clone(),
            );
            if frame.encoded_len() > slot.max_frame {
                state.calls.remove(&id);
                state.counters.calls_failed += 1;
                let (len, max) = (frame.encoded_len(), slot.max_frame);
                let method = pending.call.method.clone();
                pending.answer(Err(CallError::TooLarge { method, len, max }));
                continue;
            }
            let now = Instant::now();
            // Its first dispatch (a call sent back by an overloaded worker is not).
            if pending.sent.is_none() {
                state
                    .latency
                    .waited(now.saturating_duration_since(pending.submitted));
            }
            pending.sent = Some(now);
            pending.attempts += 1;
            if let Some(limit) = pending.call.timeout.or(self.config.call_timeout) {
                let timer = self.expire_after(id, pending.attempts, limit);
                if let Some(earlier) = pending.timer.replace(timer) {
                    earlier.abort();
                }
            }
            slot.send(frame);
            slot.last_used = now;
            slot.in_flight.insert(id, pending);
            state.calls.insert(id, Location::OnWorker(worker));
        }
        if state.closed {
            return;
        }
        loop {
            let live = state.live();
            let starting = state
                .workers
                .values()
                .filter(|s| s.status == Status::Starting)
                .count();
            let coming = starting * self.config.max_calls_per_worker;
            let wanted =
                (state.queue.len() > coming) || (live < state.min_workers && !state.start_blocked);
            if live >= state.max_workers || !wanted {
                break;
            }
            self.start_worker(state);
        }
    }

    /// Starts a worker task; the worker takes calls once it has said hello.
    pub(crate) fn start_worker(self: &Arc<Self>, state: &mut State) -> WorkerId {
        let id = state.next_worker;
        state.next_worker += 1;
        state.workers.insert(
            id,
            Slot {
                status: Status::Starting,
                to_worker: None,
                control: None,
                capacity: 0,
                max_frame: 0,
                methods: Arc::default(),
                in_flight: HashMap::new(),
                served: 0,
                last_used: Instant::now(),
                ping: None,
                shutdown_sent: false,
                killed_because: None,
            },
        );
        self.tasks.spawn(super::conn::run(Arc::clone(self), id));
        id
    }

    /// A started worker said hello: it takes calls from now on. Returns `false` if the pool
    /// no longer wants it (closed meanwhile); the caller then stops it.
    pub(crate) fn worker_ready(
        self: &Arc<Self>,
        id: WorkerId,
        to_worker: mpsc::UnboundedSender<Frame>,
        control: Arc<dyn WorkerControl>,
        hello: &process_pool_protocol::Hello,
    ) -> bool {
        let mut state = self.lock();
        let closed = state.closed;
        let Some(slot) = state.workers.get_mut(&id) else {
            return false;
        };
        slot.to_worker = Some(to_worker);
        slot.control = Some(Arc::clone(&control));
        if slot.killed_because.is_some() {
            // Killed while it started (a shutdown's grace ran out): now it can be.
            control.kill();
            return false;
        }
        if closed {
            slot.status = Status::Retiring(Retire::ShutDown);
        }
        if matches!(slot.status, Status::Retiring(_)) {
            // Retired while it started (shut down, resized): its task asks it to go.
            drop(state);
            self.changed.notify_waiters();
            return false;
        }
        slot.status = Status::Ready;
        slot.capacity = (hello.concurrency as usize).min(self.config.max_calls_per_worker);
        slot.max_frame = usize::try_from(hello.max_frame).unwrap_or(usize::MAX);
        slot.methods = Arc::new(hello.methods.clone());
        slot.last_used = Instant::now();
        state.counters.started += 1;
        state.last_start_failure = None;
        self.dispatch(&mut state);
        drop(state);
        self.changed.notify_waiters();
        true
    }

    /// Every attempt to start the worker `id` failed. If no other worker is alive or coming,
    /// the queued calls fail with the reason.
    pub(crate) fn start_failed(&self, id: WorkerId, attempts: u32, reason: String) {
        let mut state = self.lock();
        state.workers.remove(&id);
        state.counters.start_failures += 1;
        let error = CallError::WorkerStart {
            program: self.spawner.describe(),
            attempts,
            reason,
        };
        if state.workers.is_empty() {
            for mut pending in state.queue.take_all() {
                pending.answer(Err(error.clone()));
                state.counters.calls_failed += 1;
            }
            state.calls.clear();
            state.start_blocked = true;
        }
        state.last_start_failure = Some(error);
        drop(state);
        self.changed.notify_waiters();
    }

    /// A frame from the worker `id`. An `Err` is a protocol violation: the worker is killed.
    pub(crate) fn on_frame(self: &Arc<Self>, id: WorkerId, frame: Frame) -> Result<(), String> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(slot) = state.workers.get_mut(&id) else {
            return Ok(());
        };
        match frame.kind {
            Kind::Reply | Kind::Error => {
                let Some(mut pending) = slot.in_flight.remove(&frame.id) else {
                    return Err(format!(
                        "a {:?} frame for call {}, which is not in flight on this worker",
                        frame.kind, frame.id
                    ));
                };
                slot.served += 1;
                slot.last_used = Instant::now();
                if let Some(sent) = pending.sent {
                    state
                        .latency
                        .ran(slot.last_used.saturating_duration_since(sent));
                }
                let code = (frame.kind == Kind::Error).then(|| ErrorCode::parse(&frame.name));
                let overloaded = code == Some(ErrorCode::Overloaded);
                let result = match code {
                    None => Ok(frame.payload),
                    Some(code) => Err(call_error(&pending, code, &frame.payload, &slot.methods)),
                };
                let retry = if pending.reply.is_none()
                    || state.closed
                    || pending.attempts > self.config.retries
                {
                    Retry::No
                } else if overloaded {
                    // It took fewer calls than it announced: never send it more than it holds
                    // now. The call did not run, so even a `no_retry` one goes again.
                    slot.capacity = slot.in_flight.len().max(1);
                    Retry::Again
                } else {
                    match (&result, &self.hooks.retry_when) {
                        (Err(error), Some(classify)) if !pending.call.no_retry => classify(error),
                        _ => Retry::No,
                    }
                };
                if retry == Retry::No {
                    state.calls.remove(&pending.id);
                    let ok = result.is_ok();
                    if pending.answer(result) {
                        if ok {
                            state.counters.calls_done += 1;
                        } else {
                            state.counters.calls_failed += 1;
                        }
                    }
                } else {
                    state.counters.calls_retried += 1;
                    state
                        .calls
                        .insert(pending.id, Location::Queued(pending.key));
                    state.queue.push(pending.key, pending);
                    if let Retry::AfterPause(time) = retry {
                        pause_for(self, &mut state.paused, &mut state.pause_epoch, time);
                    }
                }
                if slot.status == Status::Ready {
                    if let Some(limit) = self.config.max_tasks_per_worker
                        && slot.served >= limit
                    {
                        slot.status = Status::Retiring(Retire::Served(slot.served));
                    } else if slot.in_flight.is_empty() {
                        check_memory(slot, self.config.max_memory_per_worker);
                    }
                }
                self.retire_idle(state);
                self.dispatch(state);
                Ok(())
            }
            Kind::Pong => {
                if slot.ping.is_some_and(|(ping, _)| ping == frame.id) {
                    slot.ping = None;
                }
                Ok(())
            }
            other => Err(format!("a worker must not send a {other:?} frame")),
        }
    }

    /// Sends a shutdown to every retiring worker that has no call in flight, and kills it if
    /// it has not gone within `cancel_grace`.
    pub(crate) fn retire_idle(self: &Arc<Self>, state: &mut State) {
        for (&id, slot) in &mut state.workers {
            if matches!(slot.status, Status::Retiring(_))
                && slot.in_flight.is_empty()
                && !slot.shutdown_sent
                && slot.to_worker.is_some()
            {
                slot.shutdown_sent = true;
                slot.send(Frame::bare(Kind::Shutdown, 0));
                let grace = self.config.cancel_grace;
                self.after(grace, move |_, state| {
                    if let Some(slot) = state.workers.get_mut(&id) {
                        slot.kill(format!("did not exit within {grace:?} of a shutdown"));
                    }
                });
            }
        }
    }

    /// Answers the call `id` with `error` now (unless answered already): a queued call leaves
    /// the queue; a running one gets a cancel frame, and its worker is killed if it still owes
    /// the answer after `cancel_grace`.
    pub(crate) fn abandon(self: &Arc<Self>, id: CallId, error: CallError) {
        let mut state = self.lock();
        self.abandon_locked(&mut state, id, error);
    }

    /// [`abandon`](Self::abandon), under the lock.
    fn abandon_locked(self: &Arc<Self>, state: &mut State, id: CallId, error: CallError) {
        match state.calls.remove(&id) {
            None => {}
            Some(Location::Queued(key)) => {
                if let Some(mut pending) = state.queue.remove(&key) {
                    pending.answer(Err(error));
                    state.counters.calls_failed += 1;
                }
            }
            Some(Location::OnWorker(worker)) => {
                let Some(slot) = state.workers.get_mut(&worker) else {
                    return;
                };
                let Some(pending) = slot.in_flight.get_mut(&id) else {
                    return;
                };
                if pending.answer(Err(error)) {
                    state.counters.calls_failed += 1;
                }
                slot.send(Frame::bare(Kind::Cancel, id));
                let grace = self.config.cancel_grace;
                self.after(grace, move |_, state| {
                    if let Some(slot) = state.workers.get_mut(&worker)
                        && slot.in_flight.contains_key(&id)
                    {
                        slot.kill(format!("ignored a cancel of call {id} for {grace:?}"));
                    }
                });
            }
        }
    }

    /// Times the call `id` out after `limit`, if it is still on its `attempt` then.
    fn expire_after(
        self: &Arc<Self>,
        id: CallId,
        attempt: u32,
        limit: Duration,
    ) -> tokio::task::AbortHandle {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            let Some(shared) = weak.upgrade() else { return };
            let mut state = shared.lock();
            let Some(&Location::OnWorker(worker)) = state.calls.get(&id) else {
                return;
            };
            let method = match state
                .workers
                .get(&worker)
                .and_then(|s| s.in_flight.get(&id))
            {
                Some(p) if p.attempts == attempt => p.call.method.clone(),
                _ => return,
            };
            shared.abandon_locked(&mut state, id, CallError::TimedOut { method, limit });
        })
        .abort_handle()
    }

    /// Runs `then` under the lock after `delay`, if the pool is still there.
    fn after(
        self: &Arc<Self>,
        delay: Duration,
        then: impl FnOnce(&Arc<Shared>, &mut State) + Send + 'static,
    ) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(shared) = weak.upgrade() {
                let mut state = shared.lock();
                then(&shared, &mut state);
            }
        });
    }

    /// The worker `id` has ended (`exit`; `protocol`, if it broke the protocol).
    /// Its calls go back to the queue or fail; a replacement starts if needed. Returns the
    /// event for the hooks, and whether it was a crash.
    pub(crate) fn worker_died(
        self: &Arc<Self>,
        id: WorkerId,
        exit: crate::ExitStatus,
        stderr_tail: String,
        protocol: Option<String>,
    ) -> Option<(super::WorkerEvent, bool)> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let mut slot = state.workers.remove(&id)?;
        let pid = slot.control.as_ref().and_then(|c| c.pid());
        let asked = match slot.status {
            Status::Retiring(why)
                if slot.in_flight.is_empty()
                    && protocol.is_none()
                    && (slot.killed_because.is_none() || why == Retire::ShutDown) =>
            {
                Some(why)
            }
            _ => None,
        };
        let reason = match (asked, &protocol, &slot.killed_because) {
            (Some(why), _, _) => why.to_string(),
            (None, Some(protocol), _) => format!("killed: broke the protocol: {protocol}"),
            (None, None, Some(killed)) => format!("killed: {killed}"),
            (None, None, None) => "exited".to_owned(),
        };
        match asked {
            Some(why) if why.is_recycling() => state.counters.recycled += 1,
            Some(_) => state.counters.stopped += 1,
            None => state.counters.crashed += 1,
        }
        if asked.is_none() && slot.served == 0 {
            // It died before answering anything: keeping `min_workers` up would start the
            // next one straight into the same fate. Calls still start workers (each within
            // its retries); a new call or `ready()` lifts this, and `ready()` reports it.
            state.start_blocked = true;
            let status = super::error::describe_status(&exit);
            let tail = super::error::describe_tail(&stderr_tail);
            state.last_start_failure = Some(CallError::WorkerStart {
                program: self.spawner.describe(),
                attempts: 1,
                reason: format!(
                    "it said hello, then {reason} before answering a call ({status}){tail}"
                ),
            });
        }
        for (call, mut pending) in slot.in_flight.drain() {
            if pending.reply.is_none() {
                state.calls.remove(&call);
                continue;
            }
            let retry = !pending.call.no_retry && pending.attempts <= self.config.retries;
            if retry && !state.closed {
                state.counters.calls_retried += 1;
                state.calls.insert(call, Location::Queued(pending.key));
                state.queue.push(pending.key, pending);
            } else {
                state.calls.remove(&call);
                let method = pending.call.method.clone();
                let error = match &protocol {
                    Some(reason) => CallError::ProtocolError {
                        method,
                        reason: reason.clone(),
                    },
                    None => CallError::WorkerCrashed {
                        method,
                        exit: Some(exit.clone()),
                        stderr_tail: stderr_tail.clone(),
                        attempts: pending.attempts,
                    },
                };
                pending.answer(Err(error));
                state.counters.calls_failed += 1;
            }
        }
        self.dispatch(state);
        drop(guard);
        self.changed.notify_waiters();
        let event = super::WorkerEvent {
            id,
            pid,
            reason,
            exit: Some(exit),
        };
        Some((event, asked.is_none()))
    }

    /// The periodic upkeep: health pings, idle scale-down, memory checks.
    pub(crate) fn upkeep(self: &Arc<Self>) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let now = Instant::now();
        let mut ready = state
            .workers
            .values()
            .filter(|s| s.status == Status::Ready)
            .count();
        // Calls waiting (dispatch paused, say) would start a new worker for each one retired.
        let waiting = state.queue.len() > 0;
        for slot in state.workers.values_mut() {
            if slot.status != Status::Ready || !slot.in_flight.is_empty() {
                continue;
            }
            if let Some((_, deadline)) = self.config.health_check {
                match slot.ping {
                    Some((_, sent)) if now.duration_since(sent) > deadline => {
                        slot.kill(format!("did not answer a ping within {deadline:?}"));
                        continue;
                    }
                    Some(_) => {}
                    None => {
                        slot.ping = Some((state.next_ping, now));
                        slot.send(Frame::bare(Kind::Ping, state.next_ping));
                        state.next_ping += 1;
                    }
                }
            }
            if let Some(idle) = self.config.idle_timeout
                && ready > state.min_workers
                && !waiting
                && now.duration_since(slot.last_used) >= idle
            {
                slot.status = Status::Retiring(Retire::Idle);
                ready -= 1;
                continue;
            }
            check_memory(slot, self.config.max_memory_per_worker);
        }
        self.retire_idle(state);
        self.dispatch(state);
    }
}

/// Pauses dispatch for `time`, unless a pause or resume comes meanwhile. Takes the two fields
/// rather than the state, which may be borrowed elsewhere (by a worker's slot).
fn pause_for(shared: &Arc<Shared>, paused: &mut bool, pause_epoch: &mut u64, time: Duration) {
    *paused = true;
    *pause_epoch += 1;
    let epoch = *pause_epoch;
    shared.after(time, move |shared, state| {
        if state.pause_epoch == epoch {
            state.paused = false;
            shared.dispatch(state);
        }
    });
}

/// Retires an idle worker over the memory limit.
fn check_memory(slot: &mut Slot, limit: Option<u64>) {
    if let (Some(limit), Some(control)) = (limit, &slot.control)
        && let Some(bytes) = control.memory()
        && bytes > limit
    {
        slot.status = Status::Retiring(Retire::Memory(bytes));
    }
}

/// The ready worker with room for a call and the fewest in flight; ties go to the one idle
/// longest.
fn pick(state: &State) -> Option<WorkerId> {
    state
        .workers
        .iter()
        .filter(|(_, s)| s.status == Status::Ready && s.in_flight.len() < s.capacity)
        .min_by_key(|(_, s)| (s.in_flight.len(), s.last_used))
        .map(|(&id, _)| id)
}

/// The [`CallError`] for an error frame.
fn call_error(pending: &Pending, code: ErrorCode, message: &[u8], methods: &[String]) -> CallError {
    let method = pending.call.method.clone();
    let message = String::from_utf8_lossy(message).into_owned();
    match code {
        ErrorCode::UnknownMethod => CallError::UnknownMethod {
            method,
            served: methods.to_vec(),
        },
        ErrorCode::Cancelled => CallError::Cancelled { method },
        code => CallError::Failed {
            method,
            code: code.as_str().to_owned(),
            message,
        },
    }
}
