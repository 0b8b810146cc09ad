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
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use process_pool_core::async_trait;
use process_pool_core::backend::{
    CancellationToken, ExitStatus, StartedWorker, StderrTail, WorkerControl, WorkerId,
    WorkerSpawner,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use crate::agent::READY_PREFIX;
use crate::cluster::{Commands, Partitions};
use crate::error::SlurmError;
use crate::lines::{LineReader, LineWriter};
use crate::resources::Resources;

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

/// What the stderr of `salloc`/`srun` tells about the start.
#[derive(Debug)]
enum Event {
    Pending(String),
    Granted(String),
    Ready {
        job: String,
        step: String,
        node: String,
    },
    Error(String),
}

fn parse_event(line: &str) -> Option<Event> {
    let last_word = || line.split_whitespace().last().map(str::to_owned);
    if line.starts_with("salloc: Pending job allocation") {
        return last_word().map(Event::Pending);
    }
    if line.starts_with("salloc: Granted job allocation") {
        return last_word().map(Event::Granted);
    }
    if let Some(rest) = line.strip_prefix("salloc: job ")
        && rest.contains("queued and waiting")
    {
        return rest
            .split_whitespace()
            .next()
            .map(|j| Event::Pending(j.to_owned()));
    }
    if let Some(rest) = line.strip_prefix(READY_PREFIX) {
        let field = |name: &str| {
            rest.split_whitespace()
                .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or("-")
                .to_owned()
        };
        return Some(Event::Ready {
            job: field("job"),
            step: field("step"),
            node: field("node"),
        });
    }
    if line.contains("error:") {
        return Some(Event::Error(line.to_owned()));
    }
    None
}

/// The handle on a worker started through Slurm.
#[derive(Debug)]
pub(crate) struct Control {
    commands: Commands,
    pid: Option<u32>,
    own_allocation: bool,
    /// The allocation (own placement) or `JOB.STEP` (within), once known.
    target: Mutex<Option<String>>,
    /// The node it runs on, once known.
    node: Mutex<Option<String>>,
    ended: AtomicBool,
    killed: AtomicBool,
    tail: StderrTail,
}

impl Control {
    fn node(&self) -> Option<String> {
        self.node
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn target(&self) -> Option<String> {
        self.target
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn kill_local(&self) {
        if let Some(pid) = self
            .pid
            .and_then(|p| rustix::process::Pid::from_raw(i32::try_from(p).ok()?))
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

impl WorkerControl for Control {
    fn pid(&self) -> Option<u32> {
        self.pid
    }

    fn kill(&self) {
        if self.ended.load(Ordering::SeqCst) || self.killed.swap(true, Ordering::SeqCst) {
            return;
        }
        match self.target() {
            // Slurm ends the worker and everything of its step; the local salloc/srun then
            // end by themselves (salloc giving the allocation back).
            Some(target) => {
                let signal = (!self.own_allocation).then_some("KILL");
                self.commands.cancel_detached(&target, signal);
            }
            None => self.kill_local(),
        }
    }

    fn stderr_tail(&self) -> String {
        self.tail.text()
    }

    fn memory(&self) -> Option<u64> {
        None
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

impl Launcher {
    /// Starts a worker: waits for its allocation (own placement), then hands its streams over.
    pub(crate) async fn start(self: &Arc<Self>, id: WorkerId) -> io::Result<StartedWorker> {
        let node = self.pick_node();
        let release = |launcher: &Launcher| {
            if let Some(node) = &node {
                launcher.release_node(node);
            }
        };
        let mut command = self.command(node.as_deref());
        command
            .env("PROCESS_POOL_WORKER_ID", id.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Away from the terminal's signals: the pool's own end is what stops it.
            .process_group(0);
        let started_at = Instant::now();
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) => {
                release(self);
                return Err(self.fail(SlurmError::NotReachable {
                    reason: format!("cannot run {}: {error}", describe(&command)),
                }));
            }
        };
        let own = matches!(self.placement, Placement::Own { .. });
        let control = Arc::new(Control {
            commands: self.commands.clone(),
            pid: child.id(),
            own_allocation: own,
            target: Mutex::new(None),
            node: Mutex::new(node.clone()),
            ended: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            tail: StderrTail::default(),
        });
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            release(self);
            return Err(io::Error::other("the worker's pipes were not set up"));
        };
        let (events, mut news) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_stderr(stderr, id, Arc::clone(&control), events));
        let mut abandon = Abandon {
            control: Arc::clone(&control),
            pending: None,
            armed: true,
        };

        if let Placement::Own {
            pending_timeout, ..
        } = &self.placement
        {
            let deadline = tokio::time::Instant::from_std(started_at) + *pending_timeout;
            let mut job = None;
            let mut errors = Vec::new();
            let granted = loop {
                tokio::select! {
                    event = news.recv() => match event {
                        Some(Event::Pending(id)) => {
                            abandon.pending = Some(id.clone());
                            job = Some(id);
                        }
                        Some(Event::Granted(id)) => break Ok(id),
                        Some(Event::Error(line)) => errors.push(line),
                        Some(Event::Ready { .. }) => {}
                        None => break Err(None),
                    },
                    () = tokio::time::sleep_until(deadline) => break Err(Some("pending")),
                    () = self.closing.cancelled() => break Err(Some("closing")),
                }
            };
            match granted {
                Ok(job) => {
                    *control
                        .target
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(job);
                }
                Err(why) => {
                    abandon.armed = false;
                    let reason = match &job {
                        Some(job) if why == Some("pending") => {
                            self.commands.pending_reason(job).await
                        }
                        _ => String::new(),
                    };
                    if let Some(job) = &job {
                        self.commands.cancel_detached(job, None);
                    }
                    // salloc gives up a request it is told to stop.
                    if let Some(pid) = child
                        .id()
                        .and_then(|p| rustix::process::Pid::from_raw(i32::try_from(p).ok()?))
                    {
                        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
                    }
                    if tokio::time::timeout(KILL_FALLBACK, child.wait())
                        .await
                        .is_err()
                    {
                        control.kill_local();
                        let _ = child.wait().await;
                    }
                    let _ = tokio::time::timeout(STDERR_DRAIN, reader).await;
                    while let Ok(event) = news.try_recv() {
                        if let Event::Error(line) = event {
                            errors.push(line);
                        }
                    }
                    let error = match why {
                        Some("pending") => SlurmError::Pending {
                            job,
                            waited: started_at.elapsed(),
                            reason,
                        },
                        Some(_) => SlurmError::Refused {
                            command: "salloc".into(),
                            message: "the pool was dropped while the allocation was pending".into(),
                        },
                        None => classify(&errors, &control.tail.text()),
                    };
                    return Err(self.fail(error));
                }
            }
        }

        // The program runs on its node once it says so; if it ends before, it could not
        // start there (a program missing on the node is `NotFound`, which the pool does not
        // try again).
        let ready = tokio::time::timeout(READY_TIMEOUT, async {
            loop {
                tokio::select! {
                    event = news.recv() => match event {
                        Some(Event::Ready { .. }) => return Ok(()),
                        Some(_) => {}
                        None => return Err(child.wait().await),
                    },
                    status = child.wait() => return Err(status),
                }
            }
        })
        .await;
        match ready {
            Ok(Ok(())) => {}
            Ok(Err(status)) => {
                abandon.armed = false;
                if let Some(job) = control.target() {
                    self.commands.cancel_detached(&job, None);
                }
                let _ = tokio::time::timeout(STDERR_DRAIN, reader).await;
                release(self);
                let tail = control.tail.text();
                let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                return Err(not_started(&self.what, &tail, &status));
            }
            Err(_) => {
                release(self);
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{} did not start within {READY_TIMEOUT:?}", self.what),
                ));
            }
        }
        abandon.armed = false;
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&control));
        let watcher = Arc::clone(&control);
        let launcher = Arc::clone(self);
        let exited = Box::pin(async move {
            let status = child.wait().await;
            watcher.ended.store(true, Ordering::SeqCst);
            if let Some(node) = &node {
                launcher.release_node(node);
            }
            let _ = tokio::time::timeout(STDERR_DRAIN, reader).await;
            let status = match status {
                Ok(status) => status,
                Err(error) => {
                    tracing::warn!(worker = id, %error, "waiting for srun failed");
                    return ExitStatus::Code(-1);
                }
            };
            use std::os::unix::process::ExitStatusExt;
            if watcher.own_allocation && status.signal().is_some() {
                // salloc itself was killed: it could not give the allocation back.
                if let Some(job) = watcher.target() {
                    watcher.commands.cancel_detached(&job, None);
                }
            }
            match (status.code(), status.signal()) {
                (Some(code), _) => ExitStatus::Code(code),
                (None, Some(signal)) => ExitStatus::Signal(signal),
                (None, None) => ExitStatus::Code(-1),
            }
        });
        // A kill that came too late for Slurm to act must still end the local processes.
        let fallback = Arc::clone(&control);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if fallback.ended.load(Ordering::SeqCst) {
                    return;
                }
                if fallback.killed.load(Ordering::SeqCst) {
                    tokio::time::sleep(KILL_FALLBACK).await;
                    if !fallback.ended.load(Ordering::SeqCst) {
                        fallback.kill_local();
                    }
                    return;
                }
            }
        });
        Ok(StartedWorker {
            reader: Box::new(LineReader::new(stdout)),
            writer: Box::new(LineWriter::new(stdin)),
            exited,
            control,
        })
    }
}

