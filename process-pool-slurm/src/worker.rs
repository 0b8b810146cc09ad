//! [`SlurmWorker`]: a user's worker program on a Slurm node, for a `WorkerPool` that spans the
//! cluster.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use process_pool_core::async_trait;
use process_pool_core::backend::{CancellationToken, StartedWorker, WorkerId, WorkerSpawner};

use crate::agents::{Allocation, find_agent};
use crate::cluster::Commands;
use crate::error::SlurmError;
use crate::launch::{Launcher, place};
use crate::resources::Resources;

/// Starts a worker program (any language that speaks the protocol, see `PROTOCOL.md`) on a
/// Slurm node, behind the agent's relay: so a `WorkerPool` spans the cluster.
///
/// Each worker gets a one-node allocation of its own of the given [`Resources`] (default: one
/// CPU), or runs as a step of the allocation this program runs in. The worker's stdin and
/// stdout carry the protocol as on one machine; its stderr reaches the pool's log. When the
/// pool goes, the worker's input ends, and its allocation goes back to Slurm.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use process_pool_core::WorkerPool;
/// use process_pool_slurm::SlurmWorker;
///
/// let spawner = SlurmWorker::builder("python3").arg("worker.py").build().await?;
/// let pool = WorkerPool::builder().max_workers(8).build(spawner)?;
/// let reply = pool.call("upper", "hello").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SlurmWorker {
    launcher: Arc<Launcher>,
    _closing: Arc<CloseOnDrop>,
}

#[derive(Debug)]
struct CloseOnDrop(CancellationToken);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Builds a [`SlurmWorker`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct SlurmWorkerBuilder {
    program: OsString,
    args: Vec<OsString>,
    resources: Resources,
    allocation: Allocation,
    pending_timeout: Duration,
    agent_program: Option<PathBuf>,
    slurm_bin_dir: Option<PathBuf>,
    job_name: String,
    node_check: Duration,
}

impl SlurmWorker {
    /// Workers that run `program` (looked up in the node's `PATH` if it has no `/`).
    pub fn builder(program: impl AsRef<OsStr>) -> SlurmWorkerBuilder {
        SlurmWorkerBuilder {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            resources: Resources::new(),
            allocation: Allocation::Auto,
            pending_timeout: Duration::from_secs(300),
            agent_program: None,
            slurm_bin_dir: None,
            job_name: "process-pool-worker".to_owned(),
            node_check: Duration::from_secs(10),
        }
    }
}

impl SlurmWorkerBuilder {
    /// Adds an argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// What each worker's allocation asks for.
    pub fn resources(mut self, resources: Resources) -> Self {
        self.resources = resources;
        self
    }

    /// Which allocation the workers run in.
    pub fn allocation(mut self, allocation: Allocation) -> Self {
        self.allocation = allocation;
        self
    }

    /// How long a worker's allocation may stay pending before its start fails (default 5 min).
    pub fn pending_timeout(mut self, limit: Duration) -> Self {
        self.pending_timeout = limit;
        self
    }

    /// The agent program, which relays the worker's protocol (default: beside this program,
    /// else in `PATH`).
    pub fn agent_program(mut self, path: impl Into<PathBuf>) -> Self {
        self.agent_program = Some(path.into());
        self
    }

    /// Where Slurm's commands are (default: `PATH`).
    pub fn slurm_bin_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.slurm_bin_dir = Some(dir.into());
        self
    }

    /// The Slurm job name of the workers (default `process-pool-worker`).
    pub fn job_name(mut self, name: impl Into<String>) -> Self {
        self.job_name = name.into();
        self
    }

    /// How often Slurm is asked whether the workers' nodes are still there (default 10 s): a
    /// worker whose node Slurm marks not responding or down is killed, so that its pool
    /// replaces it and runs its calls again.
    pub fn node_check(mut self, interval: Duration) -> Self {
        self.node_check = interval;
        self
    }

    /// Checks the settings against the cluster.
    pub async fn build(self) -> Result<SlurmWorker, SlurmError> {
        let commands = Commands {
            bin_dir: self.slurm_bin_dir,
        };
        let agent = find_agent(self.agent_program.as_deref())?;
        let job = self.allocation.resolve();
        let (placement, _, _) = place(
            &commands,
            &self.resources,
            job.as_deref(),
            self.pending_timeout,
            false,
            usize::MAX,
        )
        .await?;
        let mut program = vec![agent.into_os_string(), "relay".into(), "--".into()];
        program.push(self.program.clone());
        program.extend(self.args.iter().cloned());
        let what = std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let launcher = Arc::new(Launcher::new(
            commands,
            placement,
            program,
            self.job_name,
            format!("{what} (on a Slurm node)"),
            None,
        ));
        launcher.watch_nodes(self.node_check);
        Ok(SlurmWorker {
            _closing: Arc::new(CloseOnDrop(launcher.closing.clone())),
            launcher,
        })
    }
}

impl SlurmWorker {
    /// The last typed reason a worker could not start (an allocation refused or pending too
    /// long), taken: a `WorkerPool` reports it only as text.
    pub fn take_error(&self) -> Option<SlurmError> {
        self.launcher.take_error()
    }
}

#[async_trait]
impl WorkerSpawner for SlurmWorker {
    async fn start(&self, id: WorkerId) -> io::Result<StartedWorker> {
        self.launcher.start(id).await
    }

    fn describe(&self) -> String {
        self.launcher.what.clone()
    }
}
