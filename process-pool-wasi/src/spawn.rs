//! [`WasiSpawner`]: run a job's `.wasm` module in a fresh, sandboxed instance.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use process_pool_core::backend::{Exit, RunContext, Spawner};
use process_pool_core::{ConfigError, Job, ProcessPool, async_trait};
use wasmtime::{Engine, Store, StoreLimitsBuilder};

use crate::cache::{Accept, Kind, ModuleCache};
use crate::engine::{self, PER_COMPONENT, Sizing};
use crate::guest::{self, DirAccess, Grants, Guest, Limiter, Preopen};
use crate::instance::status;
use crate::linker::Linkers;
use crate::pipe::CappedPipe;

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
/// to instantiate; a file that changes (size or modification time) is compiled again. A guest
/// yields to the runtime at every epoch tick (1 ms), so one in an endless loop neither blocks a
/// runtime thread nor escapes its timeout.
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
    pub(crate) linkers: Arc<Linkers>,
    pub(crate) cache: ModuleCache,
    pub(crate) accept: Accept,
    pub(crate) grants: Grants,
    limits: Limits,
    /// Instances that may run at once.
    pub(crate) instances: u32,
}

/// What one job's store may hold.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_memory: usize,
    max_table_elements: usize,
    trap_on_grow_failure: bool,
    fuel: Option<u64>,
}

impl std::fmt::Debug for WasiSpawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasiSpawner")
            .field("cache", &self.shared.cache)
            .field("accept", &self.shared.accept)
            .field("grants", &self.shared.grants)
            .field("limits", &self.shared.limits)
            .finish_non_exhaustive()
    }
}

/// Builds a [`WasiSpawner`].
///
/// ```
/// use process_pool_wasi::{DirAccess, WasiSpawner};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let data = tempfile::tempdir()?;
/// let spawner = WasiSpawner::builder()
///     .max_instances(4)
///     .max_memory(64 << 20)
///     .preopen(data.path(), "/data", DirAccess::ReadOnly)
///     .build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct WasiSpawnerBuilder {
    instances: u32,
    cache_capacity: usize,
    recheck_after: Duration,
    accept: Accept,
    grants: Grants,
    limits: Limits,
}

