//! Windows: an exit status is 32 bits.

use std::process::ExitCode;

pub(super) const HELP: &str = "\
Exit status: 0 all jobs succeeded; 1-100 that many jobs failed; 101 more than 100
failed; with --halt, GNU parallel's rules (fail=1: the failed job's own status, whole:
an exception such as 0xC0000005 as cmd shows it, -1073741819; P%: the percentage
that failed; success reached: 0); 130 stopped by Ctrl-C, 143 by Ctrl-Break, 129 by
the console closing; 255 the run could not start or go on (bad option, unreadable
input, command or module not found, unwritable joblog).

Ctrl-C once: no new job starts, running jobs get --grace to finish, then are ended.
Ctrl-C twice, Ctrl-Break or closing the console: every running job's process tree
(its Job Object) is ended at once.";

pub(super) fn code(status: i32) -> ExitCode {
    match u8::try_from(status) {
        Ok(byte) => ExitCode::from(byte),
        // `ExitCode` holds a byte on stable Rust; `exit` flushes stdout and takes all 32 bits.
        Err(_) => std::process::exit(status),
    }
}
