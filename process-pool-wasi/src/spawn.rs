//! [`WasiSpawner`]: run a job's `.wasm` module in a fresh, sandboxed instance.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use process_pool_core::backend::{
    CancellationToken, Captured, Exit, ExitStatus, LineSplitter, RunContext, Sink, Source, Spawner,
    SyncReader, Target, pipe_reader,
};
use process_pool_core::{ConfigError, Job, ProcessPool, Stream, StreamUnsupported, async_trait};
use wasmtime::{Engine, Store, StoreLimitsBuilder};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::cli::AsyncStdinStream;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

use crate::builder::WasiSpawnerBuilder;
use crate::cache::ModuleCache;
use crate::compile::Kind;
use crate::engine::PER_COMPONENT;
use crate::guest::{self, Grants, Guest, Limiter};
use crate::instance::status;
use crate::pipe::{CappedPipe, Lines};
use crate::stream::{ChannelOut, WatchedReader};

/// Runs jobs whose program is a WebAssembly file in wasmtime, each in a fresh instance with
/// nothing of the host: no inherited environment, no file system, no network. The guest gets
/// its arguments (argv\[0\] is the file name), the job's environment variables, the job's stdin
/// bytes, stdout and stderr kept up to the pool's output limit, and only the directories it is
/// granted: the spawner's [`preopen`](WasiSpawnerBuilder::preopen)s and the job's working
/// directory, as `.`.
///
/// It runs WASIp1 core modules (`wasm32-wasip1`, or WAT text) and WASIp2 command components
/// (`wasm32-wasip2`), told apart by their first bytes, and, if trusted, precompiled `.cwasm`
/// files (see [`WasiSpawnerBuilder::trust_precompiled`]). A file is compiled once and kept ready
/// to instantiate; a file that changes (size or modification time) is compiled again. Compiling
/// is the spawner's work, bounded by its [`compile_timeout`](WasiSpawnerBuilder::compile_timeout)
/// and shared by the jobs of a file; [`compile`](WasiSpawner::compile) does it ahead of them.
///
/// Every phase of a job stops when the pool stops it (a timeout, a cancel, a shutdown): its
/// wait for the compile, its instantiation with the module's start function, its run. A guest
/// yields to the runtime at every epoch tick (1 ms) and a guest in a host call (a sleep, a
/// read) is dropped there, so one in an endless loop neither blocks a runtime thread nor
/// escapes its timeout.
///
/// ```
/// use process_pool_wasi::WasiSpawner;
/// use process_pool::Job;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let module = dir.path().join("exit7.wat");
/// std::fs::write(&module, r#"(module
///     (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
///     (memory (export "memory") 1)
///     (func (export "_start") (call $exit (i32.const 7))))"#)?;
/// let pool = WasiSpawner::pool(4)?;
/// let results = pool.run_all([Job::new(&module)]).await?;
/// assert_eq!(results[0].exit_code(), Some(7));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct WasiSpawner {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) cache: ModuleCache,
    pub(crate) grants: Grants,
    pub(crate) limits: Limits,
    /// Instances that may run at once.
    pub(crate) instances: u32,
}

/// What one job's store may hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_memory: usize,
    pub(crate) max_table_elements: usize,
    pub(crate) trap_on_grow_failure: bool,
    pub(crate) fuel: Option<u64>,
}

impl std::fmt::Debug for WasiSpawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasiSpawner")
            .field("cache", &self.shared.cache)
            .field("grants", &self.shared.grants)
            .field("limits", &self.shared.limits)
            .finish_non_exhaustive()
    }
}

impl WasiSpawner {
    /// A builder with the default settings.
    pub fn builder() -> WasiSpawnerBuilder {
        WasiSpawnerBuilder::default()
    }

    /// A pool of `max_workers` running WASI jobs, with default settings.
    pub fn pool(max_workers: usize) -> Result<ProcessPool, ConfigError> {
        let instances = u32::try_from(max_workers).map_err(|_| ConfigError::Invalid {
            name: "max_workers",
            reason: format!("{max_workers} is more instances than a pool can hold"),
        })?;
        let spawner = Self::builder().max_instances(instances.max(1)).build()?;
        ProcessPool::new(spawner, max_workers)
    }

    /// How many files this spawner has compiled: a file run again unchanged is not.
    pub fn modules_compiled(&self) -> u64 {
        self.shared.cache.compiled()
    }

