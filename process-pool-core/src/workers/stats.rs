//! [`WorkerPoolStats`]: what a worker pool has done, and its workers now.

use super::backend::WorkerId;
use crate::Percentiles;

/// A snapshot of a worker pool.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerPoolStats {
    /// Workers alive now (starting, ready or stopping).
    pub workers: usize,
    /// Workers that started and said hello, ever.
    pub started: u64,
    /// Workers stopped to be replaced (after `max_tasks_per_worker` calls, or over memory).
    pub recycled: u64,
    /// Workers that died unasked or were killed (hung, ignored a cancel, broke the protocol).
    pub crashed: u64,
    /// Workers stopped as asked otherwise (idle, resized, shut down).
    pub stopped: u64,
    /// Series of start attempts that all failed.
    pub start_failures: u64,
    /// Calls answered with a reply.
    pub calls_done: u64,
    /// Calls answered with an error (including cancels and timeouts).
    pub calls_failed: u64,
    /// Times a call went back to the queue after its worker died.
    pub calls_retried: u64,
    /// Calls waiting for a worker now.
    pub queued: usize,
    /// Calls on workers now.
    pub in_flight: usize,
    /// How long calls waited before they were first sent to a worker.
    pub wait: Percentiles,
    /// How long attempts took, from sending the call to its answer.
    pub run: Percentiles,
    /// Whether dispatch is paused ([`WorkerPool::pause`](crate::WorkerPool::pause)).
    pub paused: bool,
    /// Each worker now.
    pub per_worker: Vec<WorkerInfo>,
}

/// One worker in [`WorkerPoolStats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerInfo {
    /// Its id in the pool.
    pub id: WorkerId,
    /// Its process id, where it has one.
    pub pid: Option<u32>,
    /// Whether it takes calls (not starting, not stopping).
    pub ready: bool,
    /// Calls on it now.
    pub in_flight: usize,
    /// Calls it has answered.
    pub served: u64,
}
