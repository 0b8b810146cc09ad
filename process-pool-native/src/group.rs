//! Ending a job's process group: SIGTERM, a grace period, SIGKILL.

use std::io;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};
use tokio::process::Child;
use tokio::time::Instant;

/// How often a group that outlived SIGTERM is checked during its grace period.
const GRACE_POLL: Duration = Duration::from_millis(5);

/// A job's process group, whose id is the pid of the job's first process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Group(Pid);

impl Group {
    pub(crate) fn of(child: &Child) -> Option<Group> {
        let pid = i32::try_from(child.id()?).ok()?;
        Pid::from_raw(pid).map(Group)
    }

    fn signal(self, signal: Signal) {
        // ESRCH (the group is already gone) is the normal case after a clean exit.
        if let Err(error) = kill_process_group(self.0, signal)
            && error != rustix::io::Errno::SRCH
        {
            tracing::warn!(pgid = self.0.as_raw_nonzero().get(), %error, "cannot signal process group");
        }
    }

    /// Whether any process of the group is still alive (or a zombie not yet reaped).
    fn is_alive(self) -> bool {
        test_kill_process_group(self.0).is_ok()
    }

    pub(crate) fn kill(self) {
        self.signal(Signal::KILL);
    }

    /// Stops a running job: SIGTERM to the group, then SIGKILL if the first process has not
    /// exited within `grace`. Returns the first process's exit status, reaped.
    pub(crate) async fn stop(
        self,
        child: &mut Child,
        grace: Duration,
    ) -> io::Result<std::process::ExitStatus> {
        self.signal(Signal::TERM);
        match tokio::time::timeout(grace, child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                self.kill();
                child.wait().await
            }
        }
    }

    /// Ends whatever the job left in its group once its first process has been reaped:
    /// SIGTERM, up to `grace` for them to go, then SIGKILL.
    pub(crate) async fn sweep(self, grace: Duration) {
        if !self.is_alive() {
            return;
        }
        tracing::debug!(
            pgid = self.0.as_raw_nonzero().get(),
            "ending processes the job left behind"
        );
        self.signal(Signal::TERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            tokio::time::sleep(GRACE_POLL.min(deadline - Instant::now())).await;
            if !self.is_alive() {
                return;
            }
        }
        self.kill();
    }
}

/// Kills the group if the job's future is dropped before the job was ended properly (the
/// runtime shutting down, say), so no process outlives its pool.
#[derive(Debug)]
pub(crate) struct GroupGuard(Option<Group>);

impl GroupGuard {
    pub(crate) fn new(group: Option<Group>) -> Self {
        GroupGuard(group)
    }

    pub(crate) fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(group) = self.0.take() {
            group.kill();
        }
    }
}
