//! What a backend implements or uses: [`Spawner`] (jobs) with its [`RunContext`] and [`Exit`];
//! [`WorkerSpawner`] (warm workers) with [`StartedWorker`] and [`WorkerControl`]; the helpers
//! every backend needs ([`CappedBuffer`] for output, [`StderrLog`] for a worker's stderr);
//! [`RoutingSpawner`] to combine backends; and, with the `testing` feature, the conformance
//! suites every backend runs.
//!
//! Users of the pools need none of this except to pick a backend: the facade re-exports the
//! backends themselves (`NativeSpawner`, `WasiSpawner`, ...) at its root.

mod output;
mod routing;
mod sink;
mod spawner;
mod worker;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod conformance;

/// What stops an attempt: the pool's to cancel; a [`RunContext`] made by hand takes one.
pub use tokio_util::sync::CancellationToken;

pub use self::output::{CappedBuffer, LineSplitter, MAX_LINE};
pub use self::routing::RoutingSpawner;
pub use self::sink::{CHUNK, Captured, Feed, Sink};
pub use self::spawner::{Exit, ExitStatus, RunContext, Spawner, TimeoutHold};
pub use self::worker::{
    MAX_LOG_LINE, StartedWorker, StderrLog, StderrTail, WorkerControl, WorkerId, WorkerSpawner,
};
pub use crate::stdio::{
    BoxReader, BoxWriter, Source, SyncReader, Target, pipe_reader, pipe_writer,
};
