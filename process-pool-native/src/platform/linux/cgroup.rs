//! Linux: a cgroup v2 per job, so that a job's every descendant is found and ended, even one
//! that left its process group (`setsid`, a daemon's double fork).
//!
//! The pool makes one directory of its own beside where its process is
//! (`<cgroup2 mount>/<its cgroup>/process-pool.<pid>`), with a cgroup per running job under it.
//! A job's cgroup is reused by the next job once it is empty (making and removing one costs
//! about 30 µs here; a job's whole start, about 250). A stop is `cgroup.kill` (Linux 5.14), or
//! freezing the cgroup and killing its members where that file is missing. Where no cgroup can
//! be made (not root nor delegated, no cgroup2 mount, a kernel before 5.7), [`Cgroups::get`]
//! says why and the pool falls back to the subreaper mode.
//!
//! A job's CPU time is its cgroup's `usage_usec` (`cpu.stat`, in every cgroup2 cgroup); its
//! memory is limited and measured by a memory cgroup ([`memory`](super::memory)) where the
//! system has the memory controller.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use process_pool_core::Usage;
use rustix::fs::{Mode, OFlags};
use rustix::process::{Pid, Signal};

use super::memory::{JobMemory, Memory};
use crate::platform::Accounting;

/// This process's cgroups for jobs: its directory and the job cgroups not in use.
#[derive(Debug)]
pub(crate) struct Cgroups {
    dir: PathBuf,
    /// Whether `cgroup.kill` exists (Linux 5.14).
    has_kill: bool,
    /// The memory controller, or why there is none.
    memory: Result<Memory, String>,
    free: Mutex<Free>,
}

#[derive(Debug, Default)]
struct Free {
    /// Empty job cgroups, ready for a job (opened only while in use, but for cgroup2's
    /// `memory.peak` on Linux 6.12, which each keeps open to reset its peak per job).
    ready: Vec<Slot>,
    /// Job cgroups that were killed: removed once empty, never reused. (A process started
    /// into a cgroup that was once killed is killed at birth on Linux 6.18 here: the kernel
    /// compares the cgroup's kill count with the parent's.)
    killed: Vec<Slot>,
    /// How many job cgroups have been made.
    made: u64,
}

/// A job cgroup, with what its last job left in its counters.
#[derive(Debug)]
struct Slot {
    path: PathBuf,
    /// `usage_usec` when its last job ended.
    cpu_usec: u64,
    memory: Option<JobMemory>,
}

impl Slot {
    /// Removes it (its memory cgroup first); whether it is gone.
    fn remove(&self) -> bool {
        let memory = self.memory.as_ref().is_none_or(JobMemory::remove);
        memory && (std::fs::remove_dir(&self.path).is_ok() || !self.path.exists())
    }
}

static CGROUPS: OnceLock<Result<Arc<Cgroups>, String>> = OnceLock::new();

impl Cgroups {
    /// This process's job cgroups, made on first use; `Err` says why there are none.
    pub(crate) fn get() -> Result<&'static Arc<Cgroups>, &'static str> {
        CGROUPS
            .get_or_init(|| {
                let made = Cgroups::make().map(Arc::new);
                match &made {
                    Ok(cgroups) => tracing::info!(dir = %cgroups.dir.display(), "each job runs in a cgroup of its own"),
                    Err(why) => tracing::info!(%why, "no cgroup for jobs: the pool is a child subreaper instead"),
                }
                made
            })
            .as_ref()
            .map_err(String::as_str)
    }

    fn make() -> Result<Cgroups, String> {
        if let Err(why) = super::clone::available() {
            return Err(why.to_owned());
        }
        if !kernel_at_least(5, 7) {
            return Err("the kernel is older than 5.7 (no clone3 into a cgroup)".into());
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
        let mount = cgroup2_mount(&mountinfo).ok_or("no cgroup2 file system is mounted")?;
        let own_all = std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
        let own = own_all
            .lines()
            .find_map(|line| line.strip_prefix("0::"))
            .ok_or("this process is in no cgroup v2")?;
        let base = mount.join(own.trim_start_matches('/'));
        let pid = std::process::id();
        let mut attempt = 0;
        let dir = loop {
            let dir = base.join(format!("process-pool.{pid}.{attempt}"));
            match std::fs::create_dir(&dir) {
                Ok(()) => break dir,
                // Left by an earlier process that had this pid.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => {
                    let _ = std::fs::remove_dir(&dir);
                    attempt += 1;
                }
                Err(e) => return Err(format!("cannot make a cgroup in {}: {e}", base.display())),
            }
        };
        let memory = Memory::find(&dir, &mountinfo, &own_all);
        if let Err(why) = &memory {
            tracing::info!(%why, "no memory cgroup for jobs: no memory limit nor peak");
        }
        Ok(Cgroups {
            has_kill: dir.join("cgroup.kill").exists(),
            dir,
            memory,
            free: Mutex::default(),
        })
    }

