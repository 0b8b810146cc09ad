//! [`Launcher`]: starts a program on a node through Slurm, as a worker of a `WorkerPool`: an
//! agent, or a user's worker behind the agent's relay.
//!
//! Two placements:
//! - **own allocation** (the default outside an allocation): each worker is
//!   `salloc -N1 … srun … PROGRAM`, a one-node allocation of its own, held while the worker
//!   lives. `salloc` runs on this machine as the pool's child, so when the pool goes (even by
//!   SIGKILL) the worker's input ends, it exits, `srun` ends and `salloc` gives the allocation
//!   back. Killing a worker cancels its allocation.
//! - **within an allocation** (`SLURM_JOB_ID`, or one named): each worker is a step,
//!   `srun --jobid J --overlap -N1 -n1 -w NODE PROGRAM`, on the node with the fewest workers.
//!   Killing a worker cancels its step.

use std::ffi::OsString;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use process_pool_core::async_trait;
use process_pool_core::backend::{
    CancellationToken, StartedWorker, WorkerControl, WorkerId, WorkerSpawner,
};

use crate::cluster::Commands;
use crate::error::SlurmError;

mod control;
mod place;
mod start;
mod stderr;

use self::control::Control;
pub(crate) use self::place::{check_cpus, place};

/// How long a worker's stderr is still read after its `srun` ended.
const STDERR_DRAIN: Duration = Duration::from_secs(1);
/// How long a killed worker's local `salloc`/`srun` has to end after its cancel before it is
/// killed itself.
const KILL_FALLBACK: Duration = Duration::from_secs(5);
/// How long a program has, once its allocation is granted, to say it runs on its node.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Where workers run.
#[derive(Debug)]
pub(crate) enum Placement {
    /// Each worker in a one-node allocation of its own.
    Own {
        /// The `salloc` options.
        salloc: Vec<String>,
        /// Give up on an allocation still pending after this long.
        pending_timeout: Duration,
    },
    /// Each worker a step of this job, on the node with the fewest.
    Within {
        /// The job.
        job: String,
        /// Its nodes and how many workers each has.
        load: Mutex<Vec<(String, usize)>>,
    },
}

/// Starts workers on nodes.
#[derive(Debug)]
pub(crate) struct Launcher {
    pub(crate) commands: Commands,
    pub(crate) placement: Placement,
    /// The program and its arguments, run on the node (under srun).
    pub(crate) program: Vec<OsString>,
    /// Jobs are named `<job_name>` (visible in `squeue`).
    pub(crate) job_name: String,
    /// What to call it in messages.
    pub(crate) what: String,
    /// The last typed failure, for the builder to return instead of a text.
    pub(crate) last_error: Mutex<Option<SlurmError>>,
    /// Fires when the pool is dropped: allocations still pending are given up.
    pub(crate) closing: CancellationToken,
    /// The workers started, to be watched for their nodes (see [`Launcher::watch_nodes`]).
    pub(crate) live: Mutex<Vec<Weak<Control>>>,
    /// Start attempts that failed (an allocation refused or pending too long, Slurm not
    /// reachable), ever.
    pub(crate) failures: AtomicU64,
    /// Called with each failed start.
    pub(crate) on_failure: Option<FailureHook>,
}

/// A hook called with each failed start.
#[derive(Clone)]
pub(crate) struct FailureHook(pub(crate) Arc<dyn Fn(&SlurmError) + Send + Sync>);

impl std::fmt::Debug for FailureHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FailureHook")
    }
}

/// Whether a node in this state (as `sinfo -o %t` shows it) is lost to Slurm: not responding
/// (`*`, which Slurm sets when its `slurmd` misses a ping) or down. Its workers are then lost
/// too, though their processes may still run: Slurm will end their allocation.
pub(crate) fn node_lost(state: &str) -> bool {
    state.ends_with('*') || state.starts_with("down")
}

impl Launcher {
    /// A launcher of `program` (with its arguments) on the nodes of `placement`.
    pub(crate) fn new(
        commands: Commands,
        placement: Placement,
        program: Vec<OsString>,
        job_name: String,
        what: String,
        on_failure: Option<FailureHook>,
    ) -> Launcher {
        Launcher {
            commands,
            placement,
            program,
            job_name,
            what,
            last_error: Mutex::new(None),
            closing: CancellationToken::new(),
            live: Mutex::new(Vec::new()),
            failures: AtomicU64::new(0),
            on_failure,
        }
    }

