//! [`WasiSpawner`]: run a job's `.wasm` module in a fresh, sandboxed instance.

use std::io;
use std::path::Path;
use std::sync::Arc;

use process_pool_core::{
    ConfigError, Exit, ExitStatus, Job, ProcessPool, RunContext, Spawner, async_trait,
};
use wasmtime::{Engine, Linker, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

use crate::cache::ModuleCache;
use crate::engine;
use crate::pipe::CappedPipe;

/// A store's data: the guest's WASI context and its limits.
pub(crate) struct Guest {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
}

/// Runs jobs whose program is a WebAssembly module (WASIp1, `wasm32-wasip1`) in wasmtime, each
/// in a fresh instance with nothing of the host: no inherited environment, no file system, no
/// network. The guest gets its arguments (argv\[0\] is the module's file name), the job's
/// environment variables, the job's stdin bytes, and stdout and stderr kept up to the pool's
/// output limit.
///
/// Modules are compiled once per file and kept ready to instantiate; a file that changes (size
/// or modification time) is compiled again. A guest yields to the runtime at every epoch tick
/// (1 ms), so one in an endless loop neither blocks a runtime thread nor escapes its timeout.
///
/// ```
/// use process_pool_wasi::WasiSpawner;
/// use process_pool_core::Job;
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
    shared: Arc<Shared>,
}

struct Shared {
    engine: Engine,
    linker: Arc<Linker<Guest>>,
    cache: ModuleCache,
    max_memory: usize,
    fuel: Option<u64>,
}

impl std::fmt::Debug for WasiSpawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasiSpawner")
            .field("cache", &self.shared.cache)
            .field("max_memory", &self.shared.max_memory)
            .finish_non_exhaustive()
    }
}

/// Builds a [`WasiSpawner`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct WasiSpawnerBuilder {
    instances: u32,
    max_memory: usize,
    cache_capacity: usize,
    fuel: Option<u64>,
}

impl Default for WasiSpawnerBuilder {
    fn default() -> Self {
        WasiSpawnerBuilder {
            instances: 16,
            max_memory: 256 << 20,
            cache_capacity: 64,
            fuel: None,
        }
    }
}

impl WasiSpawnerBuilder {
    /// Instances that may run at once: at least the pool's `max_workers` (default 16).
    pub fn max_instances(mut self, n: u32) -> Self {
        self.instances = n;
        self
    }

    /// The most linear memory a guest may have, in bytes (default 256 MiB). A guest that grows
    /// past it sees `memory.grow` fail.
    pub fn max_memory(mut self, bytes: usize) -> Self {
        self.max_memory = bytes;
        self
    }

    /// How many compiled modules are kept (default 64); the least recently used goes first.
    pub fn cache_capacity(mut self, modules: usize) -> Self {
        self.cache_capacity = modules;
        self
    }

    /// Gives every job a budget of `units` of fuel (about one per wasm instruction): a guest
    /// that uses it up traps, after the same work on every run, whatever the machine's speed.
    /// Off by default (counting fuel slows guests down).
    pub fn fuel(mut self, units: u64) -> Self {
        self.fuel = Some(units);
        self
    }

