//! Linux: how a job is held (a cgroup of its own, or the subreaper mode with a marker), how it
//! is started (`clone`), waited on (`process`) and outlived (`guard`), and the process table
//! and resident sets read from `/proc`.

/// The fields of `/proc/<pid>/stat` after the parenthesised command name (which may hold
/// spaces): state, ppid, pgrp, ... (`proc(5)`'s third field on).
fn stat_fields(pid: impl std::fmt::Display) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Whether a `stat_fields` state is a process that has ended (a zombie, or dead).
fn ended(state: &str) -> bool {
    matches!(state, "Z" | "X")
}

/// Whether `/proc` shows a live (not zombie) process in group `pgid`; `None` without `/proc`.
pub(super) fn live_member(pgid: i32) -> Option<bool> {
    let entries = std::fs::read_dir("/proc").ok()?;
    let pgid = pgid.to_string();
    let live = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .any(|pid| {
            stat_fields(pid).is_some_and(|fields| {
                fields.get(2) == Some(&pgid) && fields.first().is_some_and(|s| !ended(s))
            })
        });
    Some(live)
}

/// The resident set of `pid`, from `/proc/<pid>/statm`.
pub(super) fn resident_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * rustix::param::page_size() as u64)
}

pub(crate) mod cgroup;
pub(crate) mod clone;
mod guard;
mod memory;
pub(crate) mod process;

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::OnceLock;

use super::Accounting;
use super::command::{Child, ChildOutput, ChildStdin, Command, Io};
use cgroup::{Cgroup, Cgroups};

/// The environment variable that marks a job's processes where no cgroup holds them (the
/// subreaper mode): `PROCESS_POOL_JOB=<pool pid>.<start time>`, inherited by every descendant
/// that keeps its environment.
pub(crate) const MARKER: &str = "PROCESS_POOL_JOB";

/// Starts `command` with `clone3` in a process group of its own, and in `cgroup` if given.
fn spawn_own(command: &mut Command, cgroup: Option<&Cgroup>) -> io::Result<(Child, u32)> {
    let program = clone::Program::new(
        &command.program,
        &command.args,
        &command.environment(),
        command.cwd.as_deref(),
    )?;
    let stdio = std::mem::replace(&mut command.stdio, [Io::Null, Io::Null, Io::Null]);
    let mut ours: [Option<OwnedFd>; 3] = [None, None, None];
    let mut theirs: Vec<OwnedFd> = Vec::with_capacity(3);
    for (i, io) in stdio.into_iter().enumerate() {
        let fd = match io {
            Io::Null => null()?.try_clone()?,
            Io::Piped => {
                let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
                let (child, pool) = if i == 0 { (read, write) } else { (write, read) };
                // The pool's end is read and written through the runtime's reactor.
                rustix::io::ioctl_fionbio(&pool, true)?;
                ours[i] = Some(pool);
                child
            }
            Io::Given(fd) => fd,
        };
        theirs.push(clone::above_stdio(fd)?);
    }
    let (pid, pidfd) = clone::spawn(
        &program,
        [theirs[0].as_fd(), theirs[1].as_fd(), theirs[2].as_fd()],
        cgroup.map(Cgroup::fd),
        cgroup.and_then(Cgroup::join_file),
    )?;
    drop(theirs);
    let process = match process::Process::new(pid, pidfd, command.kill_on_drop) {
        Ok(process) => process,
        Err(error) => {
            let _ = rustix::process::kill_process_group(
                rustix::process::Pid::from_raw(pid).expect("a child's pid"),
                rustix::process::Signal::KILL,
            );
            return Err(error);
        }
    };
    let [stdin, stdout, stderr] = ours;
    let stdin = stdin
        .map(tokio::net::unix::pipe::Sender::from_owned_fd_unchecked)
        .transpose()?
        .map(|p| Box::pin(p) as ChildStdin);
    let reader = |fd: Option<OwnedFd>| -> io::Result<Option<ChildOutput>> {
        Ok(fd
            .map(tokio::net::unix::pipe::Receiver::from_owned_fd_unchecked)
            .transpose()?
            .map(|p| Box::pin(p) as ChildOutput))
    };
    let child = Child::from_own(process, (stdin, reader(stdout)?, reader(stderr)?));
    Ok((child, pid as u32))
}

/// `/dev/null`, opened once.
fn null() -> io::Result<&'static OwnedFd> {
    static NULL: OnceLock<OwnedFd> = OnceLock::new();
    if let Some(fd) = NULL.get() {
        return Ok(fd);
    }
    let fd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let fd = clone::above_stdio(fd.into())?;
    Ok(NULL.get_or_init(|| fd))
}

/// Starts, once per process, the guard that ends this process's jobs when it ends (see
/// [`guard`]): those in its cgroups and those carrying its marker.
pub(super) fn ensure_guard() {
    static GUARD: OnceLock<()> = OnceLock::new();
    GUARD.get_or_init(|| {
        if let Err(error) = guard::start(guarded(), marker_line(), None) {
            tracing::warn!(%error, "cannot start the guard that ends jobs if this process dies");
        }
    });
}