    /// Compiles the file at `path` ahead of its jobs, so that none waits for it: the first
    /// job of a file then costs what the next ones do. A file already compiled (and
    /// unchanged) is not compiled again, and jobs that want the file while it compiles wait
    /// for this compile rather than start their own.
    ///
    /// Fails, naming the file, if it cannot be read, compiled or linked, or with
    /// [`TimedOut`](io::ErrorKind::TimedOut) if it takes longer than the
    /// [`compile_timeout`](WasiSpawnerBuilder::compile_timeout). Dropping the future stops
    /// waiting, not the compile. Must be called inside a tokio runtime.
    ///
    /// ```
    /// # use process_pool_wasi::WasiSpawner;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let module = dir.path().join("noop.wat");
    /// # std::fs::write(&module, r#"(module (func (export "_start")))"#)?;
    /// let spawner = WasiSpawner::builder().build()?;
    /// spawner.compile(&module).await?;
    /// assert_eq!(spawner.modules_compiled(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn compile(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.shared.cache.get(path.as_ref(), Instant::now()).await?;
        Ok(())
    }

    /// Compiles the module or component at `wasm` for this spawner's configuration and writes
    /// the result to `cwasm`, for a spawner built with
    /// [`trust_precompiled`](WasiSpawnerBuilder::trust_precompiled) to run without compiling.
    /// Errors name the file.
    pub fn precompile(&self, wasm: &Path, cwasm: &Path) -> std::io::Result<()> {
        let named = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
            io::Error::other(format!("`{}` {what}: {e}", path.display()))
        };
        let bytes = std::fs::read(wasm).map_err(|e| named("cannot be read", wasm, &e))?;
        let engine = &self.shared.engine;
        let compiled = match Kind::of(&bytes) {
            Kind::Precompiled(_) => {
                return Err(named("is already precompiled", wasm, &"nothing to do"));
            }
            Kind::Component => engine.precompile_component(&bytes),
            Kind::Module | Kind::Other => engine.precompile_module(&bytes),
        }
        .map_err(|e| named("cannot be compiled", wasm, &format!("{e:#}")))?;
        std::fs::write(cwasm, compiled).map_err(|e| named("cannot be written", cwasm, &e))
    }

    /// A fresh store for one job or worker, with its limits, fuel and epoch deadline, and
    /// `memory` counting its linear memory if given.
    pub(crate) fn store(
        &self,
        wasi: wasmtime_wasi::p1::WasiP1Ctx,
        component: bool,
        memory: Option<Arc<std::sync::atomic::AtomicU64>>,
    ) -> io::Result<Store<Guest>> {
        let limits = &self.shared.limits;
        let parts = if component { PER_COMPONENT as usize } else { 1 };
        let store_limits = StoreLimitsBuilder::new()
            .memory_size(limits.max_memory)
            .table_elements(limits.max_table_elements)
            .instances(parts)
            .memories(parts)
            .tables(parts)
            .trap_on_grow_failure(limits.trap_on_grow_failure)
            .build();
        let mut store = Store::new(
            &self.shared.engine,
            Guest {
                wasi,
                limits: Limiter::new(store_limits, memory),
            },
        );
        store.limiter(|guest| &mut guest.limits);
        if let Some(fuel) = limits.fuel {
            store.set_fuel(fuel).map_err(io::Error::other)?;
        }
        // Yield to the runtime at every tick: the guest never holds a thread, and a cancel is
        // seen within a tick.
        store.epoch_deadline_async_yield_and_update(1);
        Ok(store)
    }
}

#[async_trait]
impl Spawner for WasiSpawner {
    /// Its `max_instances`: a pool with more workers than this is refused when built.
    fn capacity(&self) -> Option<usize> {
        usize::try_from(self.shared.instances).ok()
    }

    /// Carries every stream mode, through the guest's WASI streams, in bounded memory.
    fn check_streams(&self, _job: &Job) -> Result<(), StreamUnsupported> {
        Ok(())
    }

    /// Refused: a guest's linear memory is bounded for every job of the spawner by
    /// [`WasiSpawnerBuilder::max_memory`](crate::WasiSpawnerBuilder::max_memory), not per job.
    fn check_memory_limit(&self, _job: Option<&Job>) -> Result<(), String> {
        Err(
            "a WASI guest's memory is bounded for all of a spawner's jobs by \
             `WasiSpawner::builder().max_memory(bytes)`, not per job"
                .into(),
        )
    }

    async fn spawn(&self, job: &Job, ctx: &RunContext) -> io::Result<Exit> {
        let shared = &self.shared;
        let path = Path::new(job.get_program());
        // The compile is the spawner's work, shared by the file's jobs, not this job's: its
        // time does not count against the job's timeout (the spawner's `compile_timeout`
        // bounds it), and a stopped job stops waiting while the compile goes on for the next.
        let prepared = {
            let _hold = ctx.hold_timeout();
            tokio::select! {
                biased;
                () = ctx.cancelled() => return Ok(Exit::new(ExitStatus::Signal(9))),
                prepared = shared.cache.get(path, ctx.submitted_at()) => prepared?,
            }
        };
        let failed = CancellationToken::new();
        let mut wasi = guest::context(job, path, &shared.grants)?;
        let input_error = stdin(&mut wasi, job, &failed)?;
        let mut stdout = Out::open(job, ctx, Stream::Stdout, &failed)?;
        let mut stderr = Out::open(job, ctx, Stream::Stderr, &failed)?;
        stdout.attach(&mut wasi, Stream::Stdout);
        stderr.attach(&mut wasi, Stream::Stderr);
        let store = self.store(wasi.build_p1(), prepared.is_component(), None)?;
        let guest = async {
            let mut store = store;
            let stop = async {
                tokio::select! {
                    () = ctx.cancelled() => {}
                    // A stream failed (a reader, a full disk): the guest's data is incomplete.
                    () = failed.cancelled() => {}
                }
            };
            let ran = prepared.run(&mut store, path, stop).await;
            // The guest's streams go with its store: the sinks see their ends.
            drop(store);
            ran
        };
        let (ran, out, err) = tokio::join!(guest, stdout.pump(), stderr.pump());
        let ran = ran?;
        let (mut out, mut err) = (stdout.finish(out).await, stderr.finish(err).await);
        let broken = input_error
            .and_then(|slot| slot.lock().unwrap_or_else(|p| p.into_inner()).take())
            .or(out.error.take())
            .or(err.error.take());
        let status = match broken {
            Some(error) if !ctx.is_cancelled() => ExitStatus::StreamFailed(error.to_string()),
            _ => status(ran),
        };
        Ok(Exit::new(status)
            .with_captured(Stream::Stdout, out)
            .with_captured(Stream::Stderr, err))
    }
}

