//! A worker's life as the pool records it: handed over by its backend, ready after its hello,
//! failed to start, or dead; and what happens to its calls when it dies.

use std::sync::Arc;
use tokio::time::Instant;

use process_pool_protocol::{Frame, Hello};
use tokio::sync::mpsc;

use super::error::{CallError, describe_status, describe_tail};
use super::state::{Retire, Status};
use super::{Shared, WorkerEvent};
use crate::backend::{ExitStatus, WorkerControl, WorkerId};
use crate::engine::Engine;
use crate::engine::retry::RetryOn;

/// How a worker ended, as its task saw it.
#[derive(Debug)]
pub(crate) struct Death {
    pub(crate) exit: ExitStatus,
    pub(crate) stderr_tail: String,
    /// What it did wrong, if it broke the protocol.
    pub(crate) protocol: Option<String>,
}

impl Shared {
    /// The backend has started worker `id`: the pool can kill it from now on. Returns `false`
    /// if the pool wants it gone already (it stopped, or gave up on it meanwhile); the caller
    /// then kills it.
    pub(crate) fn worker_spawned(&self, id: WorkerId, control: &Arc<dyn WorkerControl>) -> bool {
        let mut state = self.lock();
        let Some(slot) = state.workers.get_mut(&id) else {
            return false;
        };
        slot.control = Some(Arc::clone(control));
        slot.killed_because.is_none()
    }

    /// A started worker said hello: it takes calls from now on. Returns `false` if the pool
    /// no longer wants it (closed, resized or killed meanwhile); its task then stops it.
    pub(crate) fn worker_ready(
        self: &Arc<Self>,
        id: WorkerId,
        to_worker: mpsc::UnboundedSender<Frame>,
        hello: &Hello,
    ) -> bool {
        let mut state = self.lock();
        let Some(slot) = state.workers.get_mut(&id) else {
            return false;
        };
        slot.to_worker = Some(to_worker);
        if slot.killed_because.is_some() {
            return false;
        }
        if matches!(slot.status, Status::Retiring(_)) {
            // Retired while it started: ask it to go.
            self.retire_idle(&mut state);
            drop(state);
            self.changed.notify_waiters();
            return false;
        }
        slot.status = Status::Ready;
        slot.capacity = (hello.concurrency as usize).min(self.config.max_calls_per_worker);
        slot.max_frame = usize::try_from(hello.max_frame).unwrap_or(usize::MAX);
        slot.methods = hello.methods.clone().into();
        slot.last_used = Instant::now();
        state.counters.started += 1;
        state.last_start_failure = None;
        self.dispatch(state);
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
        let mut failed = Vec::new();
        if state.workers.is_empty() {
            while let Some(entry) = state.core.queue.pop() {
                state.core.tally.ended(crate::engine::tally::End::Failed);
                failed.push(entry);
            }
            state.start_blocked = true;
        }
        state.last_start_failure = Some(error.clone());
        drop(state);
        for mut entry in failed {
            entry.answer(Err(error.clone()));
        }
        self.changed.notify_waiters();
    }

    /// The worker `id` has ended. Its calls go back to the queue or fail, as their policy
    /// says; a replacement starts if needed. `hooks` is called with the event and whether it
    /// was a crash before any call that failed with it is answered (so that whoever sees a call
    /// fail for the crash has seen the crash's hook run), outside the pool's lock. A call it
    /// held that is retried goes back to the queue at once, as before: another worker's failure
    /// may answer it while this hook still runs (a retry with a backoff leaves it the time).
    pub(crate) fn worker_died(
        self: &Arc<Self>,
        id: WorkerId,
        death: Death,
        hooks: impl FnOnce(&WorkerEvent, bool),
    ) {
        let Death {
            exit,
            stderr_tail,
            protocol,
        } = death;
        let mut state = self.lock();
        let Some(mut slot) = state.workers.remove(&id) else {
            return;
        };
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
        if asked.is_none() && slot.served == 0 && state.core.is_open() {
            // It died before answering anything: keeping `min_workers` up would start the
            // next one straight into the same fate. Calls still start workers (each within
            // its retries); a new call or `ready()` lifts this, and `ready()` reports it.
            state.start_blocked = true;
            state.last_start_failure = Some(CallError::WorkerStart {
                program: self.spawner.describe(),
                attempts: 1,
                reason: format!(
                    "it said hello, then {reason} before answering a call ({}){}",
                    describe_status(&exit),
                    describe_tail(&stderr_tail)
                ),
            });
        }
        let mut failed = Vec::new();
        for (_, held) in slot.in_flight.drain() {
            let Some(entry) = held else { continue };
            let decision = self.decide(&entry, Some(RetryOn::CRASH), None, None);
            let error = match &protocol {
                Some(reason) => CallError::ProtocolError {
                    method: entry.method(),
                    reason: reason.clone(),
                    attempts: entry.attempts,
                },
                None => CallError::WorkerCrashed {
                    method: entry.method(),
                    exit: Some(exit.clone()),
                    stderr_tail: stderr_tail.clone(),
                    attempts: entry.attempts,
                },
            };
            failed.extend(self.conclude_unanswered(&mut state, entry, decision, error));
        }
        self.dispatch(state);
        let event = WorkerEvent {
            id,
            pid,
            reason,
            exit: Some(exit),
        };
        hooks(&event, asked.is_none());
        for (mut entry, error) in failed {
            entry.answer(Err(error));
        }
        self.changed.notify_waiters();
    }
}