    /// The memory controller, or why there is none.
    pub(crate) fn memory(&self) -> Result<&Memory, &str> {
        self.memory.as_ref().map_err(String::as_str)
    }

    /// The pool's directory, parent of every job cgroup.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// A job cgroup with nothing in it, its memory held to `max_memory` (which the caller
    /// has checked the system can hold: see [`memory`](Self::memory)).
    ///
    /// In a cgroup v1 memory hierarchy, only a job with a limit joins its memory cgroup (and
    /// has its peak measured): joining is a cgroup migration, which costs about 130 µs here
    /// (the kernel's migration lock), half the cost of the whole start. In cgroup2 every job
    /// is in its memory cgroup from its start, at no cost.
    pub(crate) fn take(self: &Arc<Self>, max_memory: Option<u64>) -> io::Result<Cgroup> {
        let slot = self.slot()?;
        self.ready(slot, max_memory)
    }

    /// [`take`](Self::take) with `slot`: on an error the slot is removed, not leaked.
    fn ready(self: &Arc<Self>, mut slot: Slot, max_memory: Option<u64>) -> io::Result<Cgroup> {
        let measured = slot
            .memory
            .as_ref()
            .is_some_and(|memory| !memory.joined_by_migration() || max_memory.is_some());
        if measured
            && let Some(memory) = &mut slot.memory
            && let Err(error) = memory.set_limit(max_memory)
        {
            // A lower limit than what a reused cgroup still holds (the page cache its last
            // job left) is refused: a new cgroup then.
            self.retire(slot);
            slot = self.new_slot()?;
            let set = match slot.memory.as_mut() {
                Some(memory) => memory.set_limit(max_memory),
                None => Err(error),
            };
            if let Err(error) = set {
                self.retire(slot);
                return Err(error);
            }
        }
        let opened = (|| {
            let join = match &slot.memory {
                Some(memory) if measured => memory.join_file()?,
                _ => None,
            };
            let fd = rustix::fs::open(
                &slot.path,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            Ok::<_, io::Error>((join, fd))
        })();
        let (join, fd) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                self.retire(slot);
                return Err(error);
            }
        };
        Ok(Cgroup {
            slot: Some(slot),
            fd: Some(fd),
            join,
            measured,
            owner: Arc::downgrade(self),
            has_kill: self.has_kill,
            killed: AtomicBool::new(false),
            empty: AtomicBool::new(false),
        })
    }

    /// A free job cgroup, or a new one.
    fn slot(&self) -> io::Result<Slot> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        // Killed ones whose processes are gone by now are removed.
        free.killed
            .retain(|slot| !slot.remove() && populated(&slot.path) == Some(true));
        if let Some(ready) = free.ready.pop() {
            return Ok(ready);
        }
        drop(free);
        self.new_slot()
    }

    fn new_slot(&self) -> io::Result<Slot> {
        let path = {
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            free.made += 1;
            self.dir.join(format!("job{}", free.made))
        };
        std::fs::create_dir(&path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot make a cgroup {}: {e}", path.display()),
            )
        })?;
        let memory = match &self.memory {
            Ok(memory) => match memory.make(&path) {
                Ok(made) => Some(made),
                Err(error) => {
                    let _ = std::fs::remove_dir(&path);
                    return Err(error);
                }
            },
            Err(_) => None,
        };
        Ok(Slot {
            cpu_usec: cpu_usec(&path).unwrap_or(0),
            path,
            memory,
        })
    }

    /// Removes a slot, now or once its processes are gone.
    fn retire(&self, slot: Slot) {
        if !slot.remove() {
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            free.killed.push(slot);
        }
    }
}

/// One job's cgroup; back to the pool's free ones when dropped (once empty).
#[derive(Debug)]
pub(crate) struct Cgroup {
    slot: Option<Slot>,
    fd: Option<OwnedFd>,
    /// The v1 memory cgroup's `cgroup.procs`, which the job's first process joins.
    join: Option<OwnedFd>,
    /// Whether the job is in its memory cgroup (limited, measured).
    measured: bool,
    owner: Weak<Cgroups>,
    has_kill: bool,
    /// Set once killed: it is then removed instead of reused.
    killed: AtomicBool,
    /// Set once found empty after its job's first process was reaped.
    empty: AtomicBool,
}

