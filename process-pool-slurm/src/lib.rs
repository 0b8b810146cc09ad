//! The Slurm backend of process-pool: the same jobs, and the same warm-worker calls, on the
//! nodes of a Slurm cluster.
//!
//! - **Agent mode**, [`SlurmSpawner`] (for many short jobs): one agent per node, started by
//!   `srun`, runs the jobs it is sent with the native spawner, many at once. A round trip
//!   costs a fraction of a millisecond, where a Slurm job or step per job costs 40–60 ms.
//! - **Step mode**, [`SlurmStepSpawner`] (for long jobs that need Slurm's accounting and
//!   limits): each job its own `srun` step with its own [`Resources`].
//! - **Warm workers on nodes**, [`SlurmWorker`]: a [`WorkerSpawner`] that starts your worker
//!   program on a node, so a `WorkerPool` spans the cluster.
//!
//! The agent is the program `process-pool-agent` of this crate; it must be reachable at the
//! same path on the nodes (a shared file system, as clusters have for home directories).
//!
//! [`WorkerSpawner`]: process_pool_core::backend::WorkerSpawner
#![deny(missing_docs)]

// Unix only: the agents and steps run jobs in process groups and stop them with signals, and
// Slurm itself runs on Linux. Elsewhere (Windows) this crate, and the facade's `slurm`
// feature, is one clear error instead of dozens about missing Unix APIs.
#[cfg(not(unix))]
compile_error!(
    "process-pool-slurm (the `slurm` feature of process-pool) is for Unix only: Slurm runs on \
     Linux, and its agents stop jobs with process groups and signals; build without it here"
);

/// Every item of the crate, kept only on Unix (see the `compile_error!` above).
macro_rules! unix_only {
    ($($item:item)*) => { $( #[cfg(unix)] $item )* };
}

unix_only! {
    pub mod agent;
    mod agents;
    mod cluster;
    mod error;
    #[cfg(any(test, feature = "fuzzing"))]
    #[doc(hidden)]
    pub mod fuzzing;
    mod launch;
    pub mod lines;
    mod resources;
    pub mod spec;
    mod step;
    mod worker;

    pub use agents::{AGENT_PROGRAM, Allocation, SlurmBuilder, SlurmSpawner};
    pub use error::SlurmError;
    pub use resources::Resources;
    pub use step::{SlurmStepBuilder, SlurmStepSpawner};
    pub use worker::{SlurmWorker, SlurmWorkerBuilder};
}