    /// Every `every`, while workers live, asks Slurm for its nodes' states (one `sinfo`) and
    /// kills the workers on a node Slurm has lost (see [`node_lost`]): the pool then counts
    /// them as crashed and runs their calls again elsewhere. Ends when the pool closes.
    ///
    /// A node whose `slurmd` stopped keeps running its steps: their `srun` goes on relaying,
    /// and only when the node misses `SlurmdTimeout` does Slurm end the allocation (and the
    /// `srun` with it). This notices the node as soon as Slurm marks it not responding.
    pub(crate) fn watch_nodes(self: &Arc<Self>, every: Duration) {
        let launcher = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = launcher.closing.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
                let watched: Vec<(String, Arc<Control>)> = {
                    let mut live = launcher.live.lock().unwrap_or_else(PoisonError::into_inner);
                    live.retain(|c| c.upgrade().is_some_and(|c| !c.ended.load(Ordering::SeqCst)));
                    live.iter()
                        .filter_map(Weak::upgrade)
                        .filter_map(|c| Some((c.node()?, c)))
                        .collect()
                };
                if watched.is_empty() {
                    continue;
                }
                let Ok(states) = launcher.commands.node_states().await else {
                    continue;
                };
                for (node, control) in watched {
                    if let Some((_, state)) =
                        states.iter().find(|(n, s)| *n == node && node_lost(s))
                    {
                        tracing::warn!(
                            node,
                            state,
                            pid = control.pid,
                            "Slurm has lost the node of a worker: the worker counts as lost"
                        );
                        control.kill();
                    }
                }
            }
        });
    }

    /// The last typed failure to start a worker, left for the next to ask.
    pub(crate) fn last_error(&self) -> Option<SlurmError> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The last typed failure to start a worker, taken.
    pub(crate) fn take_error(&self) -> Option<SlurmError> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn fail(&self, error: SlurmError) -> io::Error {
        self.failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%error, "a worker could not start on Slurm");
        if let Some(hook) = &self.on_failure {
            (hook.0)(&error);
        }
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error.clone());
        error.into_io()
    }

    fn command(&self, node: Option<&str>) -> tokio::process::Command {
        let mut command;
        match (&self.placement, node) {
            (Placement::Own { salloc, .. }, _) => {
                command = self.commands.command("salloc");
                command
                    .arg(format!("--job-name={}", self.job_name))
                    .arg("--nodes=1")
                    .args(salloc)
                    .arg(self.commands.bin("srun"))
                    .args(["--nodes=1", "--ntasks=1", "--kill-on-bad-exit=1"]);
            }
            (Placement::Within { job, .. }, node) => {
                command = self.commands.command("srun");
                command
                    .arg(format!("--jobid={job}"))
                    .arg(format!("--job-name={}", self.job_name))
                    .args([
                        "--overlap",
                        "--nodes=1",
                        "--ntasks=1",
                        "--kill-on-bad-exit=1",
                    ]);
                if let Some(node) = node {
                    command.arg(format!("--nodelist={node}"));
                }
            }
        }
        command.args(&self.program);
        command
    }

    /// The node with the fewest workers, counted as taken.
    fn pick_node(&self) -> Option<String> {
        let Placement::Within { load, .. } = &self.placement else {
            return None;
        };
        let mut load = load.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = load.iter_mut().min_by_key(|(_, n)| *n)?;
        slot.1 += 1;
        Some(slot.0.clone())
    }

    fn release_node(&self, node: &str) {
        if let Placement::Within { load, .. } = &self.placement {
            let mut load = load.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(slot) = load.iter_mut().find(|(n, _)| n == node) {
                slot.1 = slot.1.saturating_sub(1);
            }
        }
    }
}

/// A [`Launcher`] as a pool's worker spawner.
#[derive(Debug, Clone)]
pub(crate) struct Launch(pub(crate) Arc<Launcher>);

#[async_trait]
impl WorkerSpawner for Launch {
    async fn start(&self, id: WorkerId) -> io::Result<StartedWorker> {
        self.0.start(id).await
    }

    fn describe(&self) -> String {
        self.0.what.clone()
    }
}
