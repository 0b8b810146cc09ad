//! What the worker pool keeps under its lock: the engine's [`Core`] (queue, retry waits, pause,
//! life, tally) and its workers, each with the calls it holds.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use tokio::time::Instant;

use process_pool_protocol::Frame;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::call::{CallEntry, CallId};
use super::stats::{WorkerInfo, WorkerStats};
use crate::backend::{WorkerControl, WorkerId};
use crate::engine::Core;

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
    /// It was sent `max_tasks_per_worker` calls.
    Served(u64),
    /// Its memory went over `max_memory_per_worker`.
    Memory(u64),
    /// Idle past `idle_timeout`.
    Idle,
    /// Above the bounds set by `resize`.
    Resized,
    /// The pool is closing down.
    ShutDown,
}

impl Retire {
    pub(crate) fn is_recycling(self) -> bool {
        matches!(self, Retire::Served(_) | Retire::Memory(_))
    }
}

impl fmt::Display for Retire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
    pub(crate) capacity: usize,
    pub(crate) max_frame: usize,
    pub(crate) methods: Arc<[String]>,
    /// The calls it owes an answer, by the id they were sent under (a fresh one for every
    /// send, so a retry is never mistaken for the attempt before it): `None` for a call that
    /// left it (answered by a timeout or a cancel, or sent elsewhere) while it still owes the
    /// reply.
    pub(crate) in_flight: HashMap<u64, Option<CallEntry>>,
    /// Calls sent to it, ever.
    pub(crate) sent: u64,
    /// Calls it answered.
    pub(crate) served: u64,
    pub(crate) last_used: Instant,
    /// An unanswered ping: its id and when it was sent.
    pub(crate) ping: Option<(u64, Instant)>,
    pub(crate) shutdown_sent: bool,
    /// Why the pool killed it (or will, as soon as it can), if it did.
    pub(crate) killed_because: Option<String>,
    /// Cancelled when it is killed: a start in progress is given up.
    pub(crate) killed: CancellationToken,
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("status", &self.status)
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

impl Slot {
    pub(crate) fn starting() -> Slot {
        Slot {
            status: Status::Starting,
            to_worker: None,
            control: None,
            capacity: 0,
            max_frame: 0,
            methods: Arc::default(),
            in_flight: HashMap::new(),
            sent: 0,
            served: 0,
            last_used: Instant::now(),
            ping: None,
            shutdown_sent: false,
            killed_because: None,
            killed: CancellationToken::new(),
        }
    }

    pub(crate) fn send(&self, frame: Frame) {
        if let Some(to_worker) = &self.to_worker {
            // A closed channel means the worker is going; its death is handled by its task.
            let _ = to_worker.send(frame);
        }
    }

    /// Kills the worker (its whole process group), saying why; its task then handles the
    /// death. A worker still starting is killed as soon as its backend hands it over.
    pub(crate) fn kill(&mut self, why: impl Into<String>) {
        if self.killed_because.is_none() {
            self.killed_because = Some(why.into());
        }
        self.killed.cancel();
        if let Some(control) = &self.control {
            control.kill();
        }
    }

    /// Whether it takes another call now.
    pub(crate) fn has_room(&self) -> bool {
        self.status == Status::Ready && self.in_flight.len() < self.capacity
    }
}

/// Counters of the workers themselves.
#[derive(Debug, Default, Clone)]
pub(crate) struct WorkerCounters {
    pub(crate) started: u64,
    pub(crate) recycled: u64,
    pub(crate) crashed: u64,
    pub(crate) stopped: u64,
    pub(crate) start_failures: u64,
}

/// Everything the pool's tasks and handles share, under one lock.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) core: Core<CallEntry>,
    pub(crate) workers: BTreeMap<WorkerId, Slot>,
    pub(crate) next_call: CallId,
    /// The id of the next frame a call is sent in.
    pub(crate) next_wire: u64,
    pub(crate) next_worker: WorkerId,
    pub(crate) next_ping: u64,
    pub(crate) counters: WorkerCounters,
    /// The bounds now (`resize` changes them).
    pub(crate) min_workers: usize,
    pub(crate) max_workers: usize,
    /// Why the last series of start attempts failed, for [`WorkerPool::ready`](super::WorkerPool::ready).
    pub(crate) last_start_failure: Option<super::CallError>,
    /// Set when a series of start attempts failed: `min_workers` is not kept up (no crash
    /// loop) until a call or `ready` asks for a worker again.
    pub(crate) start_blocked: bool,
}

impl State {
    pub(crate) fn new(min_workers: usize, max_workers: usize) -> State {
        State {
            core: Core::default(),
            workers: BTreeMap::new(),
            next_call: 1,
            next_wire: 1,
            next_worker: 1,
            next_ping: 1,
            counters: WorkerCounters::default(),
            min_workers,
            max_workers,
            last_start_failure: None,
            start_blocked: false,
        }
    }

    /// Workers starting or ready: not retiring.
    pub(crate) fn live(&self) -> usize {
        self.workers
            .values()
            .filter(|s| !matches!(s.status, Status::Retiring(_)))
            .count()
    }

    /// Workers ready for calls.
    pub(crate) fn ready(&self) -> usize {
        self.workers
            .values()
            .filter(|s| s.status == Status::Ready)
            .count()
    }

    /// The ready worker with room for a call and the fewest in flight; ties go to the one idle
    /// longest.
    pub(crate) fn pick(&self) -> Option<WorkerId> {
        self.workers
            .iter()
            .filter(|(_, s)| s.has_room())
            .min_by_key(|(_, s)| (s.in_flight.len(), s.last_used))
            .map(|(&id, _)| id)
    }

    /// The worker holding call `id`, and the id it was sent under.
    pub(crate) fn holder(&self, id: CallId) -> Option<(WorkerId, u64)> {
        self.workers.iter().find_map(|(&worker, slot)| {
            slot.in_flight.iter().find_map(|(&wire, held)| {
                held.as_ref()
                    .filter(|entry| entry.ticket.id == id)
                    .map(|_| (worker, wire))
            })
        })
    }

    pub(crate) fn stats(&self) -> crate::Stats {
        let (queued, retrying) = self.core.lengths();
        let in_flight = self
            .workers
            .values()
            .map(|s| s.in_flight.values().flatten().count())
            .sum();
        self.core.tally.snapshot(
            (in_flight, queued, retrying),
            self.max_workers,
            self.core.pause.is_paused(),
        )
    }

    pub(crate) fn worker_stats(&self) -> WorkerStats {
        let c = &self.counters;
        WorkerStats {
            alive: self.workers.len(),
            started: c.started,
            recycled: c.recycled,
            crashed: c.crashed,
            stopped: c.stopped,
            start_failures: c.start_failures,
            min_workers: self.min_workers,
            max_workers: self.max_workers,
            per_worker: self
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
}
