//! Agent mode: [`SlurmSpawner`], a [`Spawner`] that runs each job on a node of a Slurm
//! cluster through an agent, many jobs per agent, at a fraction of a millisecond each.

use std::io;
use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::time::Duration;

use process_pool_core::backend::{
    CancellationToken, Exit, ExitStatus, LineSplitter, RunContext, Spawner,
};
use process_pool_core::{
    Backoff, CallError, ConfigError, Job, ProcessPool, RetryOn, RetryPolicy, Stats, Stream,
    WorkerEvent, WorkerPool, WorkerStats, async_trait,
};

use crate::agent::RUN_METHOD;
use crate::cluster::Commands;
use crate::error::SlurmError;
use crate::launch::{FailureHook, Launch, Launcher, place};
use crate::resources::Resources;
use crate::spec::{JobSpec, Reply};

/// The name of the agent program, looked up beside the current program, then in `PATH`.
pub const AGENT_PROGRAM: &str = "process-pool-agent";

/// Which allocation the pool's agents run in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Allocation {
    /// The allocation this program runs in (`SLURM_JOB_ID`), else one of its own per agent.
    #[default]
    Auto,
    /// Each agent in a one-node allocation of its own (`salloc -N1`), held while it lives.
    Own,
    /// The nodes of this job (its id), one agent per node.
    Job(String),
}

impl Allocation {
    /// `Auto` made definite: `None` for own allocations, the job id otherwise.
    pub(crate) fn resolve(&self) -> Option<String> {
        match self {
            Allocation::Auto => std::env::var("SLURM_JOB_ID").ok().filter(|j| !j.is_empty()),
            Allocation::Own => None,
            Allocation::Job(job) => Some(job.clone()),
        }
    }
}

type Hook = Arc<dyn Fn(&WorkerEvent) + Send + Sync>;

/// Builds a [`SlurmSpawner`]: how many nodes, what to ask Slurm for, how to treat faults.
#[must_use = "a builder does nothing until `build` is called"]
pub struct SlurmBuilder {
    nodes: usize,
    min_nodes: Option<usize>,
    resources: Resources,
    allocation: Allocation,
    pending_timeout: Duration,
    idle_timeout: Option<Duration>,
    lost_job_retry: RetryPolicy,
    start_retry: RetryPolicy,
    agent_program: Option<PathBuf>,
    slurm_bin_dir: Option<PathBuf>,
    job_name: String,
    on_agent_start: Option<Hook>,
    on_agent_stop: Option<Hook>,
    on_agent_crash: Option<Hook>,
    on_start_failure: Option<FailureHook>,
    health_check: Option<(Duration, Duration)>,
    node_check: Duration,
}

