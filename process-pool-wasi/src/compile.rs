//! Compiling a file for a spawner: what it holds (module, component, precompiled code), and
//! reading, compiling and linking it into something ready to instantiate.

use std::io;
use std::path::Path;
use std::sync::Arc;

use wasmtime::component::Component;
use wasmtime::{Engine, InstancePre, Module, Precompiled};
use wasmtime_wasi::p2::bindings::CommandPre;

use crate::guest::Guest;
use crate::linker::Linkers;

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

/// What compiles a spawner's files: its engine and linkers, and the kinds of file it runs.
#[derive(Clone)]
pub(crate) struct Compiler {
    pub(crate) engine: Engine,
    pub(crate) linkers: Arc<Linkers>,
    pub(crate) accept: Accept,
}

impl Compiler {
    /// Reads, compiles and links the file at `path`, naming the path in every error. Blocks
    /// for as long as the compile takes.
    pub(crate) fn prepare(&self, path: &Path) -> io::Result<Prepared> {
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
        ) && !self.accept.components
        {
            return Err(named(
                io::ErrorKind::Unsupported,
                "is a WebAssembly component",
                &"this spawner runs core modules only (`components(false)`)",
            ));
        }
        if matches!(kind, Kind::Precompiled(_)) && !self.accept.precompiled {
            return Err(named(
                io::ErrorKind::PermissionDenied,
                "is precompiled wasmtime code",
                &"it cannot be checked, so it runs only on a spawner built with `trust_precompiled()`",
            ));
        }
        let link_module = |module: Module| {
            // Refused before it is instantiated, which would run its start function first.
            if !has_start(&module) {
                return Err(named(
                    io::ErrorKind::InvalidData,
                    "has no `_start` to run",
                    &"a WASI command exports `_start`, a function without parameters or results",
                ));
            }
            self.linkers
                .module
                .instantiate_pre(&module)
                .map(Prepared::Module)
                .map_err(invalid("cannot be linked in the sandbox"))
        };
        let link_component = |component: Component| {
            self.linkers
                .component
                .instantiate_pre(&component)
                .and_then(CommandPre::new)
                .map(Prepared::Component)
                .map_err(invalid("cannot be linked as a WASI command"))
        };
        let engine = &self.engine;
        match kind {
            Kind::Component => link_component(
                Component::new(engine, &bytes)
                    .map_err(invalid("is not a valid WebAssembly component"))?,
            ),
            Kind::Precompiled(Precompiled::Module) => link_module(
                precompiled::module(engine, &bytes).map_err(invalid("cannot be loaded"))?,
            ),
            Kind::Precompiled(Precompiled::Component) => link_component(
                precompiled::component(engine, &bytes).map_err(invalid("cannot be loaded"))?,
            ),
            Kind::Module | Kind::Other => link_module(
                Module::new(engine, &bytes)
                    .map_err(invalid("is not a valid WebAssembly module"))?,
            ),
        }
    }
}

/// Whether `module` exports `_start` as a function without parameters or results.
fn has_start(module: &Module) -> bool {
    match module.get_export("_start") {
        Some(wasmtime::ExternType::Func(func)) => {
            func.params().len() == 0 && func.results().len() == 0
        }
        _ => false,
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
