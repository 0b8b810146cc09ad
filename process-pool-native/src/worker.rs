//! [`NativeWorker`]: long-lived worker processes for a [`WorkerPool`], each in its own process
//! group (Unix) or Job Object (Windows), its stderr logged through `tracing`.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use process_pool_core::backend::{
    ExitStatus, StartedWorker, StderrLog, StderrTail, WorkerControl, WorkerId, WorkerSpawner,
};
use process_pool_core::{ConfigError, WorkerPool, async_trait};
use tokio::io::AsyncReadExt;

use crate::platform;
use crate::spawn::describe_start_error;

/// How long a worker's stderr is still read after it exited.
const STDERR_DRAIN: Duration = Duration::from_secs(1);

/// Starts a worker program (any language that speaks the protocol) for a [`WorkerPool`].
///
/// Each worker runs in its own process group (Unix) or Job Object (Windows), which is killed
/// whole when the worker must go.
/// Its stdin and stdout carry the protocol; each line it writes to stderr is logged through
/// `tracing` (target `process_pool::worker`) with the worker's id and pid (a line is cut at
/// [`MAX_LOG_LINE`](process_pool_core::backend::MAX_LOG_LINE) bytes, so a worker writing
/// without newlines costs the pool nothing), and the last 2 KiB are kept for
/// [`CallError::WorkerCrashed`](process_pool_core::CallError::WorkerCrashed).
/// The variable `PROCESS_POOL_WORKER_ID` holds the worker's id in its pool.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use process_pool::{NativeWorker, WorkerPool};
///
/// let pool = WorkerPool::builder()
///     .max_workers(2)
///     .build(NativeWorker::new("python3").arg("worker.py"))?;
/// let reply = pool.call("upper", "hello").await?;
/// assert_eq!(reply, "HELLO");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct NativeWorker {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    /// Whether the workers write to this process's stderr instead of the log.
    inherit_stderr: bool,
}

impl NativeWorker {
    /// Workers that run `program` (looked up in `PATH` if it has no `/`; on Windows with each
    /// extension of `PATHEXT` too, as for jobs).
    pub fn new(program: impl AsRef<OsStr>) -> NativeWorker {
        NativeWorker {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            inherit_stderr: false,
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> NativeWorker {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> NativeWorker
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the workers.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> NativeWorker {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Starts the workers in `dir`.
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> NativeWorker {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Hands the workers this process's stderr as theirs, instead of logging it and keeping
    /// its end for crash reports: for a program that relays a worker and whose own stderr is
    /// read by someone else (the Slurm agent's relay, whose stderr reaches the pool).
    pub fn inherit_stderr(mut self) -> NativeWorker {
        self.inherit_stderr = true;
        self
    }
}

#[async_trait]
impl WorkerSpawner for NativeWorker {
    async fn start(&self, id: WorkerId) -> io::Result<StartedWorker> {
        let program = platform::program(&self.program, &self.args, || {
            let own = self
                .env
                .iter()
                .rev()
                .find(|(k, _)| k.eq_ignore_ascii_case("PATH"));
            own.map(|(_, v)| v.clone())
                .or_else(|| std::env::var_os("PATH"))
        })
        .map_err(|error| describe_start_error(&self.program, self.cwd.as_deref(), error))?;
        let mut command = platform::Command::new(program);
        command.args(&self.args);
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command.env("PROCESS_POOL_WORKER_ID", id.to_string());
        command.cwd.clone_from(&self.cwd);
        command.kill_on_drop = true;
        if self.inherit_stderr {
            command.stdio[2] = platform::Io::given(own_stderr()?);
        }
        // The pool names the program in its error: the reason alone here.
        let (mut child, tree) = platform::spawn(&mut command, true, None)
            .map_err(|error| describe_start_error(&self.program, self.cwd.as_deref(), error))?;
        let pid = child.id();
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(io::Error::other("the worker's pipes were not set up"));
        };
        let log = StderrLog::new(id, pid);
        let control = Arc::new(Control {
            pid,
            tree,
            ended: AtomicBool::new(false),
            tail: log.tail(),
        });
        let stderr = child.stderr.take();
        let logger = tokio::spawn(async move {
            if let Some(stderr) = stderr {
                log_stderr(stderr, log).await;
            }
        });
        let watcher = Arc::clone(&control);
        let exited = Box::pin(async move {
            let status = child.wait().await;
            // Whatever it left in its tree goes with it.
            if let Some(tree) = &watcher.tree {
                tree.kill();
            }
            watcher.ended.store(true, Ordering::SeqCst);
            let _ = tokio::time::timeout(STDERR_DRAIN, logger).await;
            match status {
                Ok(status) => platform::exit_status(status),
                Err(error) => {
                    tracing::warn!(worker = id, %error, "waiting for a worker failed");
                    ExitStatus::Code(-1)
                }
            }
        });
        Ok(StartedWorker {
            reader: Box::new(stdout),
            writer: Box::new(stdin),
            exited,
            control,
        })
    }

    /// Linux, macOS and Windows read a worker's resident set; elsewhere a memory limit is
    /// refused.
    fn reads_memory(&self) -> Result<(), (&'static str, &'static str)> {
        platform::reads_resident_set().map_err(|platform| {
            (
                platform,
                "the native backend reads a process's resident set on Linux, macOS and Windows only",
            )
        })
    }

    fn describe(&self) -> String {
        let mut words = vec![self.program.to_string_lossy().into_owned()];
        words.extend(self.args.iter().map(|a| a.to_string_lossy().into_owned()));
        words.join(" ")
    }
}

impl NativeWorker {
    /// A pool of up to `max_workers` of these workers, with the other settings at their
    /// defaults.
    pub fn pool(self, max_workers: usize) -> Result<WorkerPool, ConfigError> {
        WorkerPool::builder().max_workers(max_workers).build(self)
    }
}

/// A native worker's handle.
#[derive(Debug)]
struct Control {
    pid: Option<u32>,
    tree: Option<platform::Tree>,
    /// Set once it has been reaped: its group id (Unix) may then belong to someone else.
    ended: AtomicBool,
    tail: Arc<StderrTail>,
}

impl WorkerControl for Control {
    fn pid(&self) -> Option<u32> {
        self.pid
    }

    fn kill(&self) {
        if !self.ended.load(Ordering::SeqCst)
            && let Some(tree) = &self.tree
        {
            tree.kill();
        }
    }

    fn stderr_tail(&self) -> String {
        self.tail.text()
    }

    fn memory(&self) -> Option<u64> {
        if self.ended.load(Ordering::SeqCst) {
            return None;
        }
        platform::resident_bytes(self.pid?)
    }
}

/// A copy of this process's stderr, to hand to a worker.
fn own_stderr() -> io::Result<platform::OwnedIo> {
    #[cfg(unix)]
    return std::os::fd::AsFd::as_fd(&std::io::stderr()).try_clone_to_owned();
    #[cfg(windows)]
    return std::os::windows::io::AsHandle::as_handle(&std::io::stderr()).try_clone_to_owned();
}

/// Reads the worker's stderr into its log, a chunk at a time: memory stays bounded whatever it
/// writes.
async fn log_stderr(mut stderr: platform::ChildOutput, mut log: StderrLog) {
    let mut chunk = vec![0; 8 << 10];
    while let Ok(n) = stderr.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        log.write(&chunk[..n]);
    }
    log.finish();
}
