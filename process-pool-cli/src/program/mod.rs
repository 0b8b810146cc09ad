//! Finding a job's program before anything runs, so a name that is wrong is one clear line and
//! not one failed job per input: as `execvp` would on Unix (a path as it is, a bare name in
//! `PATH`, executable bits set), and as a Windows user expects on Windows (a bare name in
//! `PATH` and the system directories, with the extensions of `PATHEXT` tried when it has none).

use std::path::{Path, PathBuf};

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as imp;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as imp;

/// Finds `program`; the error is one line for the user.
pub(crate) fn find(program: &Path) -> Result<PathBuf, String> {
    imp::find(program)
}
