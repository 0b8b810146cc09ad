//! [`NativeSpawner`]: start a job's process, feed it, capture it, end its whole tree.

use std::io;

use process_pool_core::backend::{Exit, ExitStatus, RunContext, Spawner};
use process_pool_core::{ConfigError, Job, ProcessPool, Stream, StreamUnsupported, async_trait};
use tokio_util::sync::CancellationToken;

use crate::Containment;
use crate::capture::Streams;
use crate::platform::{self, ChildGuard, Command};

/// Runs jobs as OS processes, each in its own process group (Unix) or Job Object (Windows):
/// see the [crate's documentation](crate) for how each platform ends a job's whole tree.
///
/// Jobs inherit the pool's environment unless they clear it ([`Job::env_clear`]), never its
/// stdin, stdout or stderr: stdin is the job's bytes, file or reader (or empty), each output is
/// captured or sent where the job says ([`Job::stdout`]). A file (or a pipeline's pipe) is handed
/// to the process itself, so its bytes never pass through the pool, unless the job's live lines
/// ([`Job::output_lines`]) need to see them.
///
/// ```
/// use std::time::Duration;
/// use process_pool::{job, NativeSpawner, ProcessPool};
///
/// # // `sleep` is a program on Unix only.
/// # #[cfg(unix)]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = ProcessPool::builder()
///     .max_workers(2)
///     .kill_grace(Duration::from_millis(200))
///     .build(NativeSpawner::new())?;
/// let results = pool.run_all([job("sleep", ["10"]).timeout(Duration::from_millis(100))]).await?;
/// assert!(results[0].timed_out());
/// # Ok(())
/// # }
/// # #[cfg(not(unix))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
pub struct NativeSpawner {
    /// Whether a job may be given a cgroup of its own (Linux).
    cgroups: bool,
}

impl Default for NativeSpawner {
    fn default() -> Self {
        NativeSpawner { cgroups: true }
    }
}

impl NativeSpawner {
    /// A spawner with default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// How this spawner's jobs are held (see [`Containment`]): on Linux, a cgroup per job
    /// where the pool can make one, else the subreaper mode.
    pub fn containment(&self) -> Containment {
        platform::containment(self.cgroups)
    }

    /// The same spawner without a cgroup per job (Linux): the subreaper mode, which is what
    /// runs where no cgroup can be made; for tests of that mode, or a site that wants its own
    /// cgroup tree left alone. Elsewhere it changes nothing.
    pub fn without_cgroups(mut self) -> Self {
        self.cgroups = false;
        self
    }

    /// A pool of `max_workers` running native processes, with default settings: the
    /// reference pool's `ProcessPool::new(max_workers)`.
    ///
    /// Fails with [`ConfigError::ZeroWorkers`] for 0, and [`ConfigError::NoRuntime`] outside a
    /// tokio runtime.
    pub fn pool(max_workers: usize) -> Result<ProcessPool, ConfigError> {
        ProcessPool::new(Self::new(), max_workers)
    }

