//! Linux: a process started by [`clone`](super::clone), waited on through its pidfd.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use rustix::process::{WaitId, WaitIdOptions, WaitIdStatus, pidfd_send_signal};
use tokio::io::unix::AsyncFd;

/// A child of this process, reaped through its pidfd (which no pid reuse can confuse).
#[derive(Debug)]
pub(crate) struct Process {
    pid: u32,
    pidfd: Option<AsyncFd<OwnedFd>>,
    status: Option<ExitStatus>,
    /// Killed if dropped before it was reaped.
    kill_on_drop: bool,
}

impl Process {
    /// The child `pid` with its `pidfd`, registered with the current runtime's reactor.
    pub(crate) fn new(pid: i32, pidfd: OwnedFd, kill_on_drop: bool) -> io::Result<Process> {
        let pid = u32::try_from(pid).map_err(|_| io::Error::other("clone3 gave a negative pid"))?;
        Ok(Process {
            pid,
            // SAFETY: the AsyncFd owns the pidfd, which stays open and the same until dropped.
            #[allow(unsafe_code)]
            pidfd: Some(unsafe {
                AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE)
            }?),
            status: None,
            kill_on_drop,
        })
    }

    pub(crate) fn id(&self) -> Option<u32> {
        self.status.is_none().then_some(self.pid)
    }

    fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.pidfd.as_ref().map(|fd| fd.get_ref().as_fd())
    }

    /// Reaps it if it has exited.
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let Some(fd) = self.fd() else {
            return Ok(None);
        };
        let reaped = rustix::process::waitid(
            WaitId::PidFd(fd),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
        )?;
        let status = reaped.and_then(|status| exit_status(&status));
        if status.is_some() {
            self.status = status;
            // Closed now: the pid is free for the system to reuse.
            self.pidfd = None;
        }
        Ok(status)
    }

    /// Waits until it exits, and reaps it.
    pub(crate) async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            let Some(fd) = &self.pidfd else {
                return Err(io::Error::other(
                    "the process is not registered with a runtime",
                ));
            };
            // Readable once the process has exited.
            let mut ready = fd.readable().await?;
            ready.clear_ready();
        }
    }

    /// SIGKILL to it, unless it has been reaped.
    pub(crate) fn start_kill(&mut self) -> io::Result<()> {
        match self.fd() {
            Some(fd) if self.status.is_none() => {
                pidfd_send_signal(fd, rustix::process::Signal::KILL).map_err(io::Error::from)
            }
            _ => Ok(()),
        }
    }
}

/// `std`'s exit status for what waitid told; `None` for a stop or a continue.
fn exit_status(status: &WaitIdStatus) -> Option<ExitStatus> {
    if let Some(code) = status.exit_status() {
        return Some(ExitStatus::from_raw((code & 0xff) << 8));
    }
    let signal = status.terminating_signal()?;
    let core = if status.dumped() { 0x80 } else { 0 };
    Some(ExitStatus::from_raw(signal | core))
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.status.is_some() || matches!(self.try_wait(), Ok(Some(_)) | Err(_)) {
            return;
        }
        if self.kill_on_drop {
            let _ = self.start_kill();
        }
        // Still running, and no one will wait for it: reaped in the background when it exits,
        // so that it never stays a zombie.
        let pidfd = self.pidfd.take().map(AsyncFd::into_inner);
        if let Some(pidfd) = pidfd {
            std::thread::spawn(move || {
                let _ =
                    rustix::process::waitid(WaitId::PidFd(pidfd.as_fd()), WaitIdOptions::EXITED);
            });
        }
    }
}
