//! [`ModuleCache`]: modules and components compiled once per file, and recompiled when the file changes.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use wasmtime::component::Component;
use wasmtime::{Engine, InstancePre, Module, Precompiled};
use wasmtime_wasi::p2::bindings::CommandPre;

use crate::guest::Guest;
use crate::linker::Linkers;

/// What identifies a version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(path: &Path) -> io::Result<Stamp> {
        let meta = std::fs::metadata(path)?;
        Ok(Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

struct Cached {
    stamp: Stamp,
    /// When the file was last found unchanged.
    checked: Instant,
    pre: Arc<Prepared>,
    last_used: u64,
}

/// Pre-instantiated modules by path, at most `capacity` of them (the least recently used goes).
pub(crate) struct ModuleCache {
    entries: Mutex<HashMap<PathBuf, Cached>>,
    capacity: usize,
    /// How long a file found unchanged is trusted without looking again (zero: never).
    recheck_after: Duration,
    clock: AtomicU64,
    compiled: AtomicU64,
}

impl std::fmt::Debug for ModuleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleCache")
            .field("capacity", &self.capacity)
            .field("recheck_after", &self.recheck_after)
            .field("compiled", &self.compiled.load(Relaxed))
            .finish_non_exhaustive()
    }
}

impl ModuleCache {
    pub(crate) fn new(capacity: usize, recheck_after: Duration) -> Self {
        ModuleCache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            recheck_after,
            clock: AtomicU64::new(0),
            compiled: AtomicU64::new(0),
        }
    }

    /// How many modules have been compiled so far.
    pub(crate) fn compiled(&self) -> u64 {
        self.compiled.load(Relaxed)
    }

    /// The module or component at `path`, ready to instantiate, for a job submitted at
    /// `submitted`: from the cache if the file was found unchanged since then (or less than
    /// `recheck_after` ago), or is now (same size and modification time); else compiled and
    /// linked on a blocking thread.
    ///
    /// So a job always runs the file as it was at some moment after it was submitted, and a
    /// batch of jobs of one file costs one look (`stat`) at the file, not one per job.
    pub(crate) async fn get(
        &self,
        engine: &Engine,
        linkers: &Arc<Linkers>,
        accept: Accept,
        path: &Path,
        submitted: Instant,
    ) -> io::Result<Arc<Prepared>> {
        let now = self.clock.fetch_add(1, Relaxed);
        {
            let fresh = |c: &&mut Cached| {
                c.checked >= submitted
                    || (!self.recheck_after.is_zero() && c.checked.elapsed() < self.recheck_after)
            };
            if let Some(hit) = self.lock().get_mut(path).filter(fresh) {
                hit.last_used = now;
                return Ok(Arc::clone(&hit.pre));
            }
        }
        // Taken before looking: the look tells of the file as it was at this moment or later.
        let checked = Instant::now();
        let stamp = Stamp::of(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot read module `{}`: {e}", path.display()),
            )
        })?;
        if let Some(hit) = self.lock().get_mut(path).filter(|c| c.stamp == stamp) {
            hit.last_used = now;
            hit.checked = checked;
            return Ok(Arc::clone(&hit.pre));
        }
        let (engine, linkers, owned) = (engine.clone(), Arc::clone(linkers), path.to_owned());
        let pre = tokio::task::spawn_blocking(move || prepare(&engine, &linkers, accept, &owned))
            .await
            .map_err(io::Error::other)??;
        self.compiled.fetch_add(1, Relaxed);
        let pre = Arc::new(pre);
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(path) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, c)| c.last_used)
                .map(|(p, _)| p.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            path.to_owned(),
            Cached {
                stamp,
                checked,
                pre: Arc::clone(&pre),
                last_used: now,
            },
        );
        Ok(pre)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Cached>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Which kinds of file a spawner runs besides WASIp1 core modules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Accept {
    /// WASIp2 command components.
    pub(crate) components: bool,
    /// Precompiled `.cwasm` files, which wasmtime cannot check (see `trust_precompiled`).
    pub(crate) precompiled: bool,
}

