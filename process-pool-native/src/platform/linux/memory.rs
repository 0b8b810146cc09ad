//! Linux: a job's memory, limited and measured by a memory cgroup of its own.
//!
//! Where the cgroup2 hierarchy has the memory controller (a systemd system: the pool's cgroup
//! directory gets `+memory`), a job's cgroup is its memory cgroup too. Where the memory
//! controller is on a cgroup v1 hierarchy instead (a hybrid system, as on this project's
//! machine), the pool makes a directory of its own there too, with a memory cgroup per job
//! beside its cgroup2 one, which the job's first process joins before `execve` (everything it
//! starts is charged there with it). A stop still ends the job through its cgroup2 cgroup.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

/// Where the pool's jobs get their memory cgroups.
#[derive(Debug)]
pub(crate) enum Memory {
    /// In their cgroup2 cgroups, where the pool's directory has the memory controller.
    V2,
    /// In a cgroup v1 memory hierarchy, under the pool's directory `dir` there.
    V1 { dir: PathBuf },
}

impl Memory {
    /// Finds the memory controller for the pool whose cgroup2 directory is `v2_dir`; `Err`
    /// says why there is none.
    pub(crate) fn find(v2_dir: &Path, mountinfo: &str, own: &str) -> Result<Memory, String> {
        // Enabled for the pool's job cgroups where the pool's own cgroup has it to give.
        if std::fs::write(v2_dir.join("cgroup.subtree_control"), "+memory").is_ok() {
            return Ok(Memory::V2);
        }
        let Some(mount) = v1_memory_mount(mountinfo) else {
            return Err(
                "the memory controller is neither delegated to the pool's cgroup2 \
                        directory nor mounted as a cgroup v1 hierarchy"
                    .into(),
            );
        };
        let path = own
            .lines()
            .find_map(|line| {
                let (_, rest) = line.split_once(':')?;
                let (controllers, path) = rest.split_once(':')?;
                controllers
                    .split(',')
                    .any(|c| c == "memory")
                    .then_some(path)
            })
            .ok_or("this process is in no cgroup v1 memory cgroup")?;
        let name = v2_dir.file_name().ok_or("the pool's cgroup has no name")?;
        let dir = mount.join(path.trim_start_matches('/')).join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => Ok(Memory::V1 { dir }),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Memory::V1 { dir }),
            Err(e) => Err(format!(
                "cannot make a memory cgroup {}: {e}",
                dir.display()
            )),
        }
    }

    /// The pool's directory in the v1 hierarchy, which its guard removes.
    pub(crate) fn v1_dir(&self) -> Option<&Path> {
        match self {
            Memory::V2 => None,
            Memory::V1 { dir } => Some(dir),
        }
    }

    /// The memory cgroup for the job cgroup at `v2_job`: made, with no limit.
    pub(crate) fn make(&self, v2_job: &Path) -> io::Result<JobMemory> {
        let dir = match self {
            Memory::V2 => v2_job.to_owned(),
            Memory::V1 { dir } => {
                let dir = dir.join(v2_job.file_name().unwrap_or_default());
                match std::fs::create_dir(&dir) {
                    Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                        return Err(io::Error::new(
                            e.kind(),
                            format!("cannot make a memory cgroup {}: {e}", dir.display()),
                        ));
                    }
                    _ => dir,
                }
            }
        };
        let v1 = matches!(self, Memory::V1 { .. });
        // cgroup2's peak is reset for one open file (Linux 6.12): that file is kept for the
        // cgroup's life, so that each job's peak is its own.
        let peak = (!v1 && super::cgroup::kernel_at_least(6, 12))
            .then(|| {
                rustix::fs::open(
                    dir.join("memory.peak"),
                    OFlags::RDWR | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .ok()
            })
            .flatten();
        let mut memory = JobMemory {
            dir,
            v1,
            peak,
            limit: None,
            ooms: 0,
        };
        memory.ooms = memory.ooms().unwrap_or(0);
        Ok(memory)
    }
}

/// One job cgroup's memory: its limit as set, and its count of kills for memory at the end of
/// its last job.
#[derive(Debug)]
pub(crate) struct JobMemory {
    dir: PathBuf,
    v1: bool,
    /// cgroup2's `memory.peak`, open for its life (reset per job through it).
    peak: Option<OwnedFd>,
    limit: Option<u64>,
    ooms: u64,
}