impl Cgroup {
    /// The directory, for `CLONE_INTO_CGROUP`.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_ref().expect("held until dropped").as_fd()
    }

    /// The v1 memory cgroup's `cgroup.procs`, for the job's first process to join before
    /// `execve`; `None` where its cgroup is its memory cgroup too.
    pub(crate) fn join_file(&self) -> Option<BorrowedFd<'_>> {
        self.join.as_ref().map(AsFd::as_fd)
    }

    fn path(&self) -> &Path {
        &self.slot.as_ref().expect("held until dropped").path
    }

    /// What the job used, once its cgroup is empty (its counters are final then).
    pub(crate) fn accounting(&mut self) -> Accounting {
        let slot = self.slot.as_mut().expect("held until dropped");
        let cpu = cpu_usec(&slot.path);
        let cpu_time =
            cpu.map(|now| std::time::Duration::from_micros(now.saturating_sub(slot.cpu_usec)));
        slot.cpu_usec = cpu.unwrap_or(slot.cpu_usec);
        let Some(memory) = slot.memory.as_mut().filter(|_| self.measured) else {
            return Accounting {
                usage: Usage::new(cpu_time, None),
                out_of_memory: None,
            };
        };
        let peak = memory.peak();
        let killed = memory.finish();
        Accounting {
            usage: Usage::new(cpu_time, peak),
            out_of_memory: memory.limit().filter(|_| killed),
        }
    }

    /// Whether any process is in it.
    pub(crate) fn populated(&self) -> bool {
        // Unreadable (out of descriptors, say) counts as populated: nothing is reused on a guess.
        let populated = populated(self.path()).unwrap_or(true);
        // Once its job's first process is reaped, only the job's own processes could put
        // another process in it: found empty, it stays empty.
        if !populated {
            self.empty.store(true, Ordering::Relaxed);
        }
        populated
    }

    /// `signal` to every process in it.
    pub(crate) fn signal(&self, signal: Signal) {
        for pid in members(self.path()) {
            let _ = rustix::process::kill_process(pid, signal);
        }
    }

    /// SIGKILL to every process in it, including any it starts meanwhile.
    pub(crate) fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        kill(self.path(), self.has_kill);
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let (Some(fd), Some(slot)) = (self.fd.take(), self.slot.take()) else {
            return;
        };
        drop(self.join.take());
        let Some(owner) = self.owner.upgrade() else {
            return;
        };
        let empty = self.empty.load(Ordering::Relaxed) || populated(&slot.path) == Some(false);
        if !self.killed.load(Ordering::Relaxed) && empty {
            let mut free = owner.free.lock().unwrap_or_else(|e| e.into_inner());
            free.ready.push(slot);
            return;
        }
        // What the job left (a dropped job, say) is ended now; the cgroup is removed once empty.
        drop(fd);
        if !empty {
            kill(&slot.path, self.has_kill);
        }
        owner.retire(slot);
    }
}

/// SIGKILL to every process in the cgroup at `dir`, including any it starts meanwhile.
fn kill(dir: &Path, has_kill: bool) {
    if has_kill && write(&dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    // Before Linux 5.14: frozen, nothing in it can fork while its members are killed.
    let freeze = dir.join("cgroup.freeze");
    let _ = write(&freeze, "1");
    for _ in 0..3 {
        let pids = members(dir);
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
        }
    }
    let _ = write(&freeze, "0");
}

/// The CPU time used in the cgroup at `dir` since it was made, in µs.
fn cpu_usec(dir: &Path) -> Option<u64> {
    let stat = std::fs::read_to_string(dir.join("cpu.stat")).ok()?;
    stat.lines()
        .find_map(|line| line.strip_prefix("usage_usec "))?
        .trim()
        .parse()
        .ok()
}

/// `Some(true)` while a process is in the cgroup at `dir`; `None` if it cannot be read.
fn populated(dir: &Path) -> Option<bool> {
    let events = std::fs::read_to_string(dir.join("cgroup.events")).ok()?;
    events
        .lines()
        .find_map(|line| line.strip_prefix("populated "))
        .map(|n| n.trim() != "0")
}

/// The processes in the cgroup at `dir`.
fn members(dir: &Path) -> Vec<Pid> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|pid| Pid::from_raw(pid.trim().parse().ok()?))
        .collect()
}

fn write(path: &Path, what: &str) -> io::Result<()> {
    std::fs::write(path, what)
}

/// Where the cgroup2 file system is mounted, from `/proc/self/mountinfo`.
fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        (after.split_whitespace().next()? == "cgroup2")
            .then(|| before.split_whitespace().nth(4).map(PathBuf::from))?
    })
}

/// Whether the running kernel is at least `major.minor`.
pub(crate) fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = rustix::system::uname();
    let release = release.release().to_string_lossy();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let found = (
        parts.next().and_then(|p| p.parse::<u32>().ok()),
        parts.next().and_then(|p| p.parse::<u32>().ok()),
    );
    matches!(found, (Some(a), Some(b)) if (a, b) >= (major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cgroup2_mount_is_found_beside_v1_hierarchies() {
        let mountinfo = "\
30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
35 25 0:31 / /sys/fs/cgroup/unified rw,relatime shared:14 - cgroup2 cgroup2 rw
";
        assert_eq!(
            cgroup2_mount(mountinfo),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(cgroup2_mount("1 2 0:1 / / rw - ext4 /dev/vda rw\n"), None);
    }
}
