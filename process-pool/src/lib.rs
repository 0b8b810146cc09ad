//! Run many jobs in parallel under a bounded pool, from async Rust: OS processes, and
//! WebAssembly (WASI) modules sandboxed in wasmtime, through the same API; and warm workers,
//! long-lived programs that each serve many calls.
//!
//! - [`ProcessPool`] runs jobs ([`Job`], [`job`]), one process or one fresh WASI instance
//!   each, at most `max_workers` at a time: every job gives exactly one [`JobResult`], under
//!   timeouts, cancels, retries and shutdown, and a native job's whole process tree is ended.
//! - [`WorkerPool`] keeps workers alive and sends them calls ([`Call`]): a call costs a message
//!   round trip, not a spawn. Workers speak a small framed protocol on their stdin and stdout
//!   (`PROTOCOL.md` in the repository), in any language; [`Worker`] is the Rust side.
//!
//! This is the facade: it re-exports the core crate, `process_pool_core` (jobs, results,
//! errors, the scheduler, the worker pool: [`Job`], [`JobResult`], [`ProcessPool`],
//! [`WorkerPool`], and what a backend implements, [`backend`]) and, by cargo feature, the
//! backends:
//!
//! | feature | default | brings |
//! |---|---|---|
//! | `native` | on | `NativeSpawner` (OS processes, each job's whole tree held: a cgroup, process group or Job Object per job: `NativeSpawner::pool(4)?`) and `NativeWorker` (worker processes for a `WorkerPool`) |
//! | `json` | on | typed calls, as JSON: `WorkerPool::call_json`, `Worker::typed` |
//! | `wasi` | off | `WasiSpawner` (WASIp1 modules and WASIp2 components in wasmtime, a fresh sandboxed instance per job: `WasiSpawner::pool(4)?`) and `WasiWorker` (a guest as a warm worker) |
//! | `slurm` | off | `SlurmSpawner` (the same jobs on the nodes of a Slurm cluster, through agents), `SlurmStepSpawner` (a Slurm step per job) and `SlurmWorker` (warm workers on the nodes); Unix only: on Windows the feature is a compile error saying so |
//! | `serde` | off | `Serialize` for `JobResult`, `Outcome`, `Stats` and `WorkerStats` |
//!
//! On docs.rs every feature is on, and each item a feature brings is marked with it.
//!
//! Until it is published, depend on it from its repository:
//!
//! ```toml
//! [dependencies]
//! process-pool = { git = "https://github.com/process-pool/process-pool" } # native, json
//! # or, for WASI jobs too:
//! # process-pool = { git = "https://github.com/process-pool/process-pool", features = ["wasi"] }
//! tokio = { version = "1", features = ["rt-multi-thread", "macros"] }
//! ```
//!
//! # Warm workers
//!
//! A pool of up to 2 workers running the repository's Python worker
//! (`process-pool-protocol/examples/python_worker.py`, standard library only), which serves
//! an `upper` method among others:
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use process_pool::{NativeWorker, WorkerPool};
//!
//! let worker = NativeWorker::new("python3").arg("process-pool-protocol/examples/python_worker.py");
//! let pool = WorkerPool::builder().max_workers(2).build(worker)?;
//! assert_eq!(pool.call("upper", "hello").await?, "HELLO");
//! # Ok(()) }
//! ```
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
//! use process_pool::{job, Job, JobError, NativeSpawner};
//!
//! let pool = NativeSpawner::pool(2)?;
//! let checked = pool
//!     .run_all_checked([job("echo", ["hello"]), Job::new("false")])
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

/// The worker side in Rust: serve named methods to a [`WorkerPool`] (see `PROTOCOL.md`).
pub use process_pool_core::protocol::Worker;
pub use process_pool_core::{
    Backoff, Bytes, Call, CallError, CallHandle, CallId, ConfigError, DEFAULT_KILL_GRACE,
    DEFAULT_OUTPUT_LIMIT, ErrorCode, Job, JobError, JobHandle, JobId, JobResult, JobRetry,
    JobStart, Outcome, Output, OutputLine, Percentiles, Pipeline, PipelineResult, PoolBuilder,
    ProcessPool, ResultStream, RetryOn, RetryPolicy, STDERR_TAIL_BYTES, SpillFile, Stats, Stream,
    StreamUnsupported, Usage, WorkerEvent, WorkerInfo, WorkerPool, WorkerPoolBuilder, WorkerStats,
    async_trait, backend, job, protocol,
};

#[cfg(feature = "native")]
#[cfg_attr(docsrs, doc(cfg(feature = "native")))]
pub use process_pool_native::{Containment, NativeSpawner, NativeWorker};

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
