//! Windows: the console's control events Ctrl-C, Ctrl-Break and close.

use std::io;

use tokio::signal::windows::{CtrlBreak, CtrlC, CtrlClose, ctrl_break, ctrl_c, ctrl_close};

use super::Interrupt;

#[derive(Debug)]
pub(super) struct Signals {
    int: CtrlC,
    brk: CtrlBreak,
    close: CtrlClose,
}

impl Signals {
    pub(super) fn catch() -> io::Result<Signals> {
        Ok(Signals {
            int: ctrl_c()?,
            brk: ctrl_break()?,
            close: ctrl_close()?,
        })
    }

    pub(super) async fn next(&mut self) -> Interrupt {
        tokio::select! {
            _ = self.int.recv() => Interrupt::Int,
            _ = self.brk.recv() => Interrupt::Term,
            _ = self.close.recv() => Interrupt::Hangup,
        }
    }
}
