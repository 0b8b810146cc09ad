//! [`WasiWorker`]: WASI guests as warm workers of a [`WorkerPool`]: the worker protocol on the
//! guest's stdin and stdout, one instance kept alive across calls, in the sandbox and under
//! the limits of the spawner it comes from.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Instant;

use process_pool_core::async_trait;
use process_pool_core::backend::{
    ExitStatus, StartedWorker, StderrLog, StderrTail, WorkerControl, WorkerId, WorkerSpawner,
};
use tokio::io::AsyncWrite;
use tokio_util::sync::CancellationToken;

use crate::guest;
use crate::instance::status;
use crate::spawn::WasiSpawner;

/// How many bytes each direction of a worker's stdio buffers.
const PIPE_BUFFER: usize = 64 << 10;

/// The exit code of a worker that could not be instantiated (as a loader's that cannot load
/// its program, `ld.so`'s or a shell's).
const LOADER_FAILED: i32 = 127;

/// Starts a WASI module or component as a warm worker for a
/// [`WorkerPool`](process_pool_core::WorkerPool): made by [`WasiSpawner::worker`], it shares
/// that spawner's engine, module cache, directories and limits (`max_memory` caps each
/// worker's linear memory; `max_instances` must cover the pool's workers, which each hold an
/// instance for their whole life).
///
/// The guest speaks the protocol of `PROTOCOL.md` on its stdin and stdout; its stderr goes to
/// `tracing` (target `process_pool::worker`) and its last 2 KiB to crash reports. A worker is
/// killed by dropping its running call, in its start function as in its entry point (a guest
/// computing is stopped within an epoch tick, one waiting in a host call at once);
/// recycling it is a fresh instance of the compiled module. The variable
/// `PROCESS_POOL_WORKER_ID` holds its id in the pool.
///
/// A module is compiled before the worker is handed to the pool (bounded by the spawner's
/// [`compile_timeout`](crate::WasiSpawnerBuilder::compile_timeout), not by the pool's startup
/// timeout); its instantiation and start function run after, within the startup timeout. A
/// module that cannot be instantiated (over a limit) ends as a program a loader cannot load:
/// exit code 127, the reason on its stderr.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use process_pool::WorkerPool;
/// use process_pool_wasi::WasiSpawner;
///
/// let spawner = WasiSpawner::builder().max_instances(4).max_memory(64 << 20).build()?;
/// let pool = WorkerPool::builder()
///     .max_workers(2)
///     .max_memory_per_worker(32 << 20)
///     .build(spawner.worker("echo-worker.wasm"))?;
/// assert_eq!(pool.call("upper", "sandboxed").await?, "SANDBOXED");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WasiWorker {
    spawner: WasiSpawner,
    module: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

impl std::fmt::Debug for WasiWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasiWorker")
            .field("module", &self.module)
            .field("args", &self.args)
            .finish_non_exhaustive()
    }
}

impl WasiSpawner {
    /// Warm workers running `module` (a WASIp1 module, a WASIp2 command component, or WAT)
    /// with this spawner's engine, cache, directories and limits.
    pub fn worker(&self, module: impl AsRef<Path>) -> WasiWorker {
        WasiWorker {
            spawner: self.clone(),
            module: module.as_ref().to_owned(),
            args: Vec::new(),
            envs: Vec::new(),
        }
    }
}

impl WasiWorker {
    /// Adds an argument (after argv\[0\], the module's file name).
    pub fn arg(mut self, arg: impl Into<String>) -> WasiWorker {
        self.args.push(arg.into());
        self
    }

    /// Sets an environment variable; a guest sees no other but `PROCESS_POOL_WORKER_ID`.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> WasiWorker {
        self.envs.push((key.into(), value.into()));
        self
    }
}

#[async_trait]
impl WorkerSpawner for WasiWorker {
    /// Compiles the module (or waits for its compile, up to the spawner's
    /// [`compile_timeout`](crate::WasiSpawnerBuilder::compile_timeout)), then hands the worker
    /// to the pool before any of its code runs: its instantiation, start function included,
    /// is part of its start-up, bounded by the pool's startup timeout and stopped by
    /// [`WorkerControl::kill`].
    async fn start(&self, id: WorkerId) -> io::Result<StartedWorker> {
        let shared = &self.spawner.shared;
        let module = self.module.clone();
        let prepared = shared.cache.get(&module, Instant::now()).await?;
        let (pool_in, guest_in) = tokio::io::duplex(PIPE_BUFFER);
        let (guest_out, pool_out) = tokio::io::duplex(PIPE_BUFFER);
        let log = StderrLog::new(id, None);
        let control = Arc::new(Control {
            kill: CancellationToken::new(),
            memory: Arc::new(AtomicU64::new(0)),
            tail: log.tail(),
        });
        let stderr = GuestStderr(log);
        let mut envs = self.envs.clone();
        envs.push(("PROCESS_POOL_WORKER_ID".into(), id.to_string()));
        let wasi = guest::worker_context(
            &module,
            &self.args,
            &envs,
            &shared.grants,
            (guest_in, guest_out, stderr),
        )?;
        let mut store = self.spawner.store(
            wasi,
            prepared.is_component(),
            Some(Arc::clone(&control.memory)),
        )?;
        let (done, exited) = tokio::sync::oneshot::channel();
        let (kill, tail) = (control.kill.clone(), Arc::clone(&control.tail));
        tokio::spawn(async move {
            let status = match prepared.run(&mut store, &module, kill.cancelled()).await {
                Ok(ran) => status(ran),
                Err(refused) => {
                    // As a loader that cannot load a program says why on stderr and exits
                    // 127: the pool reports it with the worker's stderr.
                    tracing::warn!(worker = id, error = %refused, "worker cannot start");
                    tail.push(format!("{refused}\n").as_bytes());
                    ExitStatus::Code(LOADER_FAILED)
                }
            };
            // Its pipes close with its store: the pool reads the end of its stdout.
            drop(store);
            let _ = done.send(status);
        });
        Ok(StartedWorker {
            reader: Box::new(pool_out),
            writer: Box::new(pool_in),
            exited: Box::pin(async move { exited.await.unwrap_or(ExitStatus::Signal(9)) }),
            control,
        })
    }

    fn describe(&self) -> String {
        self.module.display().to_string()
    }
}

/// A WASI worker's handle.
#[derive(Debug)]
struct Control {
    kill: CancellationToken,
    memory: Arc<AtomicU64>,
    tail: Arc<StderrTail>,
}

impl WorkerControl for Control {
    fn pid(&self) -> Option<u32> {
        None
    }

    fn kill(&self) {
        self.kill.cancel();
    }

    fn stderr_tail(&self) -> String {
        self.tail.text()
    }

    fn memory(&self) -> Option<u64> {
        Some(self.memory.load(Relaxed))
    }
}

/// A guest's stderr, into its worker's log.
struct GuestStderr(StderrLog);

impl AsyncWrite for GuestStderr {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.write(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
