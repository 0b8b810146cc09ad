//! [`WorkerStats`]: a worker pool's workers now, and what happened to them. (What happened to
//! its calls is a [`Stats`](crate::Stats), in the same words as a job pool's.)

use crate::backend::WorkerId;

/// A snapshot of a worker pool's workers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct WorkerStats {
    /// Workers alive now (starting, ready or stopping).
    pub alive: usize,
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
    /// The lower bound now.
    pub min_workers: usize,
    /// The upper bound now.
    pub max_workers: usize,
    /// Each worker now.
    pub per_worker: Vec<WorkerInfo>,
}

/// One worker in [`WorkerStats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct WorkerInfo {
    /// Its id in the pool.
    pub id: WorkerId,
    /// Its process id, where it has one.
    pub pid: Option<u32>,
    /// Whether it takes calls (not starting, not stopping).
    pub ready: bool,
    /// Calls on it now, those it still owes a reply after they were answered included.
    pub in_flight: usize,
    /// Calls it has answered.
    pub served: u64,
}