/// Where the guest's stdin comes from for this attempt: bytes in memory, or a file, a reader or
/// a pipe streamed in as the guest reads. Returns where a reader's error will be.
fn stdin(
    wasi: &mut WasiCtxBuilder,
    job: &Job,
    failed: &CancellationToken,
) -> io::Result<Option<Arc<std::sync::Mutex<Option<io::Error>>>>> {
    let reader: process_pool_core::backend::BoxReader =
        match job.get_input().open(job.get_program())? {
            Source::Empty => return Ok(None),
            Source::Bytes(bytes) => {
                wasi.stdin(MemoryInputPipe::new(bytes));
                return Ok(None);
            }
            Source::File(file, _) => Box::new(tokio::fs::File::from_std(file)),
            Source::Pipe(end) => pipe_reader(end)?,
            Source::Reader(reader) => reader,
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("the WASI backend does not know stdin {other:?}"),
                ));
            }
        };
    let watched = WatchedReader::new(reader, job.program_lossy(), failed.clone());
    let error = watched.error();
    wasi.stdin(AsyncStdinStream::new(SyncReader::new(watched)));
    Ok(Some(error))
}

/// One of the guest's output streams: kept in memory by the guest's own writes (the default),
/// or streamed to its destination through a channel as it writes.
enum Out {
    Capped(CappedPipe),
    Streamed(
        Option<ChannelOut>,
        Option<Pin<Box<dyn Future<Output = Captured> + Send>>>,
    ),
}

impl Out {
    fn open(
        job: &Job,
        ctx: &RunContext,
        stream: Stream,
        failed: &CancellationToken,
    ) -> io::Result<Out> {
        let output = match stream {
            Stream::Stdout => job.get_stdout(),
            Stream::Stderr => job.get_stderr(),
        };
        let target = output.open(stream, job.get_program())?;
        let lines = job.get_output_lines().map(|tx| {
            (
                LineSplitter::new(stream, ctx.attempt(), ctx.output_limit()),
                tx.clone(),
            )
        });
        if let Target::Memory = target {
            return Ok(Out::Capped(CappedPipe::new(
                ctx.output_limit(),
                lines.map(|(splitter, tx)| Lines::new(splitter, tx)),
            )));
        }
        let sink = Sink::new(
            target,
            stream,
            &job.program_lossy(),
            ctx.output_limit(),
            lines,
            failed.clone(),
        );
        let (out, pump) = ChannelOut::new(sink);
        Ok(Out::Streamed(Some(out), Some(Box::pin(pump))))
    }

    /// Gives the guest its end of the stream.
    fn attach(&mut self, wasi: &mut WasiCtxBuilder, stream: Stream) {
        match self {
            Out::Capped(pipe) => {
                match stream {
                    Stream::Stdout => wasi.stdout(pipe.clone()),
                    Stream::Stderr => wasi.stderr(pipe.clone()),
                };
            }
            Out::Streamed(out, _) => {
                if let Some(out) = out.take() {
                    match stream {
                        Stream::Stdout => wasi.stdout(out),
                        Stream::Stderr => wasi.stderr(out),
                    };
                }
            }
        }
    }

    /// Writes the streamed output to its destination as the guest runs; `None` for a stream
    /// kept in memory.
    async fn pump(&mut self) -> Option<Captured> {
        match self {
            Out::Capped(_) => None,
            Out::Streamed(_, pump) => Some(pump.take()?.await),
        }
    }

    /// What the stream captured, once the guest has ended: a capped stream's live lines go
    /// out now.
    async fn finish(self, pumped: Option<Captured>) -> Captured {
        match (self, pumped) {
            (_, Some(captured)) => captured,
            (Out::Capped(pipe), None) => {
                pipe.send_lines().await;
                let mut captured = Captured::default();
                (captured.bytes, captured.truncated) = pipe.finish();
                captured
            }
            (Out::Streamed(..), None) => Captured::default(),
        }
    }
}