/// A file ready to instantiate: a core module or a command component.
pub(crate) enum Prepared {
    Module(InstancePre<Guest>),
    Component(CommandPre<Guest>),
}

/// What a file holds, told from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Module,
    Component,
    Precompiled(Precompiled),
    /// Anything else: WAT text, or not WebAssembly at all (the compiler tells which).
    Other,
}

impl Kind {
    pub(crate) fn of(bytes: &[u8]) -> Kind {
        match (bytes.get(..4), bytes.get(4..8)) {
            (Some(b"\0asm"), Some([0x01, 0x00, 0x00, 0x00])) => Kind::Module,
            (Some(b"\0asm"), Some([0x0d, 0x00, 0x01, 0x00])) => Kind::Component,
            _ => Engine::detect_precompiled(bytes).map_or(Kind::Other, Kind::Precompiled),
        }
    }
}

/// Reads, compiles and links the file at `path`, naming the path in every error.
fn prepare(
    engine: &Engine,
    linkers: &Linkers,
    accept: Accept,
    path: &Path,
) -> io::Result<Prepared> {
    let named = |kind: io::ErrorKind, what: &str, error: &dyn std::fmt::Display| {
        io::Error::new(kind, format!("`{}` {what}: {error}", path.display()))
    };
    let invalid = |what: &'static str| {
        move |e: wasmtime::Error| named(io::ErrorKind::InvalidData, what, &format!("{e:#}"))
    };
    let bytes = std::fs::read(path).map_err(|e| named(e.kind(), "cannot be read", &e))?;
    let kind = Kind::of(&bytes);
    if matches!(
        kind,
        Kind::Component | Kind::Precompiled(Precompiled::Component)
    ) && !accept.components
    {
        return Err(named(
            io::ErrorKind::Unsupported,
            "is a WebAssembly component",
            &"this spawner runs core modules only (`components(false)`)",
        ));
    }
    if matches!(kind, Kind::Precompiled(_)) && !accept.precompiled {
        return Err(named(
            io::ErrorKind::PermissionDenied,
            "is precompiled wasmtime code",
            &"it cannot be checked, so it runs only on a spawner built with `trust_precompiled()`",
        ));
    }
    let link_module = |module: Module| {
        linkers
            .module
            .instantiate_pre(&module)
            .map(Prepared::Module)
            .map_err(invalid("cannot be linked in the sandbox"))
    };
    let link_component = |component: Component| {
        linkers
            .component
            .instantiate_pre(&component)
            .and_then(CommandPre::new)
            .map(Prepared::Component)
            .map_err(invalid("cannot be linked as a WASI command"))
    };
    match kind {
        Kind::Component => link_component(
            Component::new(engine, &bytes)
                .map_err(invalid("is not a valid WebAssembly component"))?,
        ),
        Kind::Precompiled(Precompiled::Module) => {
            link_module(precompiled::module(engine, &bytes).map_err(invalid("cannot be loaded"))?)
        }
        Kind::Precompiled(Precompiled::Component) => link_component(
            precompiled::component(engine, &bytes).map_err(invalid("cannot be loaded"))?,
        ),
        Kind::Module | Kind::Other => link_module(
            Module::new(engine, &bytes).map_err(invalid("is not a valid WebAssembly module"))?,
        ),
    }
}

/// Loading precompiled code: the only `unsafe` of the workspace.
#[allow(unsafe_code)]
mod precompiled {
    use wasmtime::component::Component;
    use wasmtime::{Engine, Module};

    /// A module from `.cwasm` bytes.
    pub(super) fn module(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Module> {
        // SAFETY: wasmtime cannot check compiled code, so these bytes must come from
        // `Engine::precompile_module` (for example through `WasiSpawner::precompile`), unchanged.
        // They only get here from a spawner built with `trust_precompiled()`, whose
        // documentation puts that duty on the caller. A file from another wasmtime version or
        // configuration is refused with an error, not loaded.
        unsafe { Module::deserialize(engine, bytes) }
    }

    /// A component from `.cwasm` bytes.
    pub(super) fn component(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
        // SAFETY: as for `module`: reached only when the spawner's user vouched for the file.
        unsafe { Component::deserialize(engine, bytes) }
    }
}
