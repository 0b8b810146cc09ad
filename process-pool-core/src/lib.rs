//! The core of process-pool: [`Job`], [`JobResult`], [`JobError`], the [`Spawner`] trait and
//! the scheduler, [`ProcessPool`].
//!
//! This crate knows nothing of processes or WebAssembly: a backend implements [`Spawner`]
//! (`process-pool-native` for OS processes), and the pool supplies the policy: a bounded number
//! of workers, a priority queue, timeouts, retries with backoff, output limits, hooks,
//! cancellation, resizing and graceful shutdown. Most users want the `process-pool` facade,
//! which re-exports all of this together with the backends.
//!
//! ```
//! use process_pool_core::{async_trait, job, Exit, ExitStatus, Job, ProcessPool, RunContext, Spawner};
//!
//! /// A stand-in backend: "runs" a job by echoing its arguments.
//! struct Echo;
//!
//! #[async_trait]
//! impl Spawner for Echo {
//!     async fn spawn(&self, job: &Job, _ctx: &RunContext) -> std::io::Result<Exit> {
//!         let text = job.get_args().join(" ".as_ref()).into_string().unwrap_or_default();
//!         Ok(Exit::new(ExitStatus::Code(0)).with_stdout(text.into(), false))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = ProcessPool::new(Echo, 4)?;
//! let results = pool.run_all([job("echo", ["hello"]), job("echo", ["world"])]).await?;
//! assert_eq!(results[1].stdout_lossy(), "world");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod batch;
mod builder;
mod error;
mod handle;
mod hooks;
mod job;
mod latency;
mod output;
mod pool;
mod queue;
mod result;
mod retry;
mod routing;
mod runner;
mod spawner;
mod state;
mod stats;
mod workers;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod conformance;

pub use async_trait::async_trait;
pub use batch::ResultStream;
pub use builder::{DEFAULT_KILL_GRACE, DEFAULT_OUTPUT_LIMIT, PoolBuilder};
pub use bytes::Bytes;
pub use error::{ConfigError, JobError};
pub use handle::JobHandle;
pub use hooks::{JobRetry, JobStart};
pub use job::{Job, job};
pub use latency::Percentiles;
pub use output::CappedBuffer;
pub use pool::ProcessPool;
pub use process_pool_protocol as protocol;
pub use result::{JobId, JobResult, Outcome, STDERR_TAIL_BYTES};
pub use retry::{Backoff, RetryOn, RetryPolicy};
pub use routing::RoutingSpawner;
pub use spawner::{Exit, ExitStatus, RunContext, Spawner};
pub use stats::Stats;
pub use tokio_util::sync::CancellationToken;
pub use workers::{
    Call, CallError, CallHandle, CallId, DEFAULT_CANCEL_GRACE, Retry, StartedWorker, StderrTail,
    WorkerControl, WorkerEvent, WorkerId, WorkerInfo, WorkerPool, WorkerPoolBuilder,
    WorkerPoolStats, WorkerSpawner,
};
