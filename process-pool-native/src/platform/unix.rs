//! Unix: a job's tree is a process group of its own, set by `posix_spawn` itself
//! (`Command::process_group(0)`), stopped with SIGTERM and SIGKILL to the group. On Linux it is
//! also a cgroup of its own where the pool can make one, which holds every descendant, even one
//! that left the group; where it cannot, the pool is a child subreaper and finds the job's
//! escaped descendants among its own children by their marker (see `linux`).

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::io;

use process_pool_core::backend::ExitStatus;
use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};

use super::command::{Child, Command};

#[cfg(target_os = "linux")]
use super::linux as system;
#[cfg(target_os = "macos")]
use super::macos as system;

/// A job's process group, whose id is the pid of the job's first process, and on Linux its
/// cgroup or its marker.
#[derive(Debug)]
pub(crate) struct Tree {
    pgid: Pid,
    #[cfg(target_os = "linux")]
    hold: system::Hold,
}

/// How jobs are held on Linux: `true` for a cgroup each where one can be made.
pub(crate) type Options = bool;

/// Starts `command` in a group of its own (and on Linux, a cgroup of its own where `cgroups`
/// allows one and the system has them).
pub(super) fn spawn(
    command: &mut Command,
    cgroups: Options,
    max_memory: Option<u64>,
) -> io::Result<(Child, Option<Tree>)> {
    #[cfg(target_os = "linux")]
    let hold = match system::prepare(command, cgroups, max_memory)? {
        system::Prepared::Started(child, hold, pid) => {
            let pgid = Pid::from_raw(pid as i32);
            return Ok((*child, pgid.map(|pgid| Tree { pgid, hold })));
        }
        system::Prepared::Marked(hold) => hold,
    };
    #[cfg(not(target_os = "linux"))]
    let _ = (cgroups, max_memory);
    let mut tokio = command.tokio_command();
    // A group of its own, set by posix_spawn itself: no `pre_exec`, which would force a fork()
    // whose cost grows with the parent's memory.
    tokio.process_group(0);
    let child = Child::from_tokio(tokio.spawn()?);
    let pgid = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .and_then(Pid::from_raw);
    Ok((
        child,
        pgid.map(|pgid| Tree {
            pgid,
            #[cfg(target_os = "linux")]
            hold,
        }),
    ))
}

/// How jobs are held here.
pub(super) fn containment(cgroups: Options) -> crate::Containment {
    #[cfg(target_os = "linux")]
    return system::containment(cgroups);
    #[cfg(not(target_os = "linux"))]
    {
        let _ = cgroups;
        crate::Containment::ProcessGroup
    }
}

/// Whether a job's memory can be limited; `Err` says why not.
pub(super) fn check_memory_limit(cgroups: Options) -> Result<(), String> {
    #[cfg(target_os = "linux")]
    return system::check_memory_limit(cgroups);
    #[cfg(not(target_os = "linux"))]
    {
        let _ = cgroups;
        Err(
            "a job's memory is limited on Linux only (a cgroup per job); macOS has no \
             per-job limit the pool can enforce"
                .into(),
        )
    }
}

/// See [`crate::hold_until_jobs_end`].
pub(super) fn hold_until_jobs_end(fd: std::os::fd::OwnedFd) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    return system::hold_until_jobs_end(fd);
    #[cfg(not(target_os = "linux"))]
    {
        drop(fd);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a guard that outlives the pool's process is written for Linux only",
        ))
    }
}

impl Tree {
    fn signal(&self, signal: Signal) {
        // ESRCH (the group is already gone) is the normal case after a clean exit.
        if let Err(error) = kill_process_group(self.pgid, signal)
            && error != rustix::io::Errno::SRCH
        {
            tracing::warn!(pgid = self.pgid.as_raw_nonzero().get(), %error, "cannot signal process group");
        }
        #[cfg(target_os = "linux")]
        self.hold.signal(signal, self.pgid);
    }

    /// SIGTERM to the group.
    pub(crate) fn polite_stop(&self) {
        self.signal(Signal::TERM);
    }

    /// SIGTERM to what is left of the group once its first process has been reaped: the group
    /// id stays the group's while it has members. Always sent.
    pub(crate) fn polite_stop_leftovers(&self) -> bool {
        self.polite_stop();
        true
    }

