//! [`Control`]: the pool's handle on a worker started through Slurm.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use process_pool_core::backend::{StderrTail, WorkerControl};

use crate::cluster::Commands;

/// The handle on a worker started through Slurm.
#[derive(Debug)]
pub(crate) struct Control {
    pub(super) commands: Commands,
    pub(super) pid: Option<u32>,
    pub(super) own_allocation: bool,
    /// The allocation (own placement) or `JOB.STEP` (within), once known.
    pub(super) target: Mutex<Option<String>>,
    /// The node it runs on, once known.
    pub(super) node: Mutex<Option<String>>,
    pub(super) ended: AtomicBool,
    pub(super) killed: AtomicBool,
    pub(super) tail: StderrTail,
}

impl Control {
    pub(super) fn node(&self) -> Option<String> {
        self.node
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn target(&self) -> Option<String> {
        self.target
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn kill_local(&self) {
        if let Some(pid) = self
            .pid
            .and_then(|p| rustix::process::Pid::from_raw(i32::try_from(p).ok()?))
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

impl WorkerControl for Control {
    fn pid(&self) -> Option<u32> {
        self.pid
    }

    fn kill(&self) {
        if self.ended.load(Ordering::SeqCst) || self.killed.swap(true, Ordering::SeqCst) {
            return;
        }
        match self.target() {
            // Slurm ends the worker and everything of its step; the local salloc/srun then
            // end by themselves (salloc giving the allocation back).
            Some(target) => {
                let signal = (!self.own_allocation).then_some("KILL");
                self.commands.cancel_detached(&target, signal);
            }
            None => self.kill_local(),
        }
    }

    fn stderr_tail(&self) -> String {
        self.tail.text()
    }

    fn memory(&self) -> Option<u64> {
        None
    }
}
