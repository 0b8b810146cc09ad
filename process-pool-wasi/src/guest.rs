//! A job's guest: the data of its store (its WASI context and limits), and how a [`Job`]
//! becomes that context, granting nothing the job or the spawner did not ask for.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use process_pool_core::Job;
use wasmtime::StoreLimits;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::pipe::CappedPipe;

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
    pub(crate) limits: StoreLimits,
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

/// The WASI context of `job`, run from `module`: argv\[0\] is the module's file name, then the
/// job's arguments; only the job's own environment; stdin from the job's bytes; stdout and
/// stderr into the pipes; the granted directories. Nothing else of the host.
pub(crate) fn context(
    job: &Job,
    module: &Path,
    stdout: &CappedPipe,
    stderr: &CappedPipe,
    grants: &Grants,
) -> io::Result<WasiP1Ctx> {
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
    let cwd = job.get_cwd().map(|dir| Preopen {
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
    Ok(builder.build_p1())
}
