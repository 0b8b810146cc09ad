//! [`WorkerSpawner`]: what a backend implements to start long-lived workers.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};

use super::spawner::ExitStatus;
use crate::STDERR_TAIL_BYTES;

/// The longest stderr line of a worker that is logged whole; the rest of it is cut.
pub const MAX_LOG_LINE: usize = STDERR_TAIL_BYTES;

/// A worker's number in its pool, from 1, never reused.
pub type WorkerId = u64;

/// Starts workers: the mechanism behind a [`WorkerPool`](crate::WorkerPool).
///
/// The pool owns the policy (dispatch, queue, retries, recycling, health checks, scaling); a
/// worker spawner only starts one worker and hands back its two byte streams and a handle to
/// watch and stop it. The protocol itself is spoken by the pool.
#[async_trait]
pub trait WorkerSpawner: Send + Sync + 'static {
    /// Starts the worker `id`. An `Err` names what could not be started (program, path).
    async fn start(&self, id: WorkerId) -> io::Result<StartedWorker>;

    /// What this spawner starts, for errors and logs (the program, the module).
    fn describe(&self) -> String;

    /// How many workers it can run at once, if it has a limit (a WASI spawner's instances):
    /// a pool refuses a `max_workers` above it when it is built. `None`, the default, means no
    /// limit of its own.
    fn capacity(&self) -> Option<usize> {
        None
    }

    /// Whether [`WorkerControl::memory`] reads anything on this platform: a pool with
    /// `max_memory_per_worker` is refused when it is built if not. `Err` names the platform
    /// and why; `Ok(())`, the default, means it does.
    fn reads_memory(&self) -> Result<(), (&'static str, &'static str)> {
        Ok(())
    }
}

/// A worker that has been started: its streams, and a handle on it.
pub struct StartedWorker {
    /// Frames from the worker (its stdout).
    pub reader: Box<dyn AsyncRead + Send + Unpin>,
    /// Frames to the worker (its stdin).
    pub writer: Box<dyn AsyncWrite + Send + Unpin>,
    /// Completes, once, when the worker has ended, with how; everything it started is gone by
    /// then.
    pub exited: Pin<Box<dyn Future<Output = ExitStatus> + Send>>,
    /// Stops it and tells about it.
    pub control: Arc<dyn WorkerControl>,
}

impl fmt::Debug for StartedWorker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartedWorker")
            .field("pid", &self.control.pid())
            .finish_non_exhaustive()
    }
}

/// A handle on a running worker.
pub trait WorkerControl: Send + Sync {
    /// Its process id, where it has one.
    fn pid(&self) -> Option<u32>;
    /// Ends it at once, with everything it started (its process group). `exited` completes
    /// soon after.
    fn kill(&self);
    /// The end of what it wrote to stderr, for a crash report.
    fn stderr_tail(&self) -> String;
    /// The memory it holds now, in bytes (native: resident set; WASI: linear memory), if
    /// known.
    fn memory(&self) -> Option<u64>;
}

/// The end of what a worker wrote to stderr: its last [`STDERR_TAIL_BYTES`] bytes, fed by a
/// backend as they arrive, for [`WorkerControl::stderr_tail`].
///
/// ```
/// use process_pool::backend::StderrTail;
///
/// let tail = StderrTail::default();
/// tail.push(b"loading\n");
/// tail.push(b"panicked: out of luck\n");
/// assert_eq!(tail.text(), "loading\npanicked: out of luck");
/// ```
#[derive(Debug, Default)]
pub struct StderrTail(Mutex<VecDeque<u8>>);

impl StderrTail {
    /// Appends `bytes`, forgetting what falls out of the tail.
    pub fn push(&self, bytes: &[u8]) {
        let mut tail = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        tail.extend(bytes);
        let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
        tail.drain(..excess);
    }

    /// The tail as text, trimmed.
    pub fn text(&self) -> String {
        let mut tail = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        crate::result::stderr_tail(tail.make_contiguous())
    }
}

/// A worker's stderr as its backend reads it: each line logged through `tracing` (target
/// `process_pool::worker`, with the worker's id and pid), a line longer than [`MAX_LOG_LINE`]
/// cut there (and marked), and the tail kept for [`WorkerControl::stderr_tail`]. What it holds
/// is bounded whatever the worker writes: 256 MiB without a newline costs no more than a short
/// line.
///
/// ```
/// use process_pool::backend::StderrLog;
///
/// let mut log = StderrLog::new(1, None);
/// log.write(b"loading\npanicked: ");
/// log.write(b"out of luck\n");
/// assert_eq!(log.tail().text(), "loading\npanicked: out of luck");
/// ```
#[derive(Debug)]
pub struct StderrLog {
    worker: WorkerId,
    pid: Option<u32>,
    tail: Arc<StderrTail>,
    line: Vec<u8>,
    cut: usize,
}

impl StderrLog {
    /// A log for worker `worker` (process `pid`, where it has one).
    pub fn new(worker: WorkerId, pid: Option<u32>) -> StderrLog {
        StderrLog {
            worker,
            pid,
            tail: Arc::default(),
            line: Vec::new(),
            cut: 0,
        }
    }

    /// The tail it keeps, to hand to the worker's [`WorkerControl`].
    pub fn tail(&self) -> Arc<StderrTail> {
        Arc::clone(&self.tail)
    }

    /// Takes the next bytes of stderr, logging every line they complete.
    pub fn write(&mut self, bytes: &[u8]) {
        self.tail.push(bytes);
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            self.keep(&rest[..end]);
            self.emit();
            rest = &rest[end + 1..];
        }
        self.keep(rest);
    }

    /// Logs what is left of an unfinished last line (at the worker's end).
    pub fn finish(&mut self) {
        if !self.line.is_empty() || self.cut > 0 {
            self.emit();
        }
    }

    fn keep(&mut self, part: &[u8]) {
        let room = MAX_LOG_LINE - self.line.len();
        let kept = part.len().min(room);
        self.line.extend_from_slice(&part[..kept]);
        self.cut += part.len() - kept;
    }

    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        if self.cut > 0 {
            tracing::info!(target: "process_pool::worker", worker = self.worker, pid = self.pid, "{text}… ({} more bytes of this line not logged)", self.cut);
        } else {
            tracing::info!(target: "process_pool::worker", worker = self.worker, pid = self.pid, "{text}");
        }
        self.line.clear();
        self.cut = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_line_costs_no_more_than_the_cap() {
        let mut log = StderrLog::new(1, None);
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..64 {
            log.write(&chunk);
        }
        assert_eq!(log.line.len(), MAX_LOG_LINE);
        assert_eq!(log.cut, (64 << 20) - MAX_LOG_LINE);
        assert!(
            log.line.capacity() <= 2 * MAX_LOG_LINE,
            "{}",
            log.line.capacity()
        );
        log.write(b"\nnext line\n");
        assert!(log.line.is_empty() && log.cut == 0);
        assert_eq!(log.tail().text().lines().last(), Some("next line"));
        assert!(log.tail().text().len() <= STDERR_TAIL_BYTES);
    }
}