/// How jobs are held, with cgroups allowed or not.
pub(crate) fn containment(cgroups: bool) -> crate::Containment {
    // Asking may make the pool's cgroup directory: its guard removes it when this process ends.
    ensure_guard();
    match Cgroups::get() {
        Ok(made) if cgroups => crate::Containment::Cgroup {
            dir: made.dir().to_owned(),
        },
        Ok(_) => crate::Containment::Subreaper {
            why: "cgroups were turned off for this spawner".into(),
        },
        Err(why) => crate::Containment::Subreaper { why: why.into() },
    }
}

/// Hands `fd` to a guard that closes it only once every job of this process has been ended,
/// after this process has ended.
pub(crate) fn hold_until_jobs_end(fd: OwnedFd) -> io::Result<()> {
    guard::start(guarded(), marker_line(), Some(fd))
}

/// The pool's cgroup directory and its v1 memory directory, if any: what a guard removes.
fn guarded() -> (
    Option<&'static std::path::Path>,
    Option<&'static std::path::Path>,
) {
    match Cgroups::get() {
        Ok(cgroups) => (
            Some(cgroups.dir()),
            cgroups.memory().ok().and_then(memory::Memory::v1_dir),
        ),
        Err(_) => (None, None),
    }
}

/// Whether a job's memory can be limited; `Err` says why not.
pub(crate) fn check_memory_limit(cgroups: bool) -> Result<(), String> {
    if !cgroups {
        return Err(
            "a memory limit needs a cgroup per job, and this spawner was made \
                    `without_cgroups`"
                .into(),
        );
    }
    let made = Cgroups::get().map_err(|why| format!("no cgroup for jobs: {why}"))?;
    made.memory()
        .map(drop)
        .map_err(|why| format!("no memory cgroup for jobs: {why}"))
}

/// `PROCESS_POOL_JOB=<pid>.<start>`: this process's jobs' marker, unique on this machine.
pub(crate) fn marker_line() -> &'static str {
    static LINE: OnceLock<String> = OnceLock::new();
    LINE.get_or_init(|| format!("{MARKER}={}", marker_value()))
}

/// The marker's value: this process's pid and start time (pids are reused; the pair is not).
pub(crate) fn marker_value() -> &'static str {
    static VALUE: OnceLock<String> = OnceLock::new();
    VALUE.get_or_init(|| {
        // proc(5)'s 22nd field, the start time.
        let start = stat_fields("self")
            .and_then(|fields| fields.get(19).cloned())
            .unwrap_or_default();
        format!("{}.{start}", std::process::id())
    })
}

/// How a Linux job is held beyond its process group.
#[derive(Debug)]
pub(crate) enum Hold {
    /// In a cgroup of its own.
    Cgroup(Cgroup),
    /// Marked with this `NAME=value` line in its environment; the pool is a child subreaper, so
    /// a marked process whose parent died is the pool's child.
    Marker(String),
}

/// A Linux job about to start: started into its cgroup already, or marked for tokio to start.
pub(crate) enum Prepared {
    Started(Box<Child>, Hold, u32),
    Marked(Hold),
}

/// Starts `command` into a cgroup of its own if `cgroups` allows and the system has them;
/// otherwise marks it, and makes this process a child subreaper. Started with `clone3` where
/// the kernel has it (5.3), else left for tokio to start.
pub(crate) fn prepare(
    command: &mut Command,
    cgroups: bool,
    max_memory: Option<u64>,
) -> io::Result<Prepared> {
    if cgroups && let Ok(cgroups) = Cgroups::get() {
        ensure_guard();
        let cgroup = cgroups.take(max_memory)?;
        let (child, pid) = spawn_own(command, Some(&cgroup))?;
        return Ok(Prepared::Started(
            Box::new(child),
            Hold::Cgroup(cgroup),
            pid,
        ));
    }
    // The guard first: it must be init's child, not this subreaper's.
    ensure_guard();
    subreaper();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let value = format!("{}.{n}", marker_value());
    command.env(MARKER, &value);
    let hold = Hold::Marker(format!("{MARKER}={value}"));
    if clone::available().is_ok() {
        let (child, pid) = spawn_own(command, None)?;
        return Ok(Prepared::Started(Box::new(child), hold, pid));
    }
    Ok(Prepared::Marked(hold))
}

/// Makes this process a child subreaper, once: what leaves a job's group and loses its parent
/// becomes this process's child, where [`orphans`] finds it, instead of init's.
fn subreaper() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if let Err(error) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
            tracing::warn!(%error, "cannot become a child subreaper");
        }
    });
}

impl Hold {
    /// `signal` to everything held: the cgroup's members, or the job's marked orphans (`pgid`
    /// is the job's process group, whose leader is never taken for an orphan).
    pub(crate) fn signal(&self, signal: rustix::process::Signal, pgid: rustix::process::Pid) {
        match self {
            Hold::Cgroup(cgroup) => cgroup.signal(signal),
            Hold::Marker(line) => {
                for pid in orphans(line, pgid) {
                    let _ = rustix::process::kill_process(pid, signal);
                }
            }
        }
    }

