//! Sending calls to workers and settling their answers: dispatch, replies and error answers,
//! timeouts and cancels, and the retry decision for each, all on the engine's pieces.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use process_pool_protocol::{ErrorCode, Frame, Kind};

use super::Shared;
use super::call::CallEntry;
use super::error::CallError;
use super::state::{Retire, Slot, State, Status};
use crate::backend::WorkerId;
use crate::engine::retry::{Decision, RetryOn};
use crate::engine::tally::End;
use crate::engine::timer::Timer;
use crate::engine::{self, Engine, Life};

/// What a worker's answer to a call settles.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) result: Result<Bytes, CallError>,
    /// A classifier's verdict on an error answer, asked outside the lock.
    pub(crate) wanted: Option<bool>,
    /// A rate-limit hint's pause, asked outside the lock.
    pub(crate) pause: Option<Duration>,
}

impl Shared {
    /// Sends queued calls to workers with room (fewest in flight first, then the one idle
    /// longest), then starts workers while calls wait, or while under `min_workers`.
    pub(crate) fn send_queued(self: &Arc<Self>, state: &mut State) {
        while state.core.may_dispatch() && state.core.queue.len() > 0 {
            let Some(worker) = state.pick() else { break };
            let Some(mut entry) = state.core.queue.pop() else {
                break;
            };
            let slot = state
                .workers
                .get_mut(&worker)
                .expect("picked a live worker");
            let wire = state.next_wire;
            let call = entry.call();
            let frame = Frame::call(wire, call.method.clone(), call.payload.clone());
            let limit = call.timeout.or(self.config.options.timeout);
            if frame.encoded_len() > slot.max_frame {
                let (len, max) = (frame.encoded_len(), slot.max_frame);
                let method = entry.method();
                state.core.tally.ended(End::Failed);
                entry.answer(Err(CallError::TooLarge { method, len, max }));
                continue;
            }
            let now = Instant::now();
            // Its first dispatch (a call an overloaded worker sent back is not).
            let waited = entry
                .sent
                .is_none()
                .then(|| now.saturating_duration_since(entry.submitted));
            state.core.tally.started(waited);
            state.next_wire += 1;
            entry.sent = Some(now);
            entry.wire = wire;
            entry.attempts += 1;
            if let Some(limit) = limit {
                let attempt = entry.attempts;
                entry.timer = Some(Timer::on(
                    &self.runtime,
                    self,
                    limit,
                    move |pool: &Arc<Shared>| {
                        pool.expire(worker, wire, attempt, limit);
                    },
                ));
            }
            slot.send(frame);
            slot.last_used = now;
            slot.sent += 1;
            if let Some(limit) = self.config.max_tasks_per_worker
                && slot.sent >= limit
            {
                // A hard limit on calls sent to one process: it takes no more, and goes once
                // it has answered what it holds.
                slot.status = Status::Retiring(Retire::Served(slot.sent));
            }
            slot.in_flight.insert(wire, Some(entry));
        }
        self.start_wanted(state);
    }