    /// Once nothing of the tree is alive (its first process reaped): reaps the zombies of the
    /// group that are this process's children (Linux's subreaper mode, which adopts them).
    pub(crate) fn reap_ended(&self) {
        #[cfg(target_os = "linux")]
        self.hold.reap_group(self.pgid);
    }

    /// What the job used (Linux, in a cgroup), once its tree is empty.
    pub(crate) fn accounting(&mut self) -> super::Accounting {
        #[cfg(target_os = "linux")]
        return self.hold.accounting();
        #[cfg(not(target_os = "linux"))]
        super::Accounting::default()
    }

    /// SIGKILL to the group (and on Linux, everything in the job's cgroup).
    pub(crate) fn kill(&self) {
        self.signal(Signal::KILL);
        #[cfg(target_os = "linux")]
        self.hold.kill(self.pgid);
    }

    /// [`is_alive`](Self::is_alive) on this thread, for a caller outside the runtime (a drop).
    pub(crate) fn is_alive_now(&self) -> bool {
        #[cfg(target_os = "linux")]
        if let Some(alive) = self.hold.is_alive(self.pgid) {
            return alive;
        }
        test_kill_process_group(self.pgid).is_ok()
            && live_member(self.pgid.as_raw_nonzero().get()).unwrap_or(true)
    }

    /// Whether any process of the group is still alive.
    ///
    /// Zombies do not count: they have ended and hold nothing open. They matter because a
    /// killed grandchild is an orphan whose zombie waits for init, and some inits reap slowly
    /// (seen here: over a second), which `kill(-pgid, 0)` alone would take for a live process.
    pub(crate) async fn is_alive(&self) -> bool {
        #[cfg(target_os = "linux")]
        if let Some(alive) = self.hold.is_alive(self.pgid) {
            return alive;
        }
        if test_kill_process_group(self.pgid).is_err() {
            return false;
        }
        // Listing the group's members reads the system's process table: off the runtime's
        // threads.
        let pgid = self.pgid.as_raw_nonzero().get();
        tokio::task::spawn_blocking(move || live_member(pgid))
            .await
            .ok()
            .flatten()
            .unwrap_or(true)
    }
}

/// Whether group `pgid` has a live (not zombie) member; `None` where the system cannot tell.
/// Only called after `kill(-pgid, 0)` found the group not empty, which is the rare path.
#[cfg(any(target_os = "linux", target_os = "macos"))]
fn live_member(pgid: i32) -> Option<bool> {
    system::live_member(pgid)
}

/// Elsewhere, a group that answers `kill(-pgid, 0)` counts as alive (its zombies too).
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn live_member(_pgid: i32) -> Option<bool> {
    None
}

/// Whether [`resident_bytes`] reads anything here.
#[cfg(any(target_os = "linux", target_os = "macos"))]
pub(super) const RESIDENT_SET: Result<(), &str> = Ok(());
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub(super) const RESIDENT_SET: Result<(), &str> = Err(std::env::consts::OS);

/// The resident set of `pid`, in bytes.
#[cfg(any(target_os = "linux", target_os = "macos"))]
pub(crate) fn resident_bytes(pid: u32) -> Option<u64> {
    system::resident_bytes(pid)
}

/// Not read on this system: a memory limit is refused when the pool is built.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub(crate) fn resident_bytes(_pid: u32) -> Option<u64> {
    None
}

/// The program to start: as it is, for `posix_spawn` to look up in `PATH`; any arguments go
/// as they are.
pub(crate) fn program<'a, A: AsRef<OsStr>>(
    program: &'a OsStr,
    _args: impl IntoIterator<Item = A>,
    _path: impl FnOnce() -> Option<OsString>,
) -> io::Result<Cow<'a, OsStr>> {
    Ok(Cow::Borrowed(program))
}

/// How a reaped process ended: its exit code, or the signal that killed it.
pub(crate) fn exit_status(status: std::process::ExitStatus) -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitStatus::Code(code),
        (None, Some(signal)) => ExitStatus::Signal(signal),
        // wait() reports neither only for stopped/continued children, which it is not asked for.
        (None, None) => ExitStatus::Code(-1),
    }
}
