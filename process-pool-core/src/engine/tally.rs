//! [`Stats`]: what a pool (of jobs or of calls) has done, in one vocabulary, and [`Tally`],
//! the counters behind it, kept under the pool's lock.

use std::fmt;
use std::time::Duration;

use super::latency::{Latency, Percentiles};

/// A snapshot of a pool's counters: the same words for a [`ProcessPool`](crate::ProcessPool)'s
/// jobs and a [`WorkerPool`](crate::WorkerPool)'s calls ("work" below is either).
///
/// `succeeded + failed + timed_out + cancelled` counts the work that has ended. For jobs,
/// `failed` covers non-zero exits, deaths by signal, spawn failures and traps; for calls, every
/// error answer other than a timeout or a cancellation.
///
/// Its `Display` is one line for logs:
///
/// ```
/// # // It runs Unix programs (sh, echo, cat...); Windows runs its own in process-pool-native.
/// # #[cfg(unix)]
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use process_pool::{job, NativeSpawner};
///
/// let pool = NativeSpawner::pool(2)?;
/// pool.run_all([job("true", [""; 0]), job("false", [""; 0])]).await?;
/// let stats = pool.stats();
/// assert_eq!((stats.succeeded, stats.failed), (1, 1));
/// println!("{stats}"); // submitted 2, running 0, queued 0, succeeded 1, failed 1, ...
/// # Ok(()) }
/// # #[cfg(not(unix))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Stats {
    /// Work accepted by the pool.
    pub submitted: u64,
    /// Work running now (jobs running, calls on workers).
    pub running: usize,
    /// Work waiting in the queue now.
    pub queued: usize,
    /// Work waiting out a retry's backoff now.
    pub retrying: usize,
    /// Work that ended well: exit code 0, or a call's reply.
    pub succeeded: u64,
    /// Work that ended otherwise, except timeouts and cancellations.
    pub failed: u64,
    /// Work whose last attempt timed out.
    pub timed_out: u64,
    /// Work cancelled (by a handle, a fail-fast batch or a shutdown).
    pub cancelled: u64,
    /// Attempts that were followed by a retry.
    pub retried: u64,
    /// Attempts that ran (each retry counts).
    #[cfg_attr(feature = "serde", serde(serialize_with = "super::latency::seconds"))]
    pub total_run_time: Duration,
    /// Attempts started.
    pub attempts: u64,
    /// The current worker limit.
    pub max_workers: usize,
    /// How long work waited in the queue before its first attempt started.
    pub wait: Percentiles,
    /// How long attempts ran.
    pub run: Percentiles,
    /// Whether dispatch is paused (`pause`, `pause_for`, or a rate-limit hint).
    pub paused: bool,
}

impl Stats {
    /// Work that has ended, whatever the outcome.
    pub fn completed(&self) -> u64 {
        self.succeeded + self.failed + self.timed_out + self.cancelled
    }

    /// Mean wall time of an attempt, once one has run.
    pub fn mean_run_time(&self) -> Option<Duration> {
        let n = u32::try_from(self.attempts).ok().filter(|n| *n > 0)?;
        Some(self.total_run_time / n)
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "submitted {}, running {}, queued {}, succeeded {}, failed {}, timed out {}, \
             cancelled {}, retried {}",
            self.submitted,
            self.running,
            self.queued,
            self.succeeded,
            self.failed,
            self.timed_out,
            self.cancelled,
            self.retried
        )?;
        if self.retrying > 0 {
            write!(f, " ({} waiting to retry)", self.retrying)?;
        }
        write!(f, "; wait {}; run {}", self.wait, self.run)?;
        write!(f, "; {} workers at most", self.max_workers)?;
        if self.paused {
            f.write_str(", paused")?;
        }
        Ok(())
    }
}

/// How a piece of work ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
}

/// A pool's counters, kept under its lock, updated in the same locked steps that move work, so
/// counting costs no shared atomic.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    submitted: u64,
    succeeded: u64,
    failed: u64,
    timed_out: u64,
    cancelled: u64,
    retried: u64,
    attempts: u64,
    run_time: Duration,
    latency: Latency,
}

impl Tally {
    /// Counts `n` pieces of work accepted.
    pub(crate) fn submitted(&mut self, n: u64) {
        self.submitted += n;
    }

    /// Counts an attempt that started after its work waited `waited` in the queue, if it is the
    /// work's first.
    pub(crate) fn started(&mut self, waited: Option<Duration>) {
        self.attempts += 1;
        if let Some(waited) = waited {
            self.latency.waited(waited);
        }
    }

    /// Counts the time an attempt ran.
    pub(crate) fn ran(&mut self, took: Duration) {
        self.run_time += took;
        self.latency.ran(took);
    }

    /// Counts an attempt followed by a retry.
    pub(crate) fn retried(&mut self) {
        self.retried += 1;
    }

    /// Counts one piece of work that ended this way.
    pub(crate) fn ended(&mut self, end: End) {
        let counter = match end {
            End::Succeeded => &mut self.succeeded,
            End::Failed => &mut self.failed,
            End::TimedOut => &mut self.timed_out,
            End::Cancelled => &mut self.cancelled,
        };
        *counter += 1;
    }

    /// The counters, with what only the pool knows: work running, queued and waiting to retry
    /// now, the worker limit, and whether dispatch is paused.
    pub(crate) fn snapshot(
        &self,
        (running, queued, retrying): (usize, usize, usize),
        max_workers: usize,
        paused: bool,
    ) -> Stats {
        Stats {
            submitted: self.submitted,
            running,
            queued,
            retrying,
            succeeded: self.succeeded,
            failed: self.failed,
            timed_out: self.timed_out,
            cancelled: self.cancelled,
            retried: self.retried,
            total_run_time: self.run_time,
            attempts: self.attempts,
            max_workers,
            wait: self.latency.wait(),
            run: self.latency.run(),
            paused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_line_with_every_counter() {
        let mut tally = Tally::default();
        tally.submitted(3);
        tally.started(Some(Duration::from_millis(2)));
        tally.ran(Duration::from_millis(10));
        tally.ended(End::Succeeded);
        tally.ended(End::TimedOut);
        let stats = tally.snapshot((1, 0, 0), 4, true);
        let line = stats.to_string();
        assert!(!line.contains('\n'), "{line}");
        for part in [
            "submitted 3",
            "running 1",
            "succeeded 1",
            "timed out 1",
            "4 workers",
            "paused",
        ] {
            assert!(line.contains(part), "{part} missing from {line}");
        }
        assert_eq!(stats.completed(), 2);
        assert_eq!(stats.mean_run_time(), Some(Duration::from_millis(10)));
    }
}
