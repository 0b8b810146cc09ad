//! The core of process-pool: [`Job`], [`JobResult`], [`JobError`], and the two pools built on
//! one engine: [`ProcessPool`] (jobs, run by a [`Spawner`](backend::Spawner)) and
//! [`WorkerPool`] (calls to warm workers, started by a
//! [`WorkerSpawner`](backend::WorkerSpawner)).
//!
//! This crate knows nothing of processes or WebAssembly: a backend implements the traits of
//! [`backend`] (`process-pool-native` for OS processes, `process-pool-wasi` for WASI modules),
//! and the pools supply the policy: a bounded number of workers, a priority queue, timeouts,
//! retries with backoff, rate-limit pauses, hooks, cancellation, resizing, statistics and
//! graceful shutdown, the same in both. Most users want the `process-pool` facade, which
//! re-exports all of this together with the backends.
//!
//! ```
//! use process_pool::{job, NativeSpawner};
//!
//! # // It runs Unix programs (sh, echo, cat...); Windows runs its own in process-pool-native.
//! # #[cfg(unix)]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = NativeSpawner::pool(4)?;
//! let results = pool.run_all([job("echo", ["hello"]), job("echo", ["world"])]).await?;
//! assert_eq!(results[1].stdout_lossy(), "world\n");
//! # Ok(())
//! # }
//! # #[cfg(not(unix))]
//! # fn main() {}
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backend;
mod engine;
mod error;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod job;
mod output;
mod pipeline;
mod pool;
mod result;
mod stdio;
mod workers;

pub use async_trait::async_trait;
pub use bytes::Bytes;
pub use process_pool_protocol as protocol;
pub use process_pool_protocol::ErrorCode;

pub use crate::engine::latency::Percentiles;
pub use crate::engine::retry::{Backoff, RetryOn, RetryPolicy};
pub use crate::engine::tally::Stats;
pub use crate::error::{ConfigError, JobError};
pub use crate::job::{Job, job};
pub use crate::output::{OutputLine, Stream};
pub use crate::pipeline::{Pipeline, PipelineResult};
pub use crate::pool::{
    DEFAULT_KILL_GRACE, DEFAULT_OUTPUT_LIMIT, JobHandle, JobRetry, JobStart, PoolBuilder,
    ProcessPool, ResultStream,
};
pub use crate::result::{JobId, JobResult, Outcome, STDERR_TAIL_BYTES, Usage};
pub use crate::stdio::{Input, Output, SpillFile, StreamUnsupported};
pub use crate::workers::{
    Call, CallError, CallHandle, CallId, WorkerEvent, WorkerInfo, WorkerPool, WorkerPoolBuilder,
    WorkerStats,
};
