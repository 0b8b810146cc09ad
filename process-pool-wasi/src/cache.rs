//! [`ModuleCache`]: modules compiled once per file, and recompiled when the file changes.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use wasmtime::{Engine, InstancePre, Linker, Module};

use crate::spawn::Guest;

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
    pre: Arc<InstancePre<Guest>>,
    last_used: u64,
}

/// Pre-instantiated modules by path, at most `capacity` of them (the least recently used goes).
pub(crate) struct ModuleCache {
    entries: Mutex<HashMap<PathBuf, Cached>>,
    capacity: usize,
    clock: AtomicU64,
    compiled: AtomicU64,
}

impl std::fmt::Debug for ModuleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleCache")
            .field("capacity", &self.capacity)
            .field("compiled", &self.compiled.load(Relaxed))
            .finish_non_exhaustive()
    }
}

impl ModuleCache {
    pub(crate) fn new(capacity: usize) -> Self {
        ModuleCache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            clock: AtomicU64::new(0),
            compiled: AtomicU64::new(0),
        }
    }

    /// How many modules have been compiled so far.
    pub(crate) fn compiled(&self) -> u64 {
        self.compiled.load(Relaxed)
    }

    /// The module at `path`, ready to instantiate: from the cache if the file is unchanged
    /// (same size and modification time), else compiled and linked on a blocking thread.
    pub(crate) async fn get(
        &self,
        engine: &Engine,
        linker: &Arc<Linker<Guest>>,
        path: &Path,
    ) -> io::Result<Arc<InstancePre<Guest>>> {
        let stamp = Stamp::of(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot read module `{}`: {e}", path.display()),
            )
        })?;
        let now = self.clock.fetch_add(1, Relaxed);
        if let Some(hit) = self.lock().get_mut(path).filter(|c| c.stamp == stamp) {
            hit.last_used = now;
            return Ok(Arc::clone(&hit.pre));
        }
        let (engine, linker, owned) = (engine.clone(), Arc::clone(linker), path.to_owned());
        let pre = tokio::task::spawn_blocking(move || prepare(&engine, &linker, &owned))
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

/// Reads, compiles and links the module at `path`, naming the path in every error.
fn prepare(engine: &Engine, linker: &Linker<Guest>, path: &Path) -> io::Result<InstancePre<Guest>> {
    let named = |kind: io::ErrorKind, what: &str, error: &dyn std::fmt::Display| {
        io::Error::new(kind, format!("`{}` {what}: {error}", path.display()))
    };
    let bytes = std::fs::read(path).map_err(|e| named(e.kind(), "cannot be read", &e))?;
    if bytes.starts_with(b"\0asm") && bytes.get(4..8) == Some(&[0x0d, 0x00, 0x01, 0x00]) {
        return Err(named(
            io::ErrorKind::Unsupported,
            "is a WebAssembly component",
            &"only core modules (wasm32-wasip1) are supported so far",
        ));
    }
    let module = Module::new(engine, &bytes).map_err(|e| {
        named(
            io::ErrorKind::InvalidData,
            "is not a valid WebAssembly module",
            &e,
        )
    })?;
    linker.instantiate_pre(&module).map_err(|e| {
        named(
            io::ErrorKind::InvalidData,
            "cannot be linked in the sandbox",
            &e,
        )
    })
}
