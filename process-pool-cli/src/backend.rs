//! Which spawner runs the jobs: OS processes, or WASI modules with `--wasi` (a wasmtime engine
//! is built only then), and the checks made before the first job.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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
        let program = Path::new(OsStr::from_bytes(program));
        match self {
            Backend::Native => find_program(program).map(drop),
            #[cfg(feature = "wasi")]
            Backend::Wasi(_) => crate::wasi::check_module(program),
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

/// Finds `program` as `execvp` would: a path as it is, a bare name in `PATH`.
fn find_program(program: &Path) -> Result<PathBuf, String> {
    let shown = program.display();
    let executable = |path: &Path| {
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.as_os_str().as_bytes().contains(&b'/') {
        return match program.metadata() {
            Err(_) => Err(format!("`{shown}`: no such file")),
            Ok(_) if !executable(program) => Err(format!("`{shown}`: not an executable file")),
            Ok(_) => Ok(program.to_owned()),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
        .ok_or_else(|| format!("command not found: `{shown}` (not in PATH)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_in_path_or_named_as_missing() {
        assert!(find_program(Path::new("sh")).is_ok());
        let err = find_program(Path::new("surely-no-such-program")).unwrap_err();
        assert!(err.contains("command not found"), "{err}");
        let err = find_program(Path::new("./no/such/file")).unwrap_err();
        assert!(err.contains("no such file"), "{err}");
        let err = find_program(Path::new("/etc/passwd")).unwrap_err();
        assert!(err.contains("not an executable"), "{err}");
    }
}
