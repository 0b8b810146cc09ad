//! The interrupts the tool catches so the run can stop cleanly: on Unix SIGINT (Ctrl-C),
//! SIGTERM and SIGHUP; on Windows Ctrl-C, Ctrl-Break and the console being closed.
//!
//! Jobs run in process groups of their own, so a Ctrl-C at the terminal reaches the tool
//! alone: the first one stops new jobs and gives running ones the `--grace` to finish; a second
//! one, or SIGTERM, ends every running job's process tree at once; so does SIGHUP (the
//! terminal went away: the jobs, in groups of their own, would not hear of it). Either way
//! every job is reaped before the tool exits.
//!
//! On Windows each job is started in a new process group, for which Windows turns Ctrl-C off,
//! so only the tool acts on a Ctrl-C, as on Unix. Ctrl-Break is delivered to
//! every process on the console, the jobs too: the tool handles it as SIGTERM (every running
//! job's tree ended at once, whatever the jobs did with it). Closing the console window is
//! handled as SIGHUP, within the few seconds Windows allows. The exit statuses are the same
//! numbers on both: 130, 143 and 129.

use std::io;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as imp;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as imp;

/// Which interrupt came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interrupt {
    /// Ctrl-C (SIGINT on Unix).
    Int,
    /// SIGTERM on Unix; Ctrl-Break on Windows.
    Term,
    /// SIGHUP on Unix; the console closed on Windows.
    Hangup,
}

impl Interrupt {
    /// The exit status a shell shows for a process this signal stopped (128 + its number on
    /// Unix; the same numbers on Windows, as documented).
    pub(crate) fn exit_status(self) -> i32 {
        match self {
            Interrupt::Int => 130,
            Interrupt::Term => 143,
            Interrupt::Hangup => 129,
        }
    }
}

/// The interrupts the tool listens for.
#[derive(Debug)]
pub(crate) struct Signals(imp::Signals);

impl Signals {
    /// Starts catching them.
    pub(crate) fn catch() -> io::Result<Signals> {
        imp::Signals::catch().map(Signals)
    }

    /// The next interrupt.
    pub(crate) async fn next(&mut self) -> Interrupt {
        self.0.next().await
    }
}
