//! [`Stats`]: counters of what a pool has done.

use std::time::Duration;

use crate::latency::{Latency, Percentiles};
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
    /// How long jobs waited in the queue before their first attempt started.
    pub wait: Percentiles,
    /// How long attempts ran.
    pub run: Percentiles,
    /// Whether dispatch is paused ([`ProcessPool::pause`](crate::ProcessPool::pause)).
    pub paused: bool,
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

/// The pool's counters, kept under its lock: a worker updates them in the same locked step in
/// which it takes its next job, so counting costs no shared atomic per job.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) submitted: u64,
    succeeded: u64,
    failed: u64,
    timed_out: u64,
    cancelled: u64,
    retried: u64,
    attempts: u64,
    run_time: Duration,
    latency: Latency,
}

/// What a worker reports about the job it just ran.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// How long the attempt ran, if one started.
    pub(crate) ran: Option<Duration>,
    /// How long the job waited before this attempt, if it is the first.
    pub(crate) waited: Option<Duration>,
    /// A retry was scheduled.
    pub(crate) retried: bool,
    /// How the job ended, if it did.
    pub(crate) ended: Option<Outcome>,
}

impl Tally {
    pub(crate) fn record(&mut self, report: &Report) {
        if let Some(took) = report.ran {
            self.attempts += 1;
            self.run_time += took;
            self.latency.ran(took);
        }
        if let Some(waited) = report.waited {
            self.latency.waited(waited);
        }
        self.retried += u64::from(report.retried);
        if let Some(outcome) = &report.ended {
            self.ended(outcome);
        }
    }

    /// Counts one job that ended this way.
    pub(crate) fn ended(&mut self, outcome: &Outcome) {
        let counter = match outcome {
            Outcome::Exited(0) => &mut self.succeeded,
            Outcome::TimedOut => &mut self.timed_out,
            Outcome::Cancelled => &mut self.cancelled,
            _ => &mut self.failed,
        };
        *counter += 1;
    }

    pub(crate) fn snapshot(
        &self,
        running: usize,
        queued: usize,
        max_workers: usize,
        paused: bool,
    ) -> Stats {
        Stats {
            submitted: self.submitted,
            running,
            queued,
            succeeded: self.succeeded,
            failed: self.failed,
            timed_out: self.timed_out,
            cancelled: self.cancelled,
            retried: self.retried,
            attempts: self.attempts,
            total_run_time: self.run_time,
            max_workers,
            wait: self.latency.wait(),
            run: self.latency.run(),
            paused,
        }
    }
}
