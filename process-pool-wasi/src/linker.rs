//! The linkers of a spawner: WASIp1 for core modules, WASIp2 for command components.

use wasmtime::component::Linker as ComponentLinker;
use wasmtime::{Engine, Linker};
use wasmtime_wasi::I32Exit;

use crate::guest::Guest;

/// What a guest may import: WASI, and nothing of the host beyond it.
pub(crate) struct Linkers {
    pub(crate) module: Linker<Guest>,
    pub(crate) component: ComponentLinker<Guest>,
}

impl Linkers {
    /// Both linkers on `engine`, with WASI's async host functions.
    pub(crate) fn new(engine: &Engine) -> wasmtime::Result<Self> {
        let mut module = Linker::new(engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut module, |guest: &mut Guest| &mut guest.wasi)?;
        // wasmtime-wasi traps on an exit code of 126 or more; a job's exit code is what it gave.
        module.allow_shadowing(true).func_wrap(
            "wasi_snapshot_preview1",
            "proc_exit",
            |code: i32| -> wasmtime::Result<()> { Err(wasmtime::Error::new(I32Exit(code))) },
        )?;

        let mut component = ComponentLinker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut component)?;
        Ok(Linkers { module, component })
    }
}