/// Ends what a start began when the start is given up half-way (its future dropped by the
/// pool, or a failure): the allocation, pending or granted, and the local `salloc`/`srun`.
struct Abandon {
    control: Arc<Control>,
    pending: Option<String>,
    armed: bool,
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        for job in self.control.target().iter().chain(&self.pending) {
            self.control.commands.cancel_detached(job, None);
        }
        self.control.kill_local();
    }
}

/// Why a program ended on its node before it said it runs, as an error: one the node cannot
/// run (the relay's `cannot start` line) is `NotFound` or `PermissionDenied`.
fn not_started(what: &str, tail: &str, status: &str) -> io::Error {
    let kind = match tail.lines().find(|l| l.contains("cannot start")) {
        Some(line) if line.contains("No such file") => io::ErrorKind::NotFound,
        Some(line) if line.contains("Permission denied") => io::ErrorKind::PermissionDenied,
        _ => io::ErrorKind::Other,
    };
    let tail = tail.trim();
    io::Error::new(
        kind,
        format!("{what} ended before it ran ({status}): {tail}"),
    )
}

/// Reads the stderr of `salloc`/`srun` and the worker: each line logged, the tail kept, and
/// what it says about the start sent on.
async fn read_stderr(
    stderr: tokio::process::ChildStderr,
    id: WorkerId,
    control: Arc<Control>,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut lines = BufReader::new(stderr).split(b'\n');
    while let Ok(Some(line)) = lines.next_segment().await {
        let text = String::from_utf8_lossy(&line);
        tracing::info!(target: "process_pool::worker", worker = id, "{text}");
        if let Some(event) = parse_event(&text) {
            if let Event::Ready { job, step, node } = &event {
                if !control.own_allocation && job != "-" {
                    *control
                        .target
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(format!("{job}.{step}"));
                }
                if node != "-" {
                    *control.node.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(node.clone());
                }
            }
            let _ = events.send(event);
        }
        if !text.starts_with(READY_PREFIX) {
            control.tail.push(&line);
            control.tail.push(b"\n");
        }
    }
}

