//! The OS-process backend of process-pool: [`NativeSpawner`] runs each job as a child process
//! through `tokio::process`, and [`NativeWorker`] starts the workers of a
//! [`WorkerPool`](process_pool_core::WorkerPool).
//!
//! Each job (and each worker) gets a container of its own for its whole tree, so that every
//! process it started is gone when its result is returned:
//!
//! - **Linux**: a cgroup v2 of its own where the pool can make one (root, or a delegated
//!   subtree), entered before the job's first instruction; otherwise the job's process group,
//!   with the pool a child subreaper that finds the job's escaped descendants by a marker in
//!   their environment. See [`Containment`]. When a job must stop (timeout, cancel, shutdown)
//!   its process group and everything in its cgroup (or marked as its) get SIGTERM, then
//!   SIGKILL after the pool's grace (`cgroup.kill`), and the child is always reaped. What a job
//!   leaves behind after it exits is ended the same way, wherever it went (`setsid`, a
//!   daemon's double fork). If the pool's process itself dies, a guard process ends its jobs.
//! - **macOS**: a process group, started with `Command::process_group(0)` (which keeps the
//!   fast `posix_spawn` path), stopped as above; processes a job leaves in its group are found
//!   through libproc; a process that leaves the job's group on purpose (`setsid`, a daemon) is
//!   out of reach.
//! - **Windows**: a Job Object with `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`. The process is
//!   created suspended in a console process group of its own (where, as Windows does for any
//!   new process group, Ctrl-C is ignored until it enables it; Ctrl-Break reaches it), put in
//!   its Job Object, then resumed, so even its first child is in the job; nothing in the job outlives the pool, even
//!   when the pool's process is killed. A stop sends `CTRL_BREAK_EVENT` to the job's process
//!   group (which reaches it only when the pool has a console: from a service, or under Wine,
//!   the grace just elapses), then `TerminateJobObject` after the pool's grace; what a job
//!   leaves in its Job Object after it exits is ended by `TerminateJobObject` at once (its
//!   process group's id died with its first process). A bare program name is
//!   looked up in `PATH` with each extension of `PATHEXT`; a `.bat` or `.cmd` program runs
//!   through `cmd.exe` with its arguments quoted by the standard library, and an argument it
//!   cannot be given safely (a line break) fails the job with [`BatchArgument`]. Exit codes
//!   are [`Outcome::Exited`](process_pool_core::Outcome::Exited) with their 32 bits; a process
//!   ended by an exception is [`Outcome::Exception`](process_pool_core::Outcome::Exception).
//!
//! A worker's resident set, which `max_memory_per_worker` recycles by, is read from `/proc` on
//! Linux, libproc on macOS and the process's memory counters (its working set) on Windows;
//! elsewhere such a pool is refused when it is built.
//!
//! stdout and stderr are read while the job runs; past the output limit they are still drained
//! (the child never blocks on a full pipe) but not kept. stdin is written from the job's bytes
//! and closed; a job that does not read it is not disturbed.
//!
//! ```
//! use process_pool::{job, NativeSpawner};
//!
//! # // `echo` is a program on Unix only (a cmd.exe built-in on Windows).
//! # #[cfg(unix)]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = NativeSpawner::pool(4)?;
//! let results = pool.run_all([job("echo", ["hello"])]).await?;
//! assert_eq!(results[0].stdout_lossy(), "hello\n");
//! # Ok(())
//! # }
//! # #[cfg(not(unix))]
//! # fn main() {}
//! ```
#![deny(missing_docs)]

mod capture;
mod containment;
mod error;
mod platform;
mod spawn;
mod worker;

pub use containment::Containment;
#[cfg(unix)]
pub use containment::hold_until_jobs_end;
pub use error::BatchArgument;
pub use spawn::NativeSpawner;
pub use worker::NativeWorker;
