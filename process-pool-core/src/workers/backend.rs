//! [`WorkerSpawner`]: what a backend implements to start long-lived workers.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::{ExitStatus, STDERR_TAIL_BYTES};

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
/// use process_pool_core::StderrTail;
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