    /// Builds the spawner: its engine, its linker with WASIp1, and its epoch ticker.
    pub fn build(self) -> Result<WasiSpawner, ConfigError> {
        let invalid = |name, reason: String| ConfigError::Invalid { name, reason };
        if self.instances == 0 {
            return Err(invalid("max_instances", "must be at least 1".into()));
        }
        let engine = engine::engine(self.instances, self.max_memory, self.fuel.is_some())
            .map_err(|e| invalid("engine", format!("wasmtime refused the configuration: {e}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |guest: &mut Guest| &mut guest.wasi)
            .map_err(|e| invalid("linker", format!("cannot link WASI: {e}")))?;
        // wasmtime-wasi traps on an exit code of 126 or more; a job's exit code is what it gave.
        linker
            .allow_shadowing(true)
            .func_wrap(
                "wasi_snapshot_preview1",
                "proc_exit",
                |code: i32| -> wasmtime::Result<()> { Err(wasmtime::Error::new(I32Exit(code))) },
            )
            .map_err(|e| invalid("linker", format!("cannot link proc_exit: {e}")))?;
        engine::start_ticker(&engine);
        Ok(WasiSpawner {
            shared: Arc::new(Shared {
                engine,
                linker: Arc::new(linker),
                cache: ModuleCache::new(self.cache_capacity),
                max_memory: self.max_memory,
                fuel: self.fuel,
            }),
        })
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

    /// How many modules this spawner has compiled: a module run again unchanged is not.
    pub fn modules_compiled(&self) -> u64 {
        self.shared.cache.compiled()
    }

    fn context(
        job: &Job,
        module: &Path,
        stdout: &CappedPipe,
        stderr: &CappedPipe,
    ) -> io::Result<WasiP1Ctx> {
        let text = |value: &std::ffi::OsStr, what: &str| {
            value.to_str().map(str::to_owned).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{what} `{}` is not UTF-8, which WASI requires",
                        value.to_string_lossy()
                    ),
                )
            })
        };
        let mut argv = vec![module.file_name().map_or_else(
            || module.to_string_lossy().into_owned(),
            |n| n.to_string_lossy().into_owned(),
        )];
        for arg in job.get_args() {
            argv.push(text(arg, "the argument")?);
        }
        let mut builder = WasiCtxBuilder::new();
        builder
            .args(&argv)
            .stdout(stdout.clone())
            .stderr(stderr.clone());
        // Only the job's own variables: a guest never sees the host's environment.
        for (key, value) in job.effective_envs() {
            if let Some(value) = value {
                builder.env(text(key, "the variable")?, text(value, "the value")?);
            }
        }
        if let Some(bytes) = job.get_stdin() {
            builder.stdin(MemoryInputPipe::new(bytes.clone()));
        }
        Ok(builder.build_p1())
    }
}

#[async_trait]
impl Spawner for WasiSpawner {
    async fn spawn(&self, job: &Job, ctx: &RunContext) -> io::Result<Exit> {
        let shared = &self.shared;
        let module = Path::new(job.get_program());
        let pre = shared
            .cache
            .get(&shared.engine, &shared.linker, module)
            .await?;
        let stdout = CappedPipe::new(ctx.output_limit());
        let stderr = CappedPipe::new(ctx.output_limit());
        let wasi = Self::context(job, module, &stdout, &stderr)?;
        let limits = StoreLimitsBuilder::new()
            .memory_size(shared.max_memory)
            .instances(1)
            .build();
        let mut store = Store::new(&shared.engine, Guest { wasi, limits });
        store.limiter(|guest| &mut guest.limits);
        if let Some(fuel) = shared.fuel {
            store.set_fuel(fuel).map_err(io::Error::other)?;
        }
        // Yield to the runtime at every tick: the guest never holds a thread, and a cancel is
        // seen within a tick.
        store.epoch_deadline_async_yield_and_update(1);

        let instance = pre.instantiate_async(&mut store).await.map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("cannot instantiate `{}`: {e}", module.display()),
            )
        })?;
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_start")
            .map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("`{}` has no `_start` to run: {e}", module.display()),
                )
            })?;
        let ran = tokio::select! {
            biased;
            () = ctx.cancelled() => None,
            ran = start.call_async(&mut store, ()) => Some(ran),
        };
        let status = match ran {
            // Stopped by the pool: dropping the call stopped the guest, and the pool reports
            // why (timed out or cancelled).
            None => ExitStatus::Signal(9),
            Some(Ok(())) => ExitStatus::Code(0),
            Some(Err(error)) => match error.downcast_ref::<I32Exit>() {
                Some(exit) => ExitStatus::Code(exit.0),
                None => ExitStatus::Trapped(format!("{error:?}")),
            },
        };
        drop(store);
        let (out, out_truncated) = stdout.finish();
        let (err, err_truncated) = stderr.finish();
        Ok(Exit::new(status)
            .with_stdout(out, out_truncated)
            .with_stderr(err, err_truncated))
    }
}