impl std::fmt::Debug for SlurmBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlurmBuilder")
            .field("nodes", &self.nodes)
            .field("min_nodes", &self.min_nodes)
            .field("resources", &self.resources)
            .field("allocation", &self.allocation)
            .field("pending_timeout", &self.pending_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for SlurmBuilder {
    fn default() -> Self {
        SlurmBuilder {
            nodes: 1,
            min_nodes: None,
            resources: Resources::new(),
            allocation: Allocation::Auto,
            pending_timeout: Duration::from_secs(300),
            idle_timeout: None,
            lost_job_retry: RetryPolicy::attempts(3).on(RetryOn::CRASH).backoff(
                Backoff::exponential(Duration::from_millis(200), Duration::from_secs(5)),
            ),
            start_retry: RetryPolicy::attempts(4).backoff(Backoff::exponential(
                Duration::from_secs(1),
                Duration::from_secs(5),
            )),
            agent_program: None,
            slurm_bin_dir: None,
            job_name: "process-pool".to_owned(),
            on_agent_start: None,
            on_agent_stop: None,
            on_agent_crash: None,
            on_start_failure: None,
            health_check: Some((Duration::from_secs(10), Duration::from_secs(30))),
            node_check: Duration::from_secs(10),
        }
    }
}

impl SlurmBuilder {
    /// The most nodes (one agent each) at once (default 1).
    pub fn nodes(mut self, n: usize) -> Self {
        self.nodes = n;
        self
    }

    /// Agents started at once and kept when idle (default: all of `nodes`). Below `nodes`,
    /// more are started while jobs wait, and released after [`idle_timeout`](Self::idle_timeout).
    pub fn min_nodes(mut self, n: usize) -> Self {
        self.min_nodes = Some(n);
        self
    }

    /// What to ask Slurm for each agent's node (partition, time limit, ...).
    pub fn resources(mut self, resources: Resources) -> Self {
        self.resources = resources;
        self
    }

    /// The partition (a shortcut for [`Resources::partition`]).
    pub fn partition(mut self, name: impl Into<String>) -> Self {
        self.resources = self.resources.partition(name);
        self
    }

    /// The allocation's time limit (a shortcut for [`Resources::time_limit`]).
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.resources = self.resources.time_limit(limit);
        self
    }

    /// Which allocation the agents run in (default: the one this program runs in, else one
    /// per agent).
    pub fn allocation(mut self, allocation: Allocation) -> Self {
        self.allocation = allocation;
        self
    }

    /// How long an agent's allocation may stay pending before it is cancelled and the start
    /// counts as failed (default 5 minutes).
    pub fn pending_timeout(mut self, limit: Duration) -> Self {
        self.pending_timeout = limit;
        self
    }

    /// Releases an agent (and its allocation) idle this long, down to `min_nodes`.
    pub fn idle_timeout(mut self, limit: Duration) -> Self {
        self.idle_timeout = Some(limit);
        self
    }

    /// How a job whose agent was lost (its node failed, its step was cancelled, it was
    /// killed) is run again on another agent (default: up to 3 attempts in all, 0.2 s
    /// before the second, doubling up to 5 s: `RetryPolicy::attempts(3).on(RetryOn::CRASH)`
    /// with an exponential backoff). A job whose own retry policy allows a
    /// single attempt is never run again: it fails with a spawn error of kind
    /// `ConnectionAborted`.
    pub fn lost_job_retry(mut self, policy: RetryPolicy) -> Self {
        self.lost_job_retry = policy;
        self
    }

    /// How a failed agent start (allocation refused or pending too long) is tried again
    /// (default: up to 4 attempts, 1 s apart, doubling to 5 s). After that the jobs waiting
    /// for it fail; the next job submitted tries again.
    pub fn start_retry(mut self, policy: RetryPolicy) -> Self {
        self.start_retry = policy;
        self
    }

    /// The agent program (default: `process-pool-agent` beside this program, else in `PATH`).
    /// It must be reachable at this path on the nodes (a shared file system).
    pub fn agent_program(mut self, path: impl Into<PathBuf>) -> Self {
        self.agent_program = Some(path.into());
        self
    }

    /// Where Slurm's commands are (default: `PATH`).
    pub fn slurm_bin_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.slurm_bin_dir = Some(dir.into());
        self
    }

    /// The job name of the agents' allocations and steps, as `squeue` shows it (default
    /// `process-pool`).
    pub fn job_name(mut self, name: impl Into<String>) -> Self {
        self.job_name = name.into();
        self
    }

    /// Called when an agent has started and said hello.
    pub fn on_agent_start(mut self, hook: impl Fn(&WorkerEvent) + Send + Sync + 'static) -> Self {
        self.on_agent_start = Some(Arc::new(hook));
        self
    }

    /// Called when an agent stopped as asked (idle, shut down).
    pub fn on_agent_stop(mut self, hook: impl Fn(&WorkerEvent) + Send + Sync + 'static) -> Self {
        self.on_agent_stop = Some(Arc::new(hook));
        self
    }

    /// Called when an agent was lost (its node, its step, its process) or killed.
    pub fn on_agent_crash(mut self, hook: impl Fn(&WorkerEvent) + Send + Sync + 'static) -> Self {
        self.on_agent_crash = Some(Arc::new(hook));
        self
    }

    /// Called with the reason each time an agent could not start: its allocation refused or
    /// pending past [`pending_timeout`](Self::pending_timeout), Slurm not reachable. The
    /// start is tried again under [`start_retry`](Self::start_retry); see also
    /// [`SlurmSpawner::failed_starts`].
    pub fn on_start_failure(mut self, hook: impl Fn(&SlurmError) + Send + Sync + 'static) -> Self {
        self.on_start_failure = Some(FailureHook(Arc::new(hook)));
        self
    }

    /// Pings each agent every `interval`; one that does not answer within `deadline` (its
    /// node hung or cut off) is lost: killed, and its jobs run again elsewhere (default:
    /// every 10 s, 30 s to answer).
    pub fn health_check(mut self, interval: Duration, deadline: Duration) -> Self {
        self.health_check = Some((interval, deadline));
        self
    }

    /// How often Slurm is asked (one `sinfo`) whether the agents' nodes are still there
    /// (default 10 s). An agent whose node Slurm marks not responding or down is lost:
    /// killed, and its jobs run again elsewhere. This is how a node whose `slurmd` stopped is
    /// noticed: its agent keeps running and answering until Slurm ends the allocation, after
    /// the cluster's `SlurmdTimeout`.
    pub fn node_check(mut self, interval: Duration) -> Self {
        self.node_check = interval;
        self
    }

    /// Checks the settings against the cluster, and starts `min_nodes` agents (waiting for
    /// their allocations, up to `pending_timeout` each).
    pub async fn build(self) -> Result<SlurmSpawner, SlurmError> {
        if self.nodes == 0 {
            return Err(SlurmError::Invalid {
                name: "nodes",
                reason: "must be at least 1".into(),
            });
        }
        let min_nodes = self.min_nodes.unwrap_or(self.nodes);
        let commands = Commands {
            bin_dir: self.slurm_bin_dir.clone(),
        };
        let agent = find_agent(self.agent_program.as_deref())?;
        let job = self.allocation.resolve();
        let (placement, cpus, nodes) = place(
            &commands,
            &self.resources,
            job.as_deref(),
            self.pending_timeout,
            true,
            self.nodes,
        )
        .await?;
        let mut program = vec![agent.into_os_string(), "agent".into()];
        if job.is_none() {
            program.push("--release-allocation".into());
        }
        let launcher = Arc::new(Launcher::new(
            commands,
            placement,
            program,
            self.job_name.clone(),
            format!("the agent on a Slurm node (job name `{}`)", self.job_name),
            self.on_start_failure,
        ));
        launcher.watch_nodes(self.node_check);
        let mut builder = WorkerPool::builder()
            .min_workers(min_nodes.min(nodes))
            .max_workers(nodes)
            .max_calls_per_worker(cpus.max(1) as usize)
            .retry(self.lost_job_retry)
            .startup_retry(self.start_retry)
            // The allocation is waited for before the agent starts; then srun and the agent's
            // hello take well under this.
            .startup_timeout(Duration::from_secs(60))
            // Agents answer a cancel at once (the job is stopped behind the answer).
            .kill_grace(Duration::from_secs(10));
        if let Some(limit) = self.idle_timeout {
            builder = builder.idle_timeout(limit);
        }
        if let Some((interval, deadline)) = self.health_check {
            builder = builder.health_check(interval, deadline);
        }
        if let Some(hook) = self.on_agent_start {
            builder = builder.on_worker_start(move |e| hook(e));
        }
        if let Some(hook) = self.on_agent_stop {
            builder = builder.on_worker_stop(move |e| hook(e));
        }
        if let Some(hook) = self.on_agent_crash {
            builder = builder.on_worker_crash(move |e| hook(e));
        }
        let workers = builder
            .build(Launch(Arc::clone(&launcher)))
            .map_err(|e: ConfigError| SlurmError::Invalid {
                name: "nodes",
                reason: e.to_string(),
            })?;
        let closing = Arc::new(CloseOnDrop(launcher.closing.clone()));
        if min_nodes > 0
            && let Err(error) = workers.ready().await
        {
            return Err(launcher
                .take_error()
                .unwrap_or(SlurmError::AgentStart(error)));
        }
        Ok(SlurmSpawner {
            workers,
            launcher,
            capacity: nodes * cpus.max(1) as usize,
            _closing: closing,
        })
    }
}

