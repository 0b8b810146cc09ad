//! SIGINT (Ctrl-C), SIGTERM and SIGHUP, caught so the run can stop cleanly.
//!
//! Jobs run in process groups of their own, so a Ctrl-C at the terminal reaches the tool
//! alone: the first one stops new jobs and gives running ones the `--grace` to finish; a second
//! one, or SIGTERM, ends every running job's process tree at once; so does SIGHUP (the
//! terminal went away: the jobs, in groups of their own, would not hear of it). Either way
//! every job is reaped before the tool exits.

use std::io;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Which signal came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interrupt {
    /// SIGINT: Ctrl-C.
    Int,
    /// SIGTERM.
    Term,
    /// SIGHUP.
    Hangup,
}

impl Interrupt {
    /// The exit status a shell shows for a process this signal stopped.
    pub(crate) fn exit_status(self) -> i32 {
        match self {
            Interrupt::Int => 130,
            Interrupt::Term => 143,
            Interrupt::Hangup => 129,
        }
    }
}

/// The signals the tool listens for.
#[derive(Debug)]
pub(crate) struct Signals {
    int: Signal,
    term: Signal,
    hangup: Signal,
}

impl Signals {
    /// Starts catching SIGINT, SIGTERM and SIGHUP.
    pub(crate) fn catch() -> io::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal.
    pub(crate) async fn next(&mut self) -> Interrupt {
        tokio::select! {
            _ = self.int.recv() => Interrupt::Int,
            _ = self.term.recv() => Interrupt::Term,
            _ = self.hangup.recv() => Interrupt::Hangup,
        }
    }
}
