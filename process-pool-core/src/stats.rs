//! [`Stats`]: counters of what a pool has done.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::result::Outcome;

/// A snapshot of a pool's counters.
///
/// `succeeded + failed + timed_out + cancelled` counts the jobs that have ended; `failed` covers
/// non-zero exits, deaths by signal, spawn failures and traps.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Jobs accepted by the pool.
    pub submitted: u64,
    /// Jobs running now.
    pub running: usize,
    /// Jobs waiting in the queue now.
    pub queued: usize,
    /// Jobs that ended with exit code 0.
    pub succeeded: u64,
    /// Jobs that ended otherwise, except timeouts and cancellations.
    pub failed: u64,
    /// Jobs whose last attempt timed out.
    pub timed_out: u64,
    /// Jobs cancelled (by a handle, a fail-fast batch or a shutdown).
    pub cancelled: u64,
    /// Attempts that were followed by a retry.
    pub retried: u64,
    /// Attempts that ran (each retry counts).
    pub attempts: u64,
    /// Total wall time of all attempts.
    pub total_run_time: Duration,
    /// The current worker limit.
    pub max_workers: usize,
}

impl Stats {
    /// Jobs that have ended, whatever the outcome.
    pub fn completed(&self) -> u64 {
        self.succeeded + self.failed + self.timed_out + self.cancelled
    }

    /// Mean wall time of an attempt, once one has run.
    pub fn mean_run_time(&self) -> Option<Duration> {
        let n = u32::try_from(self.attempts).ok().filter(|n| *n > 0)?;
        Some(self.total_run_time / n)
    }
}

/// The pool's live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) submitted: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    cancelled: AtomicU64,
    pub(crate) retried: AtomicU64,
    attempts: AtomicU64,
    run_nanos: AtomicU64,
}

impl Counters {
    /// Counts one attempt that ran for `took`.
    pub(crate) fn attempt(&self, took: Duration) {
        self.attempts.fetch_add(1, Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.run_nanos.fetch_add(nanos, Relaxed);
    }

    /// Counts one job that ended this way.
    pub(crate) fn ended(&self, outcome: &Outcome) {
        let counter = match outcome {
            Outcome::Exited(0) => &self.succeeded,
            Outcome::TimedOut => &self.timed_out,
            Outcome::Cancelled => &self.cancelled,
            _ => &self.failed,
        };
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self, running: usize, queued: usize, max_workers: usize) -> Stats {
        Stats {
            submitted: self.submitted.load(Relaxed),
            running,
            queued,
            succeeded: self.succeeded.load(Relaxed),
            failed: self.failed.load(Relaxed),
            timed_out: self.timed_out.load(Relaxed),
            cancelled: self.cancelled.load(Relaxed),
            retried: self.retried.load(Relaxed),
            attempts: self.attempts.load(Relaxed),
            total_run_time: Duration::from_nanos(self.run_nanos.load(Relaxed)),
            max_workers,
        }
    }
}