/// Cancels the pending allocations of a pool that is gone.
#[derive(Debug)]
struct CloseOnDrop(CancellationToken);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// The agent program: the one given, else beside this program (or one directory up, as for a
/// test binary in `target/debug/deps`), else in `PATH`.
pub(crate) fn find_agent(given: Option<&Path>) -> Result<PathBuf, SlurmError> {
    if let Some(path) = given {
        return if path.is_file() {
            Ok(path.to_owned())
        } else {
            Err(SlurmError::AgentMissing {
                path: path.display().to_string(),
            })
        };
    }
    let exe = std::env::current_exe().ok();
    let beside = exe.iter().flat_map(|exe| exe.ancestors().skip(1).take(2));
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    beside
        .map(Path::to_path_buf)
        .chain(on_path)
        .map(|dir| dir.join(AGENT_PROGRAM))
        .find(|path| path.is_file())
        .ok_or_else(|| SlurmError::AgentMissing {
            path: AGENT_PROGRAM.to_owned(),
        })
}

/// Runs jobs on the nodes of a Slurm cluster: each through an agent that Slurm started on a
/// node, which runs it with the native spawner (its own process group, the whole tree killed,
/// output capped). Many jobs run at once on each agent, up to its node's CPUs.
///
/// Underneath it is a [`WorkerPool`] of agents: an agent lost (its node, its step, its process)
/// is a crashed worker, and the jobs it ran are run again on another agent (see
/// [`SlurmBuilder::lost_job_retry`]). Put it under a [`ProcessPool`] (see
/// [`SlurmSpawner::into_pool`]) and priorities, retries, timeouts, hooks, statistics, `stream`
/// and `map` work as on one machine.
///
/// Nothing outlives the pool: agents exit when their input ends (the pool shut down, dropped,
/// or killed) and take their jobs with them; each agent's allocation goes back to Slurm with
/// it.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use process_pool_core::job;
/// use process_pool_slurm::SlurmSpawner;
///
/// let pool = SlurmSpawner::builder().nodes(3).build().await?.into_pool()?;
/// let results = pool.run_all((0..100).map(|i| job("echo", [i.to_string()]))).await?;
/// assert!(results.iter().all(|r| r.success()));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SlurmSpawner {
    workers: WorkerPool,
    launcher: Arc<Launcher>,
    capacity: usize,
    _closing: Arc<CloseOnDrop>,
}

