//! Step mode: [`SlurmStepSpawner`], each job one `srun` with its own resources.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use process_pool_core::backend::{CancellationToken, Exit, ExitStatus, RunContext, Spawner};
use process_pool_core::{Job, async_trait};
use process_pool_native::NativeSpawner;

use crate::agents::Allocation;
use crate::cluster::Commands;
use crate::error::SlurmError;
use crate::launch::check_cpus;
use crate::resources::Resources;

/// Builds a [`SlurmStepSpawner`].
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct SlurmStepBuilder {
    resources: Resources,
    allocation: Allocation,
    slurm_bin_dir: Option<PathBuf>,
    job_name: Option<String>,
}

impl SlurmStepBuilder {
    /// What each job asks for: CPUs, memory, time limit, generic resources; and, for a job of
    /// its own, the partition, account, QoS and node features.
    pub fn resources(mut self, resources: Resources) -> Self {
        self.resources = resources;
        self
    }

    /// Where the steps run (default: in the allocation this program runs in, else each job
    /// a Slurm job of its own).
    pub fn allocation(mut self, allocation: Allocation) -> Self {
        self.allocation = allocation;
        self
    }

    /// Where Slurm's commands are (default: `PATH`).
    pub fn slurm_bin_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.slurm_bin_dir = Some(dir.into());
        self
    }

    /// The prefix of each job's Slurm name (default `process-pool-step`).
    pub fn job_name(mut self, name: impl Into<String>) -> Self {
        self.job_name = Some(name.into());
        self
    }

    /// Checks the resources against the cluster.
    pub async fn build(self) -> Result<SlurmStepSpawner, SlurmError> {
        let commands = Commands {
            bin_dir: self.slurm_bin_dir,
        };
        let partitions = commands.partitions().await?;
        let job = match self.allocation {
            Allocation::Own => None,
            other => other.resolve(),
        };
        let (partition, most) = partitions.resolve(self.resources.get_partition())?;
        check_cpus(self.resources.get_cpus(), most, &partition)?;
        if let (Some(job), Some(name)) = (&job, self.resources.job_level()) {
            return Err(SlurmError::Invalid {
                name,
                reason: format!("the steps run in job {job}, whose {name} is set"),
            });
        }
        let options = self.resources.args(false, job.is_some());
        Ok(SlurmStepSpawner {
            inner: Arc::new(Inner {
                commands,
                job,
                options,
                name: format!(
                    "{}-{}",
                    self.job_name.as_deref().unwrap_or("process-pool-step"),
                    std::process::id()
                ),
                next: AtomicU64::new(1),
            }),
        })
    }
}

/// Runs each job as its own `srun`: a Slurm job of its own, or a step of the allocation this
/// program runs in, with the [`Resources`] it was built with. For long jobs that need Slurm's
/// limits and accounting; each costs Slurm's start-up (40–60 ms), where agent mode costs a
/// fraction of a millisecond.
///
/// A timeout or a cancel stops `srun` (SIGTERM, which it forwards to the job, then SIGKILL
/// after the kill grace) and asks Slurm to cancel the job (or step), which ends its processes
/// on the node; once `srun` is gone Slurm is asked again, for a job `srun` got after the first
/// ask, so that no job outlives its answer. A program the node cannot run is a
/// spawn failure (`NotFound`), as on one machine. A job killed by a signal reports `srun`'s
/// exit code (128 + the signal).
#[derive(Debug, Clone)]
pub struct SlurmStepSpawner {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    commands: Commands,
    job: Option<String>,
    options: Vec<String>,
    name: String,
    next: AtomicU64,
}

impl SlurmStepSpawner {
    /// A builder: each job one CPU, the cluster's defaults otherwise.
    pub fn builder() -> SlurmStepBuilder {
        SlurmStepBuilder::default()
    }

