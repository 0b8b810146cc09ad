//! Unix: an exit status is a byte.

use std::process::ExitCode;

pub(super) const HELP: &str = "\
Exit status: 0 all jobs succeeded; 1-100 that many jobs failed; 101 more than 100
failed; with --halt, GNU parallel's rules (fail=1: the failed job's own status;
P%: the percentage that failed; success reached: 0); 130 stopped by Ctrl-C, 143 by
SIGTERM, 129 by SIGHUP; 255 the run could not start or go on (bad option, unreadable
input, command or module not found, unwritable joblog).

Ctrl-C once: no new job starts, running jobs get --grace to finish, then are ended.
Ctrl-C twice, SIGTERM or SIGHUP: every running job's process tree is ended at once.";

pub(super) fn code(status: i32) -> ExitCode {
    ExitCode::from(status.rem_euclid(256) as u8)
}
