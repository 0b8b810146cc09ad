//! The shell that runs a command given as one string, and how values are quoted for it.
//!
//! On Unix: as GNU parallel, the command's words joined into one line for `$SHELL -c LINE`
//! (see `unix.rs` for which shell), values in POSIX quotes; a line the shell would only split
//! into words runs directly when that changes nothing a user can see. On Windows: `cmd.exe`, values quoted so
//! that cmd passes them on unchanged and a program splitting its command line as the C runtime
//! does (`CommandLineToArgvW`) reads each back as one argument; see `windows.rs` for how the
//! line reaches cmd untouched (a batch script written once per run, removed by [`clean_up`]).

use std::ffi::OsString;

use process_pool::Job;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as imp;
// Pure text handling, so its tests also run on Linux (they are the quoting's specification).
#[cfg(any(windows, test))]
mod windows;
#[cfg(windows)]
use windows as imp;

/// How the shell is named in messages: `$SHELL -c`, or `cmd.exe` on Windows.
pub(crate) const NAME: &str = imp::NAME;

/// How the command's words are run, for `--help`.
pub(crate) const HELP: &str = imp::HELP;

/// Why a shell job cannot be made. Only Windows' cmd has these; `sh` takes any bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) enum ShellError {
    /// A value that cannot be put into a line so that the shell passes it on unchanged.
    #[error(
        "the value `{shown}` holds a line break or a NUL, which cannot be passed through {NAME}"
    )]
    Unquotable {
        /// The value, as text to show.
        shown: String,
    },
    /// The script that hands cmd its lines could not be written.
    #[error("cannot run shell lines: {reason}")]
    Script {
        /// The file and the OS's reason.
        reason: String,
    },
}

/// Whether `byte` in a one-word command means it needs the shell (spaces, shell syntax).
pub(crate) fn is_special(byte: u8) -> bool {
    imp::is_special(byte)
}

/// Whether the command's several words are joined into one line, as GNU parallel does (Unix);
/// on Windows they are run directly as given, and only a one-word command goes to cmd.
pub(crate) const JOINS_WORDS: bool = cfg!(unix);

/// Whether `byte` only separates words in a line, so a line of plain words and these can be
/// run directly (Unix: spaces and tabs; Windows: none, a space sends the line to cmd).
pub(crate) fn is_blank(byte: u8) -> bool {
    JOINS_WORDS && (byte == b' ' || byte == b'\t')
}

/// Whether a line whose first word is `program` (plain text) runs the same directly as
/// through the shell (Unix: a program found as the shell would find it, not a builtin,
/// keyword, assignment or exported function; Windows: always).
pub(crate) fn runs_directly(program: &[u8]) -> bool {
    #[cfg(unix)]
    return unix::runs_directly(program);
    #[cfg(windows)]
    {
        let _ = program;
        true
    }
}

/// Whether these words, rendered for one input, run directly as the shell would run them:
/// false for the few builtins run directly whose programs answer some arguments otherwise
/// (Unix: `echo -n`, `true --help`); such a job runs through the shell.
pub(crate) fn same_as_shell(words: &[Vec<u8>]) -> bool {
    #[cfg(unix)]
    return unix::same_as_shell(words);
    #[cfg(windows)]
    {
        let _ = words;
        true
    }
}

/// Appends `value` to the shell line `out` so that it reads back as one word with exactly
/// these bytes; `out` is left as it was on an error.
pub(crate) fn push_quoted(out: &mut Vec<u8>, value: &[u8]) -> Result<(), ShellError> {
    imp::push_quoted(out, value)
}

/// Words shown as one command line for the shell (joblog, `--dry-run`, messages).
pub(crate) fn join_quoted<'a>(words: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    imp::join_quoted(words)
}

/// The words the shell (on Windows: cmd, then the program's C runtime) reads from a line of
/// quoted values: as much of its grammar as quoting uses, to check the quoting against.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn read_back(line: &[u8]) -> Vec<Vec<u8>> {
    imp::read_back(line)
}

/// The job that runs `line` through the shell.
pub(crate) fn job(line: OsString) -> Result<Job, ShellError> {
    imp::job(line)
}

/// Removes what [`job`] left for the run (Windows' script); call it when the run is over.
pub(crate) fn clean_up() {
    imp::clean_up();
}
