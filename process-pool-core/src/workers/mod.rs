//! Warm worker pools: long-lived workers serving many named calls each over the process-pool
//! protocol ([`process_pool_protocol`]).

mod backend;
mod builder;
mod call;
mod conn;
mod error;
mod pool;
mod stats;
mod upkeep;

pub use backend::{StartedWorker, StderrTail, WorkerControl, WorkerId, WorkerSpawner};
pub use builder::{DEFAULT_CANCEL_GRACE, Retry, WorkerEvent, WorkerPoolBuilder};
pub use call::{Call, CallHandle, CallId};
pub use error::CallError;
pub use pool::WorkerPool;
pub use stats::{WorkerInfo, WorkerPoolStats};
