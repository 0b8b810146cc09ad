//! Which spawner runs the jobs: OS processes, or WASI modules with `--wasi` (a wasmtime engine
//! is built only then), and the checks made before the first job.

use std::path::PathBuf;

use process_pool::{NativeSpawner, PoolBuilder, ProcessPool};

use crate::template::Template;

/// The backend chosen on the command line.
#[derive(Debug)]
pub(crate) enum Backend {
    /// OS processes, each job in its own process group.
    Native,
    /// WebAssembly modules in wasmtime.
    #[cfg(feature = "wasi")]
    Wasi(crate::wasi::WasiSettings),
}

/// Reads the WASI options into a backend.
pub(crate) fn choose(
    wasi: &bool,
    dirs: &[String],
    max_memory: Option<&str>,
    fuel: Option<u64>,
) -> Result<Backend, String> {
    if !*wasi {
        return Ok(Backend::Native);
    }
    #[cfg(feature = "wasi")]
    {
        crate::wasi::WasiSettings::parse(dirs, max_memory, fuel).map(Backend::Wasi)
    }
    #[cfg(not(feature = "wasi"))]
    {
        let _ = (dirs, max_memory, fuel);
        Err("--wasi: this ppool was built without WASI support (cargo feature `wasi`)".into())
    }
}

impl Backend {
    /// Checks the program (or module) before anything runs, when it is fixed text.
    pub(crate) fn check_program(&self, template: &Template) -> Result<(), String> {
        let Some(program) = template.fixed_program() else {
            return Ok(());
        };
        let program =
            PathBuf::from(crate::os_text::to_os(program.to_vec()).map_err(|e| e.to_string())?);
        match self {
            Backend::Native => crate::program::find(&program).map(drop),
            #[cfg(feature = "wasi")]
            Backend::Wasi(_) => crate::wasi::check_module(&program),
        }
    }

    /// Builds the pool on `builder`, with this backend's spawner.
    pub(crate) fn build(
        &self,
        builder: PoolBuilder,
        workers: usize,
    ) -> Result<ProcessPool, String> {
        let pool = match self {
            Backend::Native => builder.build(NativeSpawner::new()),
            #[cfg(feature = "wasi")]
            Backend::Wasi(settings) => builder.build(settings.spawner(workers)?),
        };
        let _ = workers;
        pool.map_err(|e| format!("cannot start the pool: {e}"))
    }
}
