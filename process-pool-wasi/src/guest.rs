//! A job's guest: the data of its store (its WASI context and limits), and how a [`Job`]
//! becomes that context, granting nothing the job or the spawner did not ask for.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use process_pool_core::Job;
use wasmtime::{ResourceLimiter, StoreLimits};
use wasmtime_wasi::cli::{AsyncStdinStream, AsyncStdoutStream};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder, WasiCtxView, WasiView};

/// What a guest may do in a directory it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DirAccess {
    /// List and read files; no file or directory can be created, changed or removed.
    ReadOnly,
    /// Read, create, write, rename and remove, below the directory only.
    ReadWrite,
}

impl DirAccess {
    fn perms(self) -> FsPerms {
        match self {
            DirAccess::ReadOnly => FsPerms::ReadOnly,
            DirAccess::ReadWrite => FsPerms::ReadWrite,
        }
    }
}

/// A host directory every guest of a spawner sees, under `guest` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Preopen {
    pub(crate) host: PathBuf,
    pub(crate) guest: String,
    pub(crate) access: DirAccess,
}

/// The directories a job's guest is given: the spawner's, and the job's working directory as
/// `.` if it has one.
#[derive(Debug, Clone)]
pub(crate) struct Grants {
    pub(crate) preopens: Vec<Preopen>,
    pub(crate) cwd_access: DirAccess,
}

/// The data of a job's store: its WASI context (WASIp1 for core modules, whose resource table
/// also serves WASIp2 components) and its limits.
pub(crate) struct Guest {
    pub(crate) wasi: WasiP1Ctx,
    pub(crate) limits: Limiter,
}

/// The store's limits, and (for a worker) a running count of its linear memory, readable
/// while the guest runs.
pub(crate) struct Limiter {
    limits: StoreLimits,
    memory: Option<Arc<AtomicU64>>,
    /// The last growth counted, taken back if it fails.
    last: u64,
}

impl Limiter {
    pub(crate) fn new(limits: StoreLimits, memory: Option<Arc<AtomicU64>>) -> Limiter {
        Limiter {
            limits,
            memory,
            last: 0,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed && let Some(memory) = &self.memory {
            // Also called when a memory is created (from 0): the sum covers every memory.
            self.last = (desired - current) as u64;
            memory.fetch_add(self.last, Relaxed);
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        if let Some(memory) = &self.memory {
            memory.fetch_sub(std::mem::take(&mut self.last), Relaxed);
        }
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

impl WasiView for Guest {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.wasi.ctx()
    }
}

/// `value` as UTF-8, which WASI's arguments and environment must be.
fn text(value: &OsStr, what: &str) -> io::Result<String> {
    value.to_str().map(str::to_owned).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{what} `{}` is not UTF-8, which WASI requires",
                value.to_string_lossy()
            ),
        )
    })
}

/// The WASI context of `job`, run from `module`, without its stdio (which the spawner sets):
/// argv\[0\] is the module's file name, then the job's arguments; only the job's own
/// environment; the granted directories. Nothing else of the host.
pub(crate) fn context(job: &Job, module: &Path, grants: &Grants) -> io::Result<WasiCtxBuilder> {
    let args = job
        .get_args()
        .iter()
        .map(|arg| text(arg, "the argument"))
        .collect::<io::Result<Vec<_>>>()?;
    // Only the job's own variables: a guest never sees the host's environment.
    let mut envs = Vec::new();
    for (key, value) in job.effective_envs() {
        if let Some(value) = value {
            envs.push((text(key, "the variable")?, text(value, "the value")?));
        }
    }
    base(module, &args, &envs, job.get_cwd(), grants)
}

/// The WASI context of a warm worker: as a job's, with its stdin, stdout and stderr streamed
/// to and from the host while it runs. Must be called inside the tokio runtime.
pub(crate) fn worker_context<R, W, E>(
    module: &Path,
    args: &[String],
    envs: &[(String, String)],
    grants: &Grants,
    stdio: (R, W, E),
) -> io::Result<WasiP1Ctx>
where
    R: tokio::io::AsyncRead + Send + Sync + 'static,
    W: tokio::io::AsyncWrite + Send + Sync + 'static,
    E: tokio::io::AsyncWrite + Send + Sync + 'static,
{
    /// How much a guest's write may hold before it waits for the host to read.
    const WRITE_BUDGET: usize = 64 << 10;
    let (stdin, stdout, stderr) = stdio;
    let mut builder = base(module, args, envs, None, grants)?;
    builder
        .stdin(AsyncStdinStream::new(stdin))
        .stdout(AsyncStdoutStream::new(WRITE_BUDGET, stdout))
        .stderr(AsyncStdoutStream::new(WRITE_BUDGET, stderr));
    Ok(builder.build_p1())
}

/// What every guest's context holds: argv (the module's file name, then `args`), `envs` and
/// nothing else of the environment, the spawner's directories and `cwd` as `.`.
fn base(
    module: &Path,
    args: &[String],
    envs: &[(String, String)],
    cwd: Option<&Path>,
    grants: &Grants,
) -> io::Result<WasiCtxBuilder> {
    let mut argv = vec![module.file_name().map_or_else(
        || module.to_string_lossy().into_owned(),
        |n| n.to_string_lossy().into_owned(),
    )];
    argv.extend(args.iter().cloned());
    let mut builder = WasiCtxBuilder::new();
    builder.args(&argv);
    for (key, value) in envs {
        builder.env(key, value);
    }
    let cwd = cwd.map(|dir| Preopen {
        host: dir.to_owned(),
        guest: ".".into(),
        access: grants.cwd_access,
    });
    for dir in grants.preopens.iter().chain(&cwd) {
        builder
            .preopened_dir(&dir.host, &dir.guest, dir.access.perms())
            .map_err(|e| {
                let kind = e
                    .downcast_ref::<io::Error>()
                    .map_or(io::ErrorKind::NotFound, io::Error::kind);
                io::Error::new(
                    kind,
                    format!(
                        "cannot open directory `{}` for the guest: {e}",
                        dir.host.display()
                    ),
                )
            })?;
    }
    Ok(builder)
}
