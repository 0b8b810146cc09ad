//! How the pool holds a job's whole tree on this system, and what holds it when this process
//! itself ends.

use std::path::PathBuf;

/// How each job's (and each native worker's) processes are held, so that every one of them is
/// ended with the job: [`NativeSpawner::containment`](crate::NativeSpawner::containment) says
/// which is in force. None needs configuration.
///
/// ```
/// use process_pool::{Containment, NativeSpawner};
///
/// match NativeSpawner::new().containment() {
///     Containment::Cgroup { dir } => println!("each job in a cgroup under {}", dir.display()),
///     Containment::Subreaper { why } => println!("no cgroup ({why}): a child subreaper"),
///     other => println!("{other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Containment {
    /// Linux, where the pool can make a cgroup v2 (root, or a delegated subtree): each job runs
    /// in a cgroup of its own under `dir`, from its first instruction (`clone3` with
    /// `CLONE_INTO_CGROUP`). A stop ends everything in it (`cgroup.kill`), wherever it went
    /// (`setsid`, a daemon's double fork); a job that exits leaving processes in it has them
    /// ended. If this process dies, a guard kills `dir` whole.
    Cgroup {
        /// The pool's cgroup directory, parent of one cgroup per running job.
        dir: PathBuf,
    },
    /// Linux without a cgroup the pool can make: the pool's process is a child subreaper, so a
    /// job's descendant that left its process group and lost its parent becomes the pool's
    /// child, found by the job's marker in its environment (`PROCESS_POOL_JOB`) and ended with
    /// the job. A descendant that also clears its environment is not found. If this process
    /// dies, a guard kills every process carrying its marker.
    Subreaper {
        /// Why no cgroup is used.
        why: String,
    },
    /// macOS: the job's process group, and what libproc finds left in it.
    ProcessGroup,
    /// Windows: a Job Object per job (`JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`).
    JobObject,
}

/// Hands `fd` to a guard process that outlives this one and closes it only once every job
/// started by a [`NativeSpawner`](crate::NativeSpawner) in this process has been ended, after
/// this process has ended (however it ended: SIGKILL, the OOM killer, a crash). Whoever reads
/// the other end of `fd` sees it close only when this process's jobs are gone: a Slurm agent
/// hands over its connection to the pool, so that a lost agent's jobs are dead before the
/// pool answers or retries them. Linux only: elsewhere, `Unsupported`.
#[cfg(unix)]
pub fn hold_until_jobs_end(fd: std::os::fd::OwnedFd) -> std::io::Result<()> {
    crate::platform::hold_until_jobs_end(fd)
}
