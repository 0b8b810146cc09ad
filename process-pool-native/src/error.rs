//! Errors of the native backend's own, carried inside the [`io::Error`](std::io::Error) of a
//! job that could not start.

use std::ffi::OsStr;
use std::fmt;

/// A batch file (`.bat`, `.cmd`) was given an argument that cannot be passed to it safely, so
/// the job was not started (Windows).
///
/// Windows runs a batch file through `cmd.exe`, which reads its command line with rules of its
/// own; the standard library quotes each argument for them, but a line break (`\r`, `\n`)
/// cannot be quoted and would let an argument run commands of its own. The job's
/// [`Outcome::SpawnFailed`](process_pool_core::Outcome::SpawnFailed) holds this error, of
/// kind [`InvalidInput`](std::io::ErrorKind::InvalidInput); `get_ref()` and `downcast_ref`
/// reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchArgument {
    program: String,
    argument: String,
}

impl BatchArgument {
    #[cfg_attr(not(windows), allow(dead_code))]
    pub(crate) fn new(program: &OsStr, argument: &OsStr) -> Self {
        BatchArgument {
            program: program.to_string_lossy().into_owned(),
            argument: argument.to_string_lossy().into_owned(),
        }
    }

    /// The batch file, as it was found.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The argument that was refused.
    pub fn argument(&self) -> &str {
        &self.argument
    }
}

impl fmt::Display for BatchArgument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "argument {:?} of batch file `{}` holds a line break, which cmd.exe cannot be given safely",
            self.argument, self.program
        )
    }
}

impl std::error::Error for BatchArgument {}
