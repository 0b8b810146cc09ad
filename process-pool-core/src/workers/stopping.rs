//! Stopping calls and workers: a cancel, a timeout, a call taken off a worker that still owes
//! its answer, workers retired when idle or as the pool closes down, and the stop that
//! cancels everything.

use std::sync::Arc;
use std::time::Duration;

use process_pool_protocol::{Frame, Kind};

use super::Shared;
use super::call::{CallEntry, CallId};
use super::error::CallError;
use super::state::{Retire, State, Status};
use crate::backend::WorkerId;
use crate::engine::Engine;
use crate::engine::queue::QueueKey;
use crate::engine::retry::{Decision, RetryOn};
use crate::engine::tally::End;
use crate::engine::timer::Timer;

impl Shared {
    /// Cancels the call `id` wherever it is: a queued or waiting call is answered at once; a
    /// running one is answered at once, gets a cancel frame, and its worker is killed if it
    /// still owes the reply after the kill grace.
    pub(crate) fn cancel_call(self: &Arc<Self>, id: CallId, key: &QueueKey) {
        let mut state = self.lock();
        let withdrawn = match state.core.queue.remove(key) {
            Some(entry) => Some(entry),
            None => state.core.take_waiting(id),
        };
        if let Some(mut entry) = withdrawn {
            state.core.tally.ended(End::Cancelled);
            let method = entry.method();
            drop(state);
            entry.answer(Err(CallError::Cancelled { method }));
            return;
        }
        let Some((worker, wire)) = state.holder(id) else {
            return;
        };
        if let Some(entry) = self.leave(&mut state, worker, wire) {
            let method = entry.method();
            self.conclude(
                &mut state,
                entry,
                Decision::No,
                CallError::Cancelled { method },
            );
        }
        self.dispatch(state);
    }

    /// The attempt `attempt` sent under `wire` to `worker` ran past `limit`: the call leaves
    /// its worker (which is told to cancel it), and is retried or answered as its policy
    /// decides.
    pub(crate) fn expire(
        self: &Arc<Self>,
        worker: WorkerId,
        wire: u64,
        attempt: u32,
        limit: Duration,
    ) {
        let mut state = self.lock();
        let current = state
            .workers
            .get(&worker)
            .and_then(|slot| slot.in_flight.get(&wire))
            .and_then(Option::as_ref)
            .is_some_and(|entry| entry.attempts == attempt);
        if !current {
            return;
        }
        if let Some(entry) = self.leave(&mut state, worker, wire) {
            let decision = self.decide(&entry, Some(RetryOn::TIMEOUT), None, None);
            let error = CallError::TimedOut {
                method: entry.method(),
                limit,
                attempts: entry.attempts,
            };
            self.conclude(&mut state, entry, decision, error);
        }
        self.dispatch(state);
    }

    /// Takes the call `id` off `worker`, which still owes its reply: the worker is sent a
    /// cancel, and killed if it has not answered within the kill grace.
    fn leave(
        self: &Arc<Self>,
        state: &mut State,
        worker: WorkerId,
        id: CallId,
    ) -> Option<CallEntry> {
        let slot = state.workers.get_mut(&worker)?;
        let entry = slot.in_flight.get_mut(&id)?.take()?;
        slot.send(Frame::bare(Kind::Cancel, id));
        let grace = self.config.options.kill_grace;
        Timer::on(&self.runtime, self, grace, move |pool: &Arc<Shared>| {
            let mut state = pool.lock();
            if let Some(slot) = state.workers.get_mut(&worker)
                && slot.in_flight.contains_key(&id)
            {
                slot.kill(format!("ignored a cancel of call {id} for {grace:?}"));
            }
        })
        .detach();
        Some(entry)
    }

    /// Sends a shutdown to every retiring worker that has no call in flight, and kills it if
    /// it has not gone within the kill grace.
    pub(crate) fn retire_idle(self: &Arc<Self>, state: &mut State) {
        for (&id, slot) in &mut state.workers {
            if matches!(slot.status, Status::Retiring(_))
                && slot.in_flight.is_empty()
                && !slot.shutdown_sent
                && slot.to_worker.is_some()
            {
                slot.shutdown_sent = true;
                slot.send(Frame::bare(Kind::Shutdown, 0));
                let grace = self.config.options.kill_grace;
                Timer::on(&self.runtime, self, grace, move |pool: &Arc<Shared>| {
                    if let Some(slot) = pool.lock().workers.get_mut(&id) {
                        slot.kill(format!("did not exit within {grace:?} of a shutdown"));
                    }
                })
                .detach();
            }
        }
    }

    /// Retires every worker, as the pool closes down: those ready go once idle, those still
    /// starting are killed (a worker that never said hello has nothing to finish).
    pub(crate) fn retire_all(self: &Arc<Self>, state: &mut State) {
        state.core.close();
        for slot in state.workers.values_mut() {
            match slot.status {
                Status::Starting => {
                    slot.status = Status::Retiring(Retire::ShutDown);
                    slot.kill("the pool closed while it started");
                }
                Status::Ready => slot.status = Status::Retiring(Retire::ShutDown),
                Status::Retiring(_) => {}
            }
        }
        self.retire_idle(state);
        self.changed.notify_waiters();
    }

    /// Stops the pool now: every call is answered [`CallError::Cancelled`], and every worker
    /// is killed.
    pub(crate) fn stop_now(self: &Arc<Self>) {
        let mut guard = self.lock();
        let state = &mut *guard;
        state.core.close();
        let mut left = state.core.stop();
        for slot in state.workers.values_mut() {
            for held in slot.in_flight.values_mut() {
                if let Some(entry) = held.take() {
                    state.core.tally.ended(End::Cancelled);
                    left.push(entry);
                }
            }
            slot.status = Status::Retiring(Retire::ShutDown);
            slot.kill("shut down: the grace ran out");
        }
        drop(guard);
        self.stopping.cancel();
        self.cancel(left);
    }
}