    /// The `srun` command that runs `job`, named `name`.
    fn srun(&self, job: &Job, name: &str) -> Job {
        let inner = &self.inner;
        let mut srun = Job::new(inner.commands.bin("srun"))
            .args(["--nodes=1", "--ntasks=1", "--kill-on-bad-exit=1", "--quiet"])
            .arg(format!("--job-name={name}"));
        if let Some(job) = &inner.job {
            srun = srun.arg(format!("--jobid={job}"));
        }
        srun = srun.args(&inner.options).arg("--");
        if job.get_env_clear() {
            // srun itself needs its environment; the job starts from an empty one.
            let sets = job
                .effective_envs()
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| join_env(k, v)));
            srun = srun.args(["env", "-i"]).args(sets);
        } else {
            for (key, value) in job.get_envs() {
                srun = match value {
                    Some(value) => srun.env(key, value),
                    None => srun.env_remove(key),
                };
            }
        }
        srun = srun.arg(job.get_program()).args(job.get_args());
        if let Some(dir) = job.get_cwd() {
            srun = srun.cwd(dir);
        }
        // srun carries the job's stdio: a file, a reader, a writer or spill work through it as
        // they do for a local process (files on the pool's machine).
        srun = srun.stdio_from(job);
        if let Some(lines) = job.get_output_lines() {
            srun = srun.output_lines(lines.clone());
        }
        srun
    }

    /// Asks Slurm to end the job's job or step.
    async fn cancel(&self, name: &str) {
        let inner = &self.inner;
        match &inner.job {
            None => inner
                .commands
                .cancel_detached(&format!("--name={name}"), None),
            Some(job) => {
                let steps = inner
                    .commands
                    .query("squeue", ["-h", "-s", "-j", job, "-o", "%i %j"])
                    .await
                    .unwrap_or_default();
                for line in steps.lines() {
                    if let Some((id, step_name)) = line.split_once(' ')
                        && step_name.trim() == name
                    {
                        inner.commands.cancel_detached(id, None);
                    }
                }
            }
        }
    }
}

fn join_env(key: &std::ffi::OsStr, value: &std::ffi::OsStr) -> OsString {
    let mut pair = key.to_owned();
    pair.push("=");
    pair.push(value);
    pair
}

#[async_trait]
impl Spawner for SlurmStepSpawner {
    /// Carries every stream mode through `srun`'s own stdin, stdout and stderr, with files on
    /// the pool's machine.
    fn check_streams(&self, _job: &Job) -> Result<(), process_pool_core::StreamUnsupported> {
        Ok(())
    }

    async fn spawn(&self, job: &Job, ctx: &RunContext) -> io::Result<Exit> {
        let name = format!(
            "{}-{}",
            self.inner.name,
            self.inner.next.fetch_add(1, Ordering::Relaxed)
        );
        let srun = self.srun(job, &name);
        let token = CancellationToken::new();
        let local = RunContext::new(token.clone(), ctx.output_limit(), ctx.kill_grace())
            .with_attempt(ctx.attempt());
        let spawner = NativeSpawner::new();
        let run = spawner.spawn(&srun, &local);
        tokio::pin!(run);
        let outcome = tokio::select! {
            biased;
            outcome = &mut run => outcome,
            () = ctx.cancelled() => {
                // `srun` stops (SIGTERM, which it forwards to the job; SIGKILL after the kill
                // grace) and Slurm is told to end the job, within the grace the pool gives a
                // spawner.
                token.cancel();
                self.cancel(&name).await;
                let outcome = run.await;
                // A cancel that came while `srun` was still getting its job found no job of
                // that name, and an `srun` killed at the end of the grace leaves the job it
                // got: ask again now that `srun` is gone, so that no job outlives its answer.
                self.cancel(&name).await;
                outcome
            }
        };
        let exit = outcome.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run srun for `{}`: {e}", job.program_lossy()),
            )
        })?;
        // The node could not start the program: as on one machine, a spawn failure.
        if exit.status == ExitStatus::Code(2) {
            let stderr = String::from_utf8_lossy(&exit.stderr);
            if let Some(line) = stderr.lines().find(|l| l.contains("execve():")) {
                let kind = if line.contains("No such file") {
                    io::ErrorKind::NotFound
                } else if line.contains("Permission denied") {
                    io::ErrorKind::PermissionDenied
                } else {
                    io::ErrorKind::Other
                };
                return Err(io::Error::new(
                    kind,
                    format!(
                        "`{}` cannot start on its node: {}",
                        job.program_lossy(),
                        line.trim()
                    ),
                ));
            }
        }
        Ok(exit)
    }
}
