//! SIGINT (Ctrl-C) and SIGTERM, caught so the run can stop cleanly.
//!
//! Jobs run in process groups of their own, so a Ctrl-C at the terminal reaches the tool
//! alone: the first one stops new jobs and gives running ones the `--grace` to finish; a second
//! one, or SIGTERM, ends every running job's process tree at once. Either way every job is
//! reaped before the tool exits.

use std::io;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Which signal came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interrupt {
    /// SIGINT: Ctrl-C.
    Int,
    /// SIGTERM.
    Term,
}

impl Interrupt {
    /// The exit status a shell shows for a process this signal stopped.
    pub(crate) fn exit_status(self) -> i32 {
        match self {
            Interrupt::Int => 130,
            Interrupt::Term => 143,
        }
    }
}

/// The two signals the tool listens for.
#[derive(Debug)]
pub(crate) struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    /// Starts catching SIGINT and SIGTERM.
    pub(crate) fn catch() -> io::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    /// The next signal.
    pub(crate) async fn next(&mut self) -> Interrupt {
        tokio::select! {
            _ = self.int.recv() => Interrupt::Int,
            _ = self.term.recv() => Interrupt::Term,
        }
    }
}