impl JobMemory {
    /// Sets the limit for the next job (`None`: none).
    pub(crate) fn set_limit(&mut self, limit: Option<u64>) -> io::Result<()> {
        if limit == self.limit {
            return Ok(());
        }
        let file = |name: &str| self.dir.join(name);
        let result = if self.v1 {
            let value = limit.map_or_else(|| "-1".to_owned(), |b| b.to_string());
            // With swap, `memsw` (memory and swap) is held to the same limit, so that going
            // over it ends the job rather than swapping; it must stay at least the memory
            // limit, so it moves first when the limit rises.
            let memsw = file("memory.memsw.limit_in_bytes");
            let rising = match (limit, self.limit) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(new), Some(old)) => new > old,
            };
            if rising && memsw.exists() {
                std::fs::write(&memsw, &value)?;
            }
            std::fs::write(file("memory.limit_in_bytes"), &value)?;
            if !rising && memsw.exists() {
                std::fs::write(&memsw, &value)?;
            }
            Ok(())
        } else {
            let value = limit.map_or_else(|| "max".to_owned(), |b| b.to_string());
            // With swap, none for a limited job: going over the limit ends it rather than
            // swapping.
            let swap = file("memory.swap.max");
            if swap.exists() {
                std::fs::write(&swap, if limit.is_some() { "0" } else { "max" })?;
            }
            std::fs::write(file("memory.max"), value)
        };
        result.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot set the memory limit of {}: {e}", self.dir.display()),
            )
        })?;
        self.limit = limit;
        Ok(())
    }

    /// The limit as set.
    pub(crate) fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Whether a job joins it by moving into it (a v1 memory cgroup) rather than being started
    /// in it (cgroup2).
    pub(crate) fn joined_by_migration(&self) -> bool {
        self.v1
    }

    /// For a v1 memory cgroup, its `cgroup.procs` opened for writing: the job's first process
    /// writes `0` there to join it before `execve`. `None` in cgroup2, where the job's cgroup is
    /// its memory cgroup from its start.
    pub(crate) fn join_file(&self) -> io::Result<Option<OwnedFd>> {
        if !self.v1 {
            return Ok(None);
        }
        let path = self.dir.join("cgroup.procs");
        rustix::fs::open(&path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
            .map(Some)
            .map_err(|e| {
                let e = io::Error::from(e);
                io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display()))
            })
    }

    /// The most memory charged at once since the last [`finish`](Self::finish) (or since
    /// made), in bytes. In cgroup2 before Linux 6.12, `None`: its peak is the cgroup's whole
    /// life's, and the cgroup serves many jobs.
    pub(crate) fn peak(&self) -> Option<u64> {
        if self.v1 {
            return read_number(&self.dir.join("memory.max_usage_in_bytes"));
        }
        let fd = self.peak.as_ref()?;
        let mut buffer = [0u8; 32];
        let n = rustix::io::pread(fd, &mut buffer, 0).ok()?;
        std::str::from_utf8(&buffer[..n]).ok()?.trim().parse().ok()
    }

    /// Ends a job: whether the kernel killed any of its processes for memory meanwhile; the
    /// peak is reset for the next job (v1: to what is charged still, the page cache the job
    /// left).
    pub(crate) fn finish(&mut self) -> bool {
        if self.v1 {
            let _ = std::fs::write(self.dir.join("memory.max_usage_in_bytes"), "0");
        } else if let Some(fd) = &self.peak {
            let _ = rustix::io::write(fd, b"reset\n");
        }
        let ooms = self.ooms().unwrap_or(self.ooms);
        let killed = ooms > self.ooms;
        self.ooms = ooms;
        killed
    }

    /// How many processes the kernel has killed in it for memory: over its limit, or by the
    /// system's own OOM killer (a limited job killed by the latter is reported over its limit
    /// too: the kernel does not tell them apart here).
    fn ooms(&self) -> Option<u64> {
        let name = if self.v1 {
            "memory.oom_control"
        } else {
            "memory.events"
        };
        let text = std::fs::read_to_string(self.dir.join(name)).ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix("oom_kill "))?
            .trim()
            .parse()
            .ok()
    }

    /// Removes a v1 memory cgroup (a v2 one is the job cgroup itself); whether it is gone.
    pub(crate) fn remove(&self) -> bool {
        !self.v1 || std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists()
    }
}

/// A number in a cgroup file.
fn read_number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Where a cgroup v1 hierarchy with the memory controller is mounted.
fn v1_memory_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        let mut after = after.split_whitespace();
        let is_memory =
            after.next()? == "cgroup" && after.nth(1)?.split(',').any(|o| o == "memory");
        is_memory.then(|| before.split_whitespace().nth(4).map(PathBuf::from))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v1_memory_hierarchy_is_found_among_the_others() {
        let mountinfo = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        assert_eq!(
            v1_memory_mount(mountinfo),
            Some(PathBuf::from("/sys/fs/cgroup/memory"))
        );
        assert_eq!(
            v1_memory_mount("41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"),
            None
        );
    }
}
