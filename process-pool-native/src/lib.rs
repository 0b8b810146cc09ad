//! The OS-process backend of process-pool: [`NativeSpawner`] runs each job as a child process
//! through `tokio::process`.
//!
//! Each job gets its own process group, started with `Command::process_group(0)` (which keeps
//! the fast `posix_spawn` path). When a job must stop (timeout, cancel, shutdown) the whole
//! group gets SIGTERM, then SIGKILL after the pool's grace, and the child is always reaped.
//! Processes a job leaves behind in its group after it exits are ended the same way, so every
//! process a job started is gone when its result is returned; the exception is a process that
//! leaves the job's group on purpose (`setsid`, a daemon), which no group signal reaches.
//!
//! stdout and stderr are read while the job runs; past the output limit they are still drained
//! (the child never blocks on a full pipe) but not kept. stdin is written from the job's bytes
//! and closed; a job that does not read it is not disturbed.
//!
//! ```
//! use process_pool::{job, NativeSpawner};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = NativeSpawner::pool(4)?;
//! let results = pool.run_all([job("echo", ["hello"])]).await?;
//! assert_eq!(results[0].stdout_lossy(), "hello\n");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod capture;
mod error;
mod platform;
mod spawn;
mod worker;

pub use error::BatchArgument;
pub use spawn::NativeSpawner;
pub use worker::NativeWorker;