    /// The hard stop of what the group's SIGKILL does not reach: the cgroup, or (the subreaper
    /// mode) the job's processes that are this process's orphans by now. Whoever stops a job
    /// looks again until the tree is empty: more orphans come as their parents die.
    pub(crate) fn kill(&self, pgid: rustix::process::Pid) {
        match self {
            Hold::Cgroup(cgroup) => cgroup.kill(),
            Hold::Marker(line) => {
                for pid in orphans(line, pgid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
    }

    /// In the subreaper mode, once no process of the job is alive (its first process reaped):
    /// reaps every zombie of the job's group that is this process's child, asking the kernel
    /// by group, which never misses one (the children list that [`orphans`] reads can miss a
    /// process while it is being reparented: proc(5)). Not before: the group's leader is the
    /// job's first process, whose pidfd the job waits on.
    pub(crate) fn reap_group(&self, pgid: rustix::process::Pid) {
        if let Hold::Marker(_) = self {
            while let Ok(Some((pid, _))) =
                rustix::process::waitpgid(pgid, rustix::process::WaitOptions::NOHANG)
            {
                adopted().remove(&pid.as_raw_nonzero().get());
            }
        }
    }

    /// What the job used and whether it went over its memory limit, once its tree is empty;
    /// nothing is known of it in the subreaper mode.
    pub(crate) fn accounting(&mut self) -> Accounting {
        match self {
            Hold::Cgroup(cgroup) => cgroup.accounting(),
            Hold::Marker(_) => Accounting::default(),
        }
    }

    /// `Some` where the hold knows better than the group: the cgroup's, or a marked orphan.
    pub(crate) fn is_alive(&self, pgid: rustix::process::Pid) -> Option<bool> {
        match self {
            Hold::Cgroup(cgroup) => Some(cgroup.populated()),
            Hold::Marker(line) => (!orphans(line, pgid).is_empty()).then_some(true),
        }
    }
}

/// This process's live children whose environment holds `line`: a job's descendants that left
/// its group and lost their parent (never the job's first process, `pgid`). Also reaps the
/// zombies among this process's children that are surely the job's: members of its group
/// other than its first process (whose pidfd the job waits on), and orphans seen alive with
/// its marker before. Nothing else is reaped: a zombie's environment cannot be read, and the
/// program's own children (std's, tokio's) are theirs to reap.
///
/// An orphan is given to a subreaper's first live thread, its main thread here (a Rust program
/// ends when its main thread does): only that thread's children are read, which in a
/// multi-threaded runtime are the orphans alone (jobs are started from the runtime's threads).
fn orphans(line: &str, pgid: rustix::process::Pid) -> Vec<rustix::process::Pid> {
    let mut found = Vec::new();
    let me = std::process::id();
    let Ok(children) = std::fs::read_to_string(format!("/proc/self/task/{me}/children")) else {
        return found;
    };
    for pid in children
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        let Some(pid) = rustix::process::Pid::from_raw(pid) else {
            continue;
        };
        if pid == pgid {
            continue;
        }
        match environment(pid) {
            Some(environ) => {
                if environ
                    .split(|&b| b == 0)
                    .any(|entry| entry == line.as_bytes())
                {
                    adopted().insert(pid.as_raw_nonzero().get());
                    found.push(pid);
                }
            }
            // A zombie's environment reads empty (so does a process's that is exiting, not yet
            // a zombie); its process group can still be read. One of the job's that cannot be
            // reaped yet counts as still there, to be reaped at the next look.
            _ => {
                let known = adopted().contains(&pid.as_raw_nonzero().get());
                if (known || rustix::process::getpgid(Some(pid)).ok() == Some(pgid)) && !reap(pid) {
                    found.push(pid);
                }
            }
        }
    }
    found
}

/// The environment of `pid`, or `None` for a zombie (whose environment reads empty) or a process
/// gone. A live process reads empty too for the moment it spends in `execve` between its old
/// memory and its new: looked at again then, briefly.
fn environment(pid: rustix::process::Pid) -> Option<Vec<u8>> {
    let pid = pid.as_raw_nonzero();
    for _ in 0..100 {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        if !environ.is_empty() {
            return Some(environ);
        }
        let fields = stat_fields(pid)?;
        if fields.first().is_none_or(|state| ended(state)) {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_micros(50));
    }
    None
}

/// Orphans seen alive with a job's marker, reaped once they end.
fn adopted() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<i32>> {
    static ADOPTED: std::sync::Mutex<std::collections::BTreeSet<i32>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    ADOPTED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reaps `pid`, one of this process's children that is surely a job's, if it has ended; whether
/// it is gone (reaped now, or by someone else before).
fn reap(pid: rustix::process::Pid) -> bool {
    match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG) {
        Ok(None) => false,
        Ok(Some(_)) | Err(_) => {
            adopted().remove(&pid.as_raw_nonzero().get());
            true
        }
    }
}