impl SlurmSpawner {
    /// A builder with the defaults: 1 node, the default partition, the allocation this
    /// program runs in or one per agent.
    pub fn builder() -> SlurmBuilder {
        SlurmBuilder::default()
    }

    /// A spawner over `nodes` agents, with the other settings at their defaults.
    pub async fn new(nodes: usize) -> Result<SlurmSpawner, SlurmError> {
        SlurmSpawner::builder().nodes(nodes).build().await
    }

    /// How many jobs the agents run at once, all nodes together (nodes × CPUs per node).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// A [`ProcessPool`] over these agents, running up to [`capacity`](Self::capacity) jobs at
    /// once.
    pub fn into_pool(self) -> Result<ProcessPool, ConfigError> {
        let workers = self.capacity;
        ProcessPool::builder().max_workers(workers).build(self)
    }

    /// The agents: how many, started, lost, failed starts, and the calls they served.
    pub fn agents(&self) -> WorkerStats {
        self.workers.workers()
    }

    /// Agent starts that failed (an allocation refused or pending too long, Slurm not
    /// reachable), each attempt counted, ever. Each was reported to
    /// [`SlurmBuilder::on_start_failure`] and tried again under the start retry policy.
    pub fn failed_starts(&self) -> u64 {
        self.launcher
            .failures
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The calls made to the agents (one per job attempt), in the pools' words: succeeded,
    /// failed, retried on another agent after one was lost, ...
    pub fn calls(&self) -> Stats {
        self.workers.stats()
    }

    /// Stops the agents: each finishes the jobs it runs (up to `grace`), then exits and gives
    /// its allocation back. Returns once they all ended.
    pub async fn shutdown(&self, grace: Duration) {
        self.launcher.closing.cancel();
        self.workers.shutdown(grace).await;
    }
}

/// Sends a job's output to its live lines ([`Job::output_lines`]) once it has ended: an agent
/// answers a job whole, so its lines come at the end.
async fn send_lines(job: &Job, ctx: &RunContext, exit: &Exit) {
    let Some(tx) = job.get_output_lines() else {
        return;
    };
    for (stream, bytes, cut) in [
        (Stream::Stdout, &exit.stdout, exit.stdout_truncated),
        (Stream::Stderr, &exit.stderr, exit.stderr_truncated),
    ] {
        let mut splitter = LineSplitter::new(stream, ctx.attempt(), ctx.output_limit());
        let mut lines = splitter.push(bytes);
        lines.extend(splitter.finish());
        // The agent cut the output to the limit already: the splitter sees exactly the limit,
        // so the mark that it was cut comes from the agent's flag.
        if cut && let Some(last) = lines.last_mut() {
            last.truncated = true;
            last.complete = false;
        }
        for line in lines {
            if tx.send(line).await.is_err() {
                return;
            }
        }
    }
}

#[async_trait]
impl Spawner for SlurmSpawner {
    /// Files by path on the nodes (a file system they share) and discarded output; not the
    /// streams that need the pool's process (a reader, a writer, spill, a pipe, appending).
    fn check_streams(&self, job: &Job) -> Result<(), process_pool_core::StreamUnsupported> {
        match crate::spec::unsupported(job) {
            Some(unsupported) => Err(unsupported),
            None => Ok(()),
        }
    }

