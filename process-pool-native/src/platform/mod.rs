//! Everything that differs between operating systems, behind one small interface: start a
//! command in a container of its own ([`Tree`]: a process group on Unix, a Job Object on
//! Windows), stop that container politely or for good, tell whether anything in it is still
//! alive, read how a process ended, and read a process's resident set. The rest of the crate
//! uses only what this module exports; the policy built on it (a polite stop, a grace, a kill)
//! is written once, here.

use std::io;
use std::time::Duration;

use tokio::time::Instant;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as os;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as os;

#[cfg(target_os = "linux")]
mod linux;

mod command;
pub(crate) use command::{Child, ChildOutput, Command, Io, OwnedIo};

// The parsing half is platform-free and tested on every host; the system calls are macOS's.
#[cfg(any(target_os = "macos", test))]
mod macos;

pub(crate) use os::{Tree, exit_status, program, resident_bytes};

/// Whether this platform can read a process's resident set: what a worker pool's memory limit
/// needs. `Err` names the platform where it cannot.
pub(crate) fn reads_resident_set() -> Result<(), &'static str> {
    os::RESIDENT_SET
}

/// First and longest wait between checks of a tree that outlived its polite stop.
const POLL_FIRST: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(50);

/// Starts `command` in a container of its own, created before the program's first instruction
/// runs. The container is `None` only where the OS gave no id for the child (never seen).
/// `options` is the platform's choice of container (on Linux: whether a cgroup may be used);
/// `max_memory`, a limit that [`check_memory_limit`] has accepted.
pub(crate) fn spawn(
    command: &mut Command,
    options: Options,
    max_memory: Option<u64>,
) -> io::Result<(Child, Option<Tree>)> {
    os::spawn(command, options, max_memory)
}

/// Whether a job's memory can be limited here, with these options; `Err` says why not.
pub(crate) fn check_memory_limit(options: Options) -> Result<(), String> {
    os::check_memory_limit(options)
}

/// What a job used, read from its container once it is empty, and whether the system killed
/// any of its processes for going over its memory limit (that limit).
#[derive(Debug, Default)]
pub(crate) struct Accounting {
    pub(crate) usage: process_pool_core::Usage,
    pub(crate) out_of_memory: Option<u64>,
}

pub(crate) use os::Options;

/// How jobs are held here, with cgroups allowed or not (Linux).
pub(crate) fn containment(cgroups: bool) -> crate::Containment {
    os::containment(cgroups)
}

/// See [`crate::hold_until_jobs_end`].
#[cfg(unix)]
pub(crate) fn hold_until_jobs_end(fd: std::os::fd::OwnedFd) -> io::Result<()> {
    os::hold_until_jobs_end(fd)
}

/// Stops a running job: the polite stop to its tree, then the hard stop if its first process
/// has not exited within `grace`. Returns the first process's exit status, reaped. Without a
/// tree, the child alone is killed.
pub(crate) async fn stop(
    child: &mut Child,
    tree: Option<&Tree>,
    grace: Duration,
) -> io::Result<std::process::ExitStatus> {
    let Some(tree) = tree else {
        let _ = child.start_kill();
        return child.wait().await;
    };
    tree.polite_stop();
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            tree.kill();
            child.wait().await
        }
    }
}

/// Ends whatever the job left in its tree once its first process has been reaped: the polite
/// stop where the platform has one for them, up to `grace` for them to go, then the hard stop,
/// and returns once they are gone (or a bound has passed: a process the kernel cannot end),
/// their zombies reaped where they are this process's children.
pub(crate) async fn sweep(tree: &Tree, grace: Duration) {
    end_leftovers(tree, grace).await;
    tree.reap_ended();
}

async fn end_leftovers(tree: &Tree, grace: Duration) {
    if !tree.is_alive().await {
        return;
    }
    tracing::debug!(tree = ?tree, "ending processes the job left behind");
    if tree.polite_stop_leftovers() && gone_within(tree, grace).await {
        return;
    }
    tree.kill();
    if !gone_within(tree, REAP_BOUND).await {
        tracing::warn!(tree = ?tree, "processes the job left were killed but are still there");
    }
}

/// Whether the tree is empty within `limit`, looked at with growing pauses.
async fn gone_within(tree: &Tree, limit: Duration) -> bool {
    let deadline = deadline_after(limit);
    let mut pause = POLL_FIRST;
    while Instant::now() < deadline {
        tokio::time::sleep(pause.min(deadline - Instant::now())).await;
        if !tree.is_alive().await {
            return true;
        }
        pause = (pause * 2).min(POLL_MAX);
    }
    false
}

/// `now + grace`, or a far future for a grace too long to add (`Duration::MAX` means "wait").
fn deadline_after(grace: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    let now = Instant::now();
    now.checked_add(grace)
        .unwrap_or_else(|| now + FAR.min(grace))
}

/// A job's child, which is killed (its whole tree) and reaped if the job's future is dropped
/// before the job was ended properly (the runtime shutting down, say), so that no process, and
/// no zombie, outlives its pool.
#[derive(Debug)]
pub(crate) struct ChildGuard {
    child: Child,
    tree: Option<Tree>,
    armed: bool,
}

/// How long a dropped job's killed child is waited for, to reap it.
const REAP_BOUND: Duration = Duration::from_secs(2);

impl ChildGuard {
    pub(crate) fn new(child: Child, tree: Option<Tree>) -> Self {
        ChildGuard {
            child,
            tree,
            armed: true,
        }
    }

    /// The child, and its tree.
    pub(crate) fn parts(&mut self) -> (&mut Child, Option<&Tree>) {
        (&mut self.child, self.tree.as_ref())
    }

    /// The job ended properly: its child has been reaped.
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }

    /// What the job used, once its tree is empty.
    pub(crate) fn accounting(&mut self) -> Accounting {
        self.tree.as_mut().map(Tree::accounting).unwrap_or_default()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        match &self.tree {
            Some(tree) => tree.kill(),
            None => drop(self.child.start_kill()),
        }
        // The hard stop is prompt; without a runtime to reap it, the child would stay a zombie.
        let deadline = std::time::Instant::now() + REAP_BOUND;
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        // And the rest of its tree, which may have lost its parent only now.
        if let Some(tree) = &self.tree {
            while tree.is_alive_now() && std::time::Instant::now() < deadline {
                tree.kill();
                std::thread::sleep(Duration::from_millis(1));
            }
            tree.reap_ended();
        }
    }
}
