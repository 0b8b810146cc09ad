//! Unix: SIGINT, SIGTERM and SIGHUP.

use std::io;

use tokio::signal::unix::{Signal, SignalKind, signal};

use super::Interrupt;

#[derive(Debug)]
pub(super) struct Signals {
    int: Signal,
    term: Signal,
    hangup: Signal,
}

impl Signals {
    pub(super) fn catch() -> io::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    pub(super) async fn next(&mut self) -> Interrupt {
        tokio::select! {
            _ = self.int.recv() => Interrupt::Int,
            _ = self.term.recv() => Interrupt::Term,
            _ = self.hangup.recv() => Interrupt::Hangup,
        }
    }
}