    /// Carried to the agent, whose native spawner enforces it on the node (a cgroup per job,
    /// with a memory controller): a node that cannot fails the job at its start, saying why.
    fn check_memory_limit(&self, _job: Option<&Job>) -> Result<(), String> {
        Ok(())
    }

    async fn spawn(&self, job: &Job, ctx: &RunContext) -> io::Result<Exit> {
        let spec = JobSpec::of(job, ctx.output_limit(), ctx.kill_grace())
            .with_max_memory(ctx.max_memory());
        let mut call = process_pool_core::Call::new(RUN_METHOD, spec.encode());
        if job.get_retry().is_some_and(|p| p.max_attempts() == 1) {
            call = call.no_retry();
        }
        let mut handle = self.workers.submit(call);
        let answer = tokio::select! {
            biased;
            answer = &mut handle => answer,
            () = ctx.cancelled() => {
                // The agent answers the cancel at once and stops the job behind it (SIGTERM,
                // the grace, SIGKILL to its process group).
                handle.cancel();
                return Ok(Exit::new(ExitStatus::Signal(15)));
            }
        };
        match answer {
            Ok(bytes) => match Reply::decode(&bytes) {
                Ok(Reply::Exit(exit)) => {
                    send_lines(job, ctx, &exit).await;
                    Ok(exit)
                }
                Ok(Reply::SpawnFailed(error)) => Err(error),
                Err(reason) => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "an agent's answer for `{}` is malformed: {reason}",
                        job.program_lossy()
                    ),
                )),
            },
            // Every job that waited for the failed start gets its typed reason (the last one
            // stored, when it is the one the pool was told).
            Err(CallError::WorkerStart { reason, .. }) => Err(match self.launcher.last_error() {
                Some(typed) if reason.contains(&typed.to_string()) => typed.into_io(),
                _ => io::Error::other(format!("no agent could be started: {reason}")),
            }),
            Err(error @ CallError::WorkerCrashed { .. }) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                format!(
                    "the agent running `{}` was lost: {error}",
                    job.program_lossy()
                ),
            )),
            Err(error) => Err(io::Error::other(format!(
                "`{}` could not run on an agent: {error}",
                job.program_lossy()
            ))),
        }
    }
}
