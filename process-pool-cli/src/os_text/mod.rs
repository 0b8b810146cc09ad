//! The bytes of arguments and paths: the template works on bytes, and this module is where
//! they meet the OS's own strings.
//!
//! On Unix an argument is any bytes, so both ways are lossless and never fail. On Windows an
//! argument is UTF-16: it becomes UTF-8 bytes, and bytes become an argument again only when
//! they are UTF-8 (an input read from a file or stdin may not be): anything else is a
//! [`NotUnicode`] error naming what was wrong, never a panic and never a silent replacement.

use std::ffi::OsString;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as imp;
// Plain conversions, so its tests also run on Linux.
#[cfg(any(windows, test))]
mod windows;
#[cfg(windows)]
use windows as imp;

/// Text that this OS cannot take as an argument, or that cannot be read as bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
// Only Windows' text can fail so; Unix takes any bytes.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) enum NotUnicode {
    /// A word of the command line that is not valid UTF-16 (a lone surrogate).
    #[error("argument `{shown}` is not valid Unicode (a lone UTF-16 surrogate)")]
    Argument {
        /// The argument with the bad code units replaced (U+FFFD), to show.
        shown: String,
    },
    /// Bytes (an input value read from a file or stdin, in a job's command) that are not
    /// UTF-8, which a Windows command line must be.
    #[error("`{shown}` is not UTF-8, and a Windows command line is Unicode text")]
    Bytes {
        /// The bytes with the bad ones replaced (U+FFFD), to show.
        shown: String,
    },
}

/// A word of ppool's own command line as bytes.
pub(crate) fn to_bytes(word: OsString) -> Result<Vec<u8>, NotUnicode> {
    imp::to_bytes(word)
}

/// Bytes as an argument (or program) for a job.
pub(crate) fn to_os(bytes: Vec<u8>) -> Result<OsString, NotUnicode> {
    imp::to_os(bytes)
}

/// Whether `byte` separates the parts of a path: `/`, and on Windows `\` too.
pub(crate) fn is_separator(byte: u8) -> bool {
    imp::is_separator(byte)
}

/// How many bytes at the start of `spec` are a drive (`C:` before a separator, on Windows),
/// so a list split at `:` keeps them with the path; 0 on Unix.
// Only `--dir` (WASI) reads drives.
#[cfg_attr(not(feature = "wasi"), allow(dead_code))]
pub(crate) fn drive_len(spec: &str) -> usize {
    imp::drive_len(spec)
}
