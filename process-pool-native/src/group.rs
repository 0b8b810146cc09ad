//! Ending a job's process group: SIGTERM, a grace period, SIGKILL.

use std::io;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};
use tokio::process::Child;
use tokio::time::Instant;

/// First and longest wait between checks of a group that outlived SIGTERM.
const POLL_FIRST: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(50);

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

    /// Whether any process of the group is still alive.
    ///
    /// Zombies do not count: they have ended and hold nothing open. They matter because a
    /// killed grandchild is an orphan whose zombie waits for init, and some inits reap slowly
    /// (seen here: over a second), which `kill(-pgid, 0)` alone would take for a live process.
    async fn is_alive(self) -> bool {
        if test_kill_process_group(self.0).is_err() {
            return false;
        }
        // Scanning /proc reads a file per process: off the runtime's threads.
        let pgid = self.0;
        tokio::task::spawn_blocking(move || live_member_in_proc(pgid))
            .await
            .ok()
            .flatten()
            .unwrap_or(true)
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
        if !self.is_alive().await {
            return;
        }
        tracing::debug!(
            pgid = self.0.as_raw_nonzero().get(),
            "ending processes the job left behind"
        );
        self.signal(Signal::TERM);
        let deadline = deadline_after(grace);
        let mut pause = POLL_FIRST;
        while Instant::now() < deadline {
            tokio::time::sleep(pause.min(deadline - Instant::now())).await;
            if !self.is_alive().await {
                return;
            }
            pause = (pause * 2).min(POLL_MAX);
        }
        self.kill();
    }
}

/// `now + grace`, or a far future for a grace too long to add (`Duration::MAX` means "wait").
fn deadline_after(grace: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    let now = Instant::now();
    now.checked_add(grace)
        .unwrap_or_else(|| now + FAR.min(grace))
}

/// Whether `/proc` shows a live (not zombie) process in group `pgid`; `None` without `/proc`.
/// Only called after `kill(-pgid, 0)` found the group not empty, which is the rare path.
fn live_member_in_proc(pgid: Pid) -> Option<bool> {
    let pgid = pgid.as_raw_nonzero().get();
    let entries = std::fs::read_dir("/proc").ok()?;
    let live = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .any(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // After the parenthesised command name: state, ppid, pgrp.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            let mut fields = rest.split_whitespace();
            let state = fields.next().unwrap_or("Z");
            let group = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
            group == Some(pgid) && state != "Z" && state != "X"
        });
    Some(live)
}

/// A job's child, which is killed (its whole group) and reaped if the job's future is dropped
/// before the job was ended properly (the runtime shutting down, say), so that no process, and
/// no zombie, outlives its pool.
#[derive(Debug)]
pub(crate) struct ChildGuard {
    child: Child,
    group: Option<Group>,
    armed: bool,
}

/// How long a dropped job's killed child is waited for, to reap it.
const REAP_BOUND: Duration = Duration::from_secs(2);

impl ChildGuard {
    pub(crate) fn new(child: Child, group: Option<Group>) -> Self {
        ChildGuard {
            child,
            group,
            armed: true,
        }
    }

    pub(crate) fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The job ended properly: its child has been reaped.
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        match self.group {
            Some(group) => group.kill(),
            None => drop(self.child.start_kill()),
        }
        // SIGKILL is prompt; without a runtime to reap it, the child would stay a zombie.
        let deadline = std::time::Instant::now() + REAP_BOUND;
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
