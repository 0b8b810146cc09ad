//! Run many jobs in parallel under a bounded pool: OS processes today, sandboxed WebAssembly
//! (WASI) modules with the same API to come.
//!
//! This is the facade: it re-exports [`process_pool_core`] (jobs, results, errors, the
//! scheduler) and, by cargo feature, the backends: `native` (on by default) brings
//! `NativeSpawner`, `wasi` brings `WasiSpawner` (a WASI pool of 4 workers is
//! `WasiSpawner::pool(4)?`), `slurm` brings `SlurmSpawner` (the same jobs on the nodes of a
//! Slurm cluster).
//!
//! # The reference pool's examples, in Rust
//!
//! **Basic**: results come back in input order.
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use process_pool::{job, NativeSpawner};
//!
//! let pool = NativeSpawner::pool(4)?;
//! let results = pool.run_all([job("echo", ["hello"]), job("echo", ["world"])]).await?;
//!
//! assert_eq!(results.len(), 2);
//! assert_eq!(results[0].exit_code(), Some(0));
//! assert_eq!(results[1].exit_code(), Some(0));
//! assert_eq!(results[1].stdout_lossy(), "world\n");
//! # Ok(()) }
//! ```
//!
//! **With timeout**: the job is stopped (its whole process tree) and marked timed out.
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use process_pool::{job, NativeSpawner};
//!
//! let pool = NativeSpawner::pool(2)?;
//! let results = pool
//!     .run_all([job("sleep", ["10"]).timeout(Duration::from_millis(100))])
//!     .await?;
//!
//! assert_eq!(results.len(), 1);
//! assert!(results[0].timed_out());
//! # Ok(()) }
//! ```
//!
//! **With error checking**: `run_all_checked` turns the first failure into a [`JobError`].
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use process_pool::{job, JobError, NativeSpawner};
//!
//! let pool = NativeSpawner::pool(2)?;
//! let checked = pool
//!     .run_all_checked([job("echo", ["hello"]), job("false", [] as [&str; 0])])
//!     .await;
//!
//! let caught = matches!(checked, Err(JobError::ProcessFailed { index: 1, exit_code: Some(1), .. }));
//! assert!(caught);
//! # Ok(()) }
//! ```
//!
//! **With completion callback**: `on_complete` sees every result before `run_all` returns.
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use process_pool::{job, NativeSpawner, ProcessPool};
//!
//! let count = Arc::new(AtomicUsize::new(0));
//! let counter = Arc::clone(&count);
//! let pool = ProcessPool::builder()
//!     .max_workers(4)
//!     .on_complete(move |_result| {
//!         counter.fetch_add(1, Ordering::Relaxed);
//!     })
//!     .build(NativeSpawner::new())?;
//!
//! let results = pool.run_all([job("echo", ["task1"]), job("echo", ["task2"])]).await?;
//!
//! assert_eq!(results.len(), 2);
//! assert_eq!(count.load(Ordering::Relaxed), 2);
//! # Ok(()) }
//! ```
//!
//! **Map pattern** (static-site generators, batch processing): one job per item.
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use process_pool::{job, NativeSpawner};
//!
//! let pool = NativeSpawner::pool(4)?;
//! let items = ["a", "b", "c"];
//! let results = pool.map(items, |item| job("echo", [item])).await?;
//!
//! assert_eq!(results.len(), 3);
//! for result in &results {
//!     assert_eq!(result.exit_code(), Some(0));
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use process_pool_core::{
    Backoff, Bytes, CancellationToken, CappedBuffer, ConfigError, DEFAULT_KILL_GRACE,
    DEFAULT_OUTPUT_LIMIT, Exit, ExitStatus, Job, JobError, JobHandle, JobId, JobResult, JobRetry,
    JobStart, Outcome, Percentiles, PoolBuilder, ProcessPool, ResultStream, RetryOn, RetryPolicy,
    RoutingSpawner, RunContext, STDERR_TAIL_BYTES, Spawner, Stats, async_trait, job,
};
// Warm worker pools.
/// The worker side in Rust: serve named methods to a [`WorkerPool`] (see `PROTOCOL.md`).
pub use process_pool_core::protocol::Worker;
pub use process_pool_core::{
    Call, CallError, CallHandle, CallId, DEFAULT_CANCEL_GRACE, Retry, StartedWorker, WorkerControl,
    WorkerEvent, WorkerId, WorkerInfo, WorkerPool, WorkerPoolBuilder, WorkerPoolStats,
    WorkerSpawner, protocol,
};

#[cfg(feature = "native")]
#[cfg_attr(docsrs, doc(cfg(feature = "native")))]
pub use process_pool_native::{NativeSpawner, NativeWorker};

#[cfg(feature = "wasi")]
#[cfg_attr(docsrs, doc(cfg(feature = "wasi")))]
pub use process_pool_wasi::{DirAccess, WasiSpawner, WasiSpawnerBuilder, WasiWorker};

#[cfg(feature = "slurm")]
#[cfg_attr(docsrs, doc(cfg(feature = "slurm")))]
pub use process_pool_slurm::{
    Allocation, Resources, SlurmBuilder, SlurmError, SlurmSpawner, SlurmStepBuilder,
    SlurmStepSpawner, SlurmWorker, SlurmWorkerBuilder,
};

/// The README's examples, compiled and run as doctests so they stay true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