    fn command(job: &Job, streams: &mut Streams) -> io::Result<Command> {
        let program = platform::program(job.get_program(), job.get_args(), || child_path(job))?;
        let mut cmd = Command::new(program);
        cmd.args(job.get_args());
        cmd.env_clear = job.get_env_clear();
        for (key, value) in job.get_envs() {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        cmd.cwd = job.get_cwd().map(ToOwned::to_owned);
        cmd.stdio = streams.stdio();
        Ok(cmd)
    }
}

/// The `PATH` a job's process will see: its own, or the pool's unless it clears its
/// environment. Only Windows reads it, to look a bare program name up with `PATHEXT`.
fn child_path(job: &Job) -> Option<std::ffi::OsString> {
    let own = job
        .get_envs()
        .iter()
        .rfind(|(key, _)| key.eq_ignore_ascii_case("PATH"));
    match own {
        Some((_, value)) => value.clone(),
        None if job.get_env_clear() => None,
        None => std::env::var_os("PATH"),
    }
}

#[async_trait]
impl Spawner for NativeSpawner {
    async fn spawn(&self, job: &Job, ctx: &RunContext) -> io::Result<Exit> {
        if ctx.max_memory().is_some() {
            self.check_memory_limit(Some(job))
                .map_err(|reason| io::Error::new(io::ErrorKind::Unsupported, reason))?;
        }
        let mut streams = Streams::open(job, ctx)?;
        let (child, tree) = Self::command(job, &mut streams)
            .and_then(|mut command| platform::spawn(&mut command, self.cgroups, ctx.max_memory()))
            .map_err(|error| describe_spawn_error(job, error))?;
        // The new child usually waits on this thread's CPU while the runtime carries on with its
        // bookkeeping; a std thread would block in wait() here and give it the CPU at once.
        // Yielding does the same (it returns at once when nothing else is runnable): measured
        // here at 2 jobs at a time, it takes tokio's spawn-to-exit from 1.11-1.18x a std thread
        // loop to 1.00-1.12x.
        std::thread::yield_now();
        // Kills and reaps the tree if this future is dropped before the job was ended properly
        // (the runtime shutting down, say): no process, and no zombie, outlives the pool.
        let mut guard = ChildGuard::new(child, tree);
        let grace = ctx.kill_grace();

        // Once the group is gone, a pipe still open belongs to a process that left the group
        // (setsid); give it the grace period, then stop waiting for it.
        let group_gone = CancellationToken::new();
        let failed = streams.failed.clone();
        let (child, tree) = guard.parts();
        let pipes = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let program = job.program_lossy();
        let io = streams.run(pipes, &program, &group_gone, grace);
        let lifetime = async {
            let status = tokio::select! {
                biased;
                status = child.wait() => status,
                () = ctx.cancelled() => platform::stop(child, tree, grace).await,
                // A stream failed (a reader, a full disk): the job's data is incomplete.
                () = failed.cancelled() => platform::stop(child, tree, grace).await,
            };
            if let Some(tree) = tree {
                platform::sweep(tree, grace).await;
            }
            group_gone.cancel();
            status
        };
        let (status, (mut out, mut err, fed)) = tokio::join!(lifetime, io);
        guard.disarm();
        let accounting = guard.accounting();
        let status = status.map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("waiting for `{}` failed: {error}", job.program_lossy()),
            )
        })?;
        let broken = fed.or(out.error.take()).or(err.error.take());
        let status = match (broken, accounting.out_of_memory) {
            // Stopped by the pool for it, unless the pool stopped it for a timeout or a cancel.
            (Some(error), _) if !ctx.is_cancelled() => ExitStatus::StreamFailed(error.to_string()),
            // A job that failed after the kernel killed one of its processes for memory.
            (_, Some(limit)) if !ctx.is_cancelled() && !status.success() => {
                ExitStatus::OutOfMemory { limit }
            }
            _ => platform::exit_status(status),
        };
        Ok(Exit::new(status)
            .with_captured(Stream::Stdout, out)
            .with_captured(Stream::Stderr, err)
            .with_usage(accounting.usage))
    }

    /// On Linux, where each job has a cgroup of its own and the system a memory controller
    /// (cgroup2's, or a cgroup v1 memory hierarchy beside it); `Err` names what is missing.
    fn check_memory_limit(&self, _job: Option<&Job>) -> Result<(), String> {
        platform::check_memory_limit(self.cgroups)
    }

    /// Carries every stream mode: files and pipes handed to the process, the rest through
    /// the pool's pipes.
    fn check_streams(&self, _job: &Job) -> Result<(), StreamUnsupported> {
        Ok(())
    }
}

/// Says which of program and working directory was wrong: the OS reports "not found" for both.
fn describe_spawn_error(job: &Job, error: io::Error) -> io::Error {
    describe_start_error(job.get_program(), job.get_cwd(), error)
}

/// [`describe_spawn_error`] for any program and working directory.
pub(crate) fn describe_start_error(
    program: &std::ffi::OsStr,
    cwd: Option<&std::path::Path>,
    error: io::Error,
) -> io::Error {
    let kind = error.kind();
    let cwd_problem = cwd.filter(|dir| !dir.is_dir()).map(|dir| {
        format!(
            "working directory `{}` does not exist or is not a directory",
            dir.display()
        )
    });
    let what = match (kind, cwd_problem) {
        (_, Some(cwd)) => cwd,
        (io::ErrorKind::NotFound, None) if is_bare_name(program) => {
            "program not found in PATH".to_owned()
        }
        (io::ErrorKind::NotFound, None) => "no such file".to_owned(),
        (io::ErrorKind::PermissionDenied, None) => "permission denied (not executable?)".to_owned(),
        (_, None) => return error,
    };
    io::Error::new(kind, format!("{what} ({error})"))
}

/// A name looked up in `PATH` (no `/` in it, nor `\\` on Windows), as opposed to a path.
fn is_bare_name(program: &std::ffi::OsStr) -> bool {
    !program
        .as_encoded_bytes()
        .iter()
        .any(|&b| b == b'/' || std::path::is_separator(char::from(b)))
}
