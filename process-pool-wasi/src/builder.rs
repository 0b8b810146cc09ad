//! [`WasiSpawnerBuilder`]: a spawner's limits, grants and caching, checked when it is built.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use process_pool_core::ConfigError;

use crate::cache::ModuleCache;
use crate::compile::{Accept, Compiler};
use crate::engine::{self, Sizing};
use crate::guest::{DirAccess, Grants, Preopen};
use crate::linker::Linkers;
use crate::spawn::{Limits, Shared, WasiSpawner};

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
    compile_timeout: Duration,
    accept: Accept,
    grants: Grants,
    limits: Limits,
}

/// The default of [`WasiSpawnerBuilder::compile_timeout`]: generous, for a large module in a
/// debug build.
const DEFAULT_COMPILE_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for WasiSpawnerBuilder {
    fn default() -> Self {
        WasiSpawnerBuilder {
            instances: 16,
            cache_capacity: 64,
            recheck_after: Duration::ZERO,
            compile_timeout: DEFAULT_COMPILE_TIMEOUT,
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

    /// The longest a file may take to compile (default 60 s).
    ///
    /// Compiling is the spawner's work, shared by every job of a file, not one job's: it
    /// does not count against a job's timeout once the module is compiled (see
    /// [`WasiSpawner::compile`] to compile ahead), and a cancelled job stops waiting for it
    /// while the compile goes on for the others. A compile that runs past the limit fails
    /// the jobs waiting for it with an error of kind [`TimedOut`](std::io::ErrorKind::TimedOut)
    /// naming the file; it cannot be interrupted, so it finishes in the background and, if it
    /// succeeds, later jobs of the file use it.
    ///
    /// A debug build of wasmtime compiles many times slower than a release build: see the
    /// README for the `opt-level` to give dependencies in dev builds.
    pub fn compile_timeout(mut self, limit: Duration) -> Self {
        self.compile_timeout = limit;
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

    /// What a guest may do in its job's working directory
    /// ([`Job::cwd`](process_pool_core::Job::cwd)), which it sees as `.` (default
    /// [`DirAccess::ReadWrite`], as a process may in its own). A job without a working
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
        if self.compile_timeout.is_zero() {
            return Err(invalid("compile_timeout", "must be more than zero".into()));
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
        let compiler = Compiler {
            engine: engine.clone(),
            linkers: Arc::new(linkers),
            accept: self.accept,
        };
        Ok(WasiSpawner {
            shared: Arc::new(Shared {
                engine,
                cache: ModuleCache::new(
                    compiler,
                    self.cache_capacity,
                    self.recheck_after,
                    self.compile_timeout,
                ),
                grants: self.grants,
                limits: self.limits,
                instances: self.instances,
            }),
        })
    }
}
