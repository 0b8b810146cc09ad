//! The tool's exit status as this OS takes it, and the help text that documents it.
//!
//! On Unix an exit status is a byte: the status is taken modulo 256, as a shell would. On
//! Windows it is 32 bits, and `cmd` shows it whole in `%ERRORLEVEL%`: a status outside 0..=255
//! (the status of a job that ended by an exception, passed on by `--halt now,fail=1`) is kept
//! whole rather than cut to a byte, which could make a failure read as 0.

use std::process::ExitCode;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as imp;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as imp;

/// The exit statuses and interrupts, for `--help`.
pub(crate) const HELP: &str = imp::HELP;

/// Ends the process with `status` when the OS needs that to keep it whole; else the
/// [`ExitCode`] for it.
pub(crate) fn code(status: i32) -> ExitCode {
    imp::code(status)
}