    /// Starts workers while calls wait for more than the starting ones will take, or while
    /// under `min_workers` (not once the pool is closed), up to `max_workers`.
    fn start_wanted(self: &Arc<Self>, state: &mut State) {
        if state.core.life == Life::Stopped {
            return;
        }
        let keep_min = state.core.is_open() && !state.start_blocked;
        loop {
            let live = state.live();
            let starting = state
                .workers
                .values()
                .filter(|s| s.status == Status::Starting)
                .count();
            let coming = starting * self.config.max_calls_per_worker;
            let wanted = state.core.queue.len() > coming || (keep_min && live < state.min_workers);
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
        state.workers.insert(id, Slot::starting());
        self.tasks.spawn(super::conn::run(Arc::clone(self), id));
        id
    }

    /// A frame from the worker `id`. An `Err` is a protocol violation: the worker is killed.
    pub(crate) fn on_frame(self: &Arc<Self>, id: WorkerId, frame: Frame) -> Result<(), String> {
        match frame.kind {
            Kind::Reply => self.settle(
                id,
                frame.id,
                Answer {
                    result: Ok(frame.payload),
                    wanted: None,
                    pause: None,
                },
            ),
            Kind::Error => {
                let code = ErrorCode::parse(&frame.name);
                if code == ErrorCode::Overloaded {
                    return self.overloaded(id, frame.id);
                }
                let answer = self.error_answer(id, frame.id, code, &frame.payload)?;
                self.settle(id, frame.id, answer)
            }
            Kind::Pong => {
                let mut state = self.lock();
                let Some(slot) = state.workers.get_mut(&id) else {
                    return Ok(());
                };
                // One pong per ping: any other would let a worker write without end.
                if slot.ping.is_none_or(|(ping, _)| ping != frame.id) {
                    return Err(format!(
                        "a Pong frame for ping {}, which is not waiting for one",
                        frame.id
                    ));
                }
                slot.ping = None;
                Ok(())
            }
            other => Err(format!("a worker must not send a {other:?} frame")),
        }
    }

    /// The [`Answer`] for an error frame: the error, and the classifiers' say on it, asked
    /// outside the lock (the call stays on its worker meanwhile; a timeout or cancel that comes
    /// first wins).
    fn error_answer(
        &self,
        worker: WorkerId,
        wire: u64,
        code: ErrorCode,
        message: &[u8],
    ) -> Result<Answer, String> {
        let (method, served, attempts, ask) = {
            let mut state = self.lock();
            let Some(slot) = state.workers.get_mut(&worker) else {
                return Ok(Answer {
                    result: Err(CallError::PoolClosed),
                    wanted: None,
                    pause: None,
                });
            };
            let served = Arc::clone(&slot.methods);
            match slot.in_flight.get(&wire) {
                None => return Err(not_in_flight("Error", wire)),
                Some(None) => (String::new(), served, 0, false),
                Some(Some(entry)) => (
                    entry.method(),
                    served,
                    entry.attempts,
                    !entry.call().no_retry && self.config.options.classifies(),
                ),
            }
        };
        let message = String::from_utf8_lossy(message).into_owned();
        let error = match code {
            ErrorCode::UnknownMethod => CallError::UnknownMethod { method, served },
            ErrorCode::Cancelled => CallError::Cancelled { method },
            code => CallError::Failed {
                method,
                code,
                message,
                attempts,
            },
        };
        let (wanted, pause) = if ask {
            (
                self.config.options.wants_retry(&error),
                self.config.options.pause_after(&error),
            )
        } else {
            (None, None)
        };
        Ok(Answer {
            result: Err(error),
            wanted,
            pause,
        })
    }

    /// Settles the call sent under `wire` to worker `worker` with its answer: the caller is answered, or
    /// the call is retried as its policy decides. Then the worker is looked at (recycling,
    /// memory) and dispatch goes on.
    fn settle(self: &Arc<Self>, worker: WorkerId, wire: u64, answer: Answer) -> Result<(), String> {
        let mut state = self.lock();
        let Some(slot) = state.workers.get_mut(&worker) else {
            return Ok(());
        };
        let Some(held) = slot.in_flight.remove(&wire) else {
            return Err(not_in_flight(
                if answer.result.is_ok() {
                    "Reply"
                } else {
                    "Error"
                },
                wire,
            ));
        };
        slot.served += 1;
        slot.last_used = Instant::now();
        let idle = slot.in_flight.is_empty() && slot.status == Status::Ready;
        if idle {
            check_memory(slot, self.config.max_memory_per_worker);
        }
        if let Some(mut entry) = held {
            if let Some(sent) = entry.sent {
                state.core.tally.ran(sent.elapsed());
            }
            match answer.result {
                Ok(reply) => {
                    state.core.tally.ended(End::Succeeded);
                    entry.answer(Ok(reply));
                }
                Err(error) => {
                    let class = match &error {
                        CallError::Cancelled { .. } => None,
                        _ => Some(RetryOn::FAILURE),
                    };
                    if let Some(pause) = answer.pause {
                        engine::pause_for(self, &mut state, pause);
                    }
                    let decision = self.decide(&entry, class, answer.wanted, answer.pause);
                    self.conclude(&mut state, entry, decision, error);
                }
            }
        }
        self.retire_idle(&mut state);
        self.dispatch(state);
        Ok(())
    }

    /// A worker took fewer calls than it announced and sent one back: never send it more than
    /// it holds now. The call did not run, so it goes again (even a `no_retry` one), without
    /// counting an attempt. A worker that refuses a call while it holds no other breaks the
    /// protocol (it announced room for at least one): sent back to it again and again, the
    /// call would never be answered.
    fn overloaded(self: &Arc<Self>, worker: WorkerId, wire: u64) -> Result<(), String> {
        let mut state = self.lock();
        let Some(slot) = state.workers.get_mut(&worker) else {
            return Ok(());
        };
        if !slot.in_flight.contains_key(&wire) {
            return Err(not_in_flight("Error", wire));
        }
        if slot.in_flight.len() == 1 {
            // Left in flight: the worker's death retries it under the policy.
            return Err(format!(
                "an overloaded answer to call {wire} while it runs no other call"
            ));
        }
        let Some(held) = slot.in_flight.remove(&wire) else {
            return Err(not_in_flight("Error", wire));
        };
        slot.capacity = slot.in_flight.len().max(1);
        if let Some(mut entry) = held {
            entry.attempts -= 1;
            entry.timer = None;
            state.core.queue.push(entry.ticket.key, entry);
        }
        self.dispatch(state);
        Ok(())
    }

    /// What its policy says of a call whose attempt failed this way (`class` `None`: never
    /// retried).
    pub(crate) fn decide(
        &self,
        entry: &CallEntry,
        class: Option<RetryOn>,
        wanted: Option<bool>,
        pause: Option<Duration>,
    ) -> Decision {
        if entry.call().no_retry {
            return Decision::No;
        }
        let policy = entry
            .call()
            .retry
            .as_ref()
            .unwrap_or(&self.config.options.retry);
        policy.decide(class, wanted, entry.attempts, pause)
    }

    /// Carries out `decision` for a call that left its worker: back in line, into the retry
    /// wait, or answered with `error`.
    pub(crate) fn conclude(
        self: &Arc<Self>,
        state: &mut State,
        entry: CallEntry,
        decision: Decision,
        error: CallError,
    ) {
        if let Some((mut entry, error)) = self.conclude_unanswered(state, entry, decision, error) {
            entry.answer(Err(error));
        }
    }

    /// [`conclude`](Self::conclude) but for the answer: a call that fails is counted and handed
    /// back with its error, for the caller to answer once it has let go of the state (and done
    /// what must be seen first: a worker's crash hook).
    pub(crate) fn conclude_unanswered(
        self: &Arc<Self>,
        state: &mut State,
        mut entry: CallEntry,
        decision: Decision,
        error: CallError,
    ) -> Option<(CallEntry, CallError)> {
        entry.timer = None;
        match decision {
            Decision::No => {
                state.core.tally.ended(match error {
                    CallError::TimedOut { .. } => End::TimedOut,
                    CallError::Cancelled { .. } => End::Cancelled,
                    _ => End::Failed,
                });
                return Some((entry, error));
            }
            Decision::Now | Decision::AfterPause(_) => {
                state.core.tally.retried();
                state.core.queue.push(entry.ticket.key, entry);
            }
            Decision::After(delay) => {
                state.core.tally.retried();
                let id = entry.ticket.id;
                engine::retry_after(self, state, id, entry, delay);
            }
        }
        None
    }
}

/// Retires an idle worker over the memory limit.
pub(crate) fn check_memory(slot: &mut Slot, limit: Option<u64>) {
    if let (Some(limit), Some(control)) = (limit, &slot.control)
        && let Some(bytes) = control.memory()
        && bytes > limit
    {
        slot.status = Status::Retiring(Retire::Memory(bytes));
    }
}

fn not_in_flight(kind: &str, wire: u64) -> String {
    format!("a {kind} frame for call {wire}, which is not in flight on this worker")
}