impl Default for WasiSpawnerBuilder {
    fn default() -> Self {
        WasiSpawnerBuilder {
            instances: 16,
            cache_capacity: 64,
            recheck_after: Duration::ZERO,
            accept: Accept {
                components: true,
                precompiled: false,
            },
            grants: Grants {
                preopens: Vec::new(),
                cwd_access: DirAccess::ReadWrite,
            },
            limits: Limits {
                max_memory: 256 << 20,
                max_table_elements: 20_000,
                trap_on_grow_failure: false,
                fuel: None,
            },
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
    /// past it sees `memory.grow` fail (or traps, with
    /// [`trap_on_grow_failure`](Self::trap_on_grow_failure)); the host never allocates it.
    pub fn max_memory(mut self, bytes: usize) -> Self {
        self.limits.max_memory = bytes;
        self
    }

    /// The most elements a guest's table may have (default 20,000): a module that declares
    /// more fails to start, and `table.grow` past it fails.
    pub fn max_table_elements(mut self, elements: usize) -> Self {
        self.limits.max_table_elements = elements;
        self
    }

    /// Whether a guest that asks for more memory or table than allowed traps (`true`) rather
    /// than seeing its `memory.grow`/`table.grow` fail (`false`, the default).
    pub fn trap_on_grow_failure(mut self, trap: bool) -> Self {
        self.limits.trap_on_grow_failure = trap;
        self
    }

    /// How many compiled files are kept (default 64); the least recently used goes first.
    pub fn cache_capacity(mut self, modules: usize) -> Self {
        self.cache_capacity = modules;
        self
    }

    /// Trusts a file found unchanged for `window` before looking at it again (default zero).
    ///
    /// By default a job runs its file as it was at some moment after the job was submitted:
    /// the spawner looks at the file (`stat`, about 1.3 µs on a virtual machine) unless it has
    /// already looked since the job's submission, so a batch costs one look, but jobs
    /// submitted one at a time cost one each. With a window, a file rewritten less than
    /// `window` after it was last looked at may run its previous version once more. Use it
    /// when files do not change while jobs run.
    pub fn recheck_after(mut self, window: Duration) -> Self {
        self.recheck_after = window;
        self
    }

    /// Gives every job a budget of `units` of fuel (about one per wasm instruction): a guest
    /// that uses it up traps, after the same work on every run, whatever the machine's speed.
    /// Off by default (counting fuel slows guests down).
    pub fn fuel(mut self, units: u64) -> Self {
        self.limits.fuel = Some(units);
        self
    }

    /// Gives every guest the host directory `host` at the path `guest` (for example `/data`),
    /// read-only or read-write. A guest cannot reach anything outside it: not through `..`,
    /// absolute paths or symlinks. The directory must exist when the spawner is built.
    pub fn preopen(
        mut self,
        host: impl Into<PathBuf>,
        guest: impl Into<String>,
        access: DirAccess,
    ) -> Self {
        self.grants.preopens.push(Preopen {
            host: host.into(),
            guest: guest.into(),
            access,
        });
        self
    }

    /// What a guest may do in its job's working directory ([`Job::cwd`]), which it sees as `.`
    /// (default [`DirAccess::ReadWrite`], as a process may in its own). A job without a working
    /// directory is given none.
    pub fn cwd_access(mut self, access: DirAccess) -> Self {
        self.grants.cwd_access = access;
        self
    }

    /// Whether WASIp2 command components are run (default `true`); with `false`, a component is
    /// a spawn failure saying so.
    pub fn components(mut self, allow: bool) -> Self {
        self.accept.components = allow;
        self
    }

    /// Runs precompiled `.cwasm` files, made by [`WasiSpawner::precompile`] (or by wasmtime
    /// 48 with the same configuration). Off by default, and a `.cwasm` is then refused:
    /// wasmtime loads compiled code without checking it, so a forged or corrupted file could
    /// do anything the host process can. Turn it on only for files you built yourself. A file
    /// from another wasmtime version or configuration is refused with an error.
    pub fn trust_precompiled(mut self) -> Self {
        self.accept.precompiled = true;
        self
    }

    /// Builds the spawner: its engine, its linkers and its epoch ticker.
    pub fn build(self) -> Result<WasiSpawner, ConfigError> {
        let invalid = |name, reason: String| ConfigError::Invalid { name, reason };
        if self.instances == 0 {
            return Err(invalid("max_instances", "must be at least 1".into()));
        }
        for dir in &self.grants.preopens {
            if !dir.host.is_dir() {
                return Err(invalid(
                    "preopen",
                    format!("`{}` is not a directory", dir.host.display()),
                ));
            }
        }
        let engine = engine::engine(Sizing {
            instances: self.instances,
            max_memory: self.limits.max_memory,
            max_table_elements: self.limits.max_table_elements,
            fuel: self.limits.fuel.is_some(),
        })
        .map_err(|e| {
            invalid(
                "engine",
                format!("wasmtime refused the configuration: {e:#}"),
            )
        })?;
        let linkers = Linkers::new(&engine)
            .map_err(|e| invalid("linker", format!("cannot link WASI: {e:#}")))?;
        engine::start_ticker(&engine);
        Ok(WasiSpawner {
            shared: Arc::new(Shared {
                engine,
                linkers: Arc::new(linkers),
                cache: ModuleCache::new(self.cache_capacity, self.recheck_after),
                accept: self.accept,
                grants: self.grants,
                limits: self.limits,
                instances: self.instances,
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

    /// How many files this spawner has compiled: a file run again unchanged is not.
    pub fn modules_compiled(&self) -> u64 {
        self.shared.cache.compiled()
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
        Some(self.shared.instances as usize)
    }

    async fn spawn(&self, job: &Job, ctx: &RunContext) -> io::Result<Exit> {
        let shared = &self.shared;
        let path = Path::new(job.get_program());
        let prepared = shared
            .cache
            .get(
                &shared.engine,
                &shared.linkers,
                shared.accept,
                path,
                ctx.submitted_at(),
            )
            .await?;
        let stdout = CappedPipe::new(ctx.output_limit());
        let stderr = CappedPipe::new(ctx.output_limit());
        let wasi = guest::context(job, path, &stdout, &stderr, &shared.grants)?;
        let mut store = self.store(wasi, prepared.is_component(), None)?;
        let entry = prepared.instantiate(&mut store, path).await?;
        let ran = entry.run(&mut store, ctx.cancelled()).await;
        drop(store);
        let (out, out_truncated) = stdout.finish();
        let (err, err_truncated) = stderr.finish();
        Ok(Exit::new(status(ran))
            .with_stdout(out, out_truncated)
            .with_stderr(err, err_truncated))
    }
}