/// A failed `salloc` as a typed error.
fn classify(errors: &[String], tail: &str) -> SlurmError {
    let message = if errors.is_empty() {
        tail.trim().to_owned()
    } else {
        errors.join("; ")
    };
    if message.contains("invalid partition specified") {
        let partition = message
            .rsplit(':')
            .next()
            .map(|p| p.trim().to_owned())
            .unwrap_or_default();
        return SlurmError::UnknownPartition {
            partition,
            known: Vec::new(),
        };
    }
    if message.contains("Unable to contact slurm controller")
        || message.contains("Invalid user for SlurmUser")
    {
        return SlurmError::NotReachable { reason: message };
    }
    SlurmError::Refused {
        command: "salloc".into(),
        message: if message.is_empty() {
            "it ended without an allocation".into()
        } else {
            message
        },
    }
}

fn describe(command: &tokio::process::Command) -> String {
    let command = command.as_std();
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// Where workers go, checked against the cluster: `job` (an allocation to run in) or one
/// allocation per worker of `resources`. Returns the placement, the CPUs a worker gets, and
/// how many workers fit (`nodes`, or the job's node count if fewer).
pub(crate) async fn place(
    commands: &Commands,
    resources: &Resources,
    job: Option<&str>,
    pending_timeout: Duration,
    whole_node: bool,
    nodes: usize,
) -> Result<(Placement, u32, usize), SlurmError> {
    let partitions = commands.partitions().await?;
    match job {
        None => {
            let (partition, most) = partitions.resolve(resources.get_partition())?;
            check_cpus(resources.get_cpus(), most, &partition)?;
            let placement = Placement::Own {
                salloc: resources.args(whole_node, false),
                pending_timeout,
            };
            let cpus = resources
                .get_cpus()
                .unwrap_or(if whole_node { most } else { 1 });
            Ok((placement, cpus, nodes))
        }
        Some(job) => {
            if let Some(name) = resources.job_level() {
                return Err(SlurmError::Invalid {
                    name,
                    reason: format!("the workers run in job {job}, whose {name} is set"),
                });
            }
            let names = commands.job_nodes(job).await?;
            if names.is_empty() {
                return Err(SlurmError::Refused {
                    command: "squeue".into(),
                    message: format!("job {job} has no nodes (is it running?)"),
                });
            }
            let cpus = within_cpus(&partitions, job);
            let nodes = nodes.min(names.len());
            let load = names.into_iter().map(|n| (n, 0)).collect();
            let placement = Placement::Within {
                job: job.to_owned(),
                load: Mutex::new(load),
            };
            Ok((placement, cpus, nodes))
        }
    }
}

pub(crate) fn check_cpus(asked: Option<u32>, most: u32, partition: &str) -> Result<(), SlurmError> {
    match asked {
        Some(0) => Err(SlurmError::Invalid {
            name: "cpus",
            reason: "must be at least 1".into(),
        }),
        Some(asked) if most > 0 && asked > most => Err(SlurmError::TooManyCpus {
            asked,
            most,
            partition: partition.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// The CPUs an agent in `job` gets on its node: this program's share if it runs in that job,
/// else the most a node of the default partition has.
fn within_cpus(partitions: &Partitions, job: &str) -> u32 {
    let here = std::env::var("SLURM_JOB_ID").is_ok_and(|j| j == job);
    if here
        && let Some(cpus) = std::env::var("SLURM_CPUS_ON_NODE")
            .ok()
            .and_then(|c| c.parse().ok())
    {
        return cpus;
    }
    partitions.resolve(None).map_or(1, |(_, most)| most.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salloc_and_agent_lines() {
        assert!(matches!(
            parse_event("salloc: Granted job allocation 42"),
            Some(Event::Granted(j)) if j == "42"
        ));
        assert!(matches!(
            parse_event("salloc: Pending job allocation 43"),
            Some(Event::Pending(j)) if j == "43"
        ));
        assert!(matches!(
            parse_event("salloc: job 44 queued and waiting for resources"),
            Some(Event::Pending(j)) if j == "44"
        ));
        assert!(matches!(
            parse_event("process-pool-agent: ready node=n2 job=45 step=3 pid=9 cpus=2"),
            Some(Event::Ready { job, step, node }) if job == "45" && step == "3" && node == "n2"
        ));
        assert!(parse_event("hello").is_none());
    }

    #[test]
    fn salloc_failures_are_typed() {
        let e = classify(
            &["salloc: error: invalid partition specified: nope".to_owned()],
            "",
        );
        assert!(matches!(e, SlurmError::UnknownPartition { partition, .. } if partition == "nope"));
        let e = classify(&[], "salloc: something odd");
        assert!(matches!(e, SlurmError::Refused { .. }));
    }
}
