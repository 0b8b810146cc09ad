//! Linux: a process started straight into a cgroup of its own, at `posix_spawn`'s speed.
//!
//! `clone3` with `CLONE_INTO_CGROUP` places the child in its cgroup as it is created, so not even
//! its first instruction runs outside it; `CLONE_VM | CLONE_VFORK` is how `posix_spawn` avoids
//! copying the parent's page tables (a `fork` costs in proportion to the parent's memory:
//! `notes/native-spawn.md`); `CLONE_PIDFD` gives the pool a handle to wait on that no pid reuse
//! can confuse. Moving a running process into a cgroup instead would cost 150–230 µs here
//! (the kernel's cgroup migration lock), and leave it a moment outside.
//!
//! The child shares the parent's memory until it calls `execve`, on a stack of its own: it
//! runs only what [`Plan`] prepared (no allocation, no lock), as glibc's `posix_spawn` does.
#![allow(unsafe_code)]
// clone3 has no safe wrapper: its child runs on a stack of our own.
// The trampoline is written for x86_64 and aarch64; elsewhere tokio starts jobs.
#![cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

const CLONE_VM: u64 = 0x100;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_PIDFD: u64 = 0x1000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
const SYS_CLONE3: i64 = 435;
/// The shell a file without a `#!` line is given to.
const SH: &std::ffi::CStr = c"/bin/sh";

/// The kernel's `struct clone_args` (version 2, with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Everything the child does between `clone3` and `execve`, prepared by the parent.
#[repr(C)]
struct Plan {
    /// The child's stdin, stdout and stderr: each 3 or above (see [`above_stdio`]).
    stdio: [RawFd; 3],
    /// Where to `chdir`, or null.
    cwd: *const libc::c_char,
    /// The paths to try `execve` on, in order, null-terminated (the `PATH` lookup).
    candidates: *const *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    /// `/bin/sh`, a slot for the program's path, then the arguments: what a file without a
    /// `#!` line is run with (`ENOEXEC`), as `execvp` does.
    sh_argv: *mut *const libc::c_char,
    /// A v1 memory cgroup's `cgroup.procs` for the child to join (writing `0`), or -1.
    join: RawFd,
    /// Set by the child when it could not start the program: the `errno` to report.
    errno: i32,
    /// Set by the child when it could not join its memory cgroup.
    join_failed: bool,
}

/// A program, its arguments and its environment, ready for [`spawn`].
pub(crate) struct Program {
    candidates: Vec<CString>,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: Option<CString>,
}

/// The stack the child runs on until `execve`: its size, and its alignment's unit.
const STACK_WORDS: usize = 4096;
type StackWord = u128;

impl Program {
    /// Prepares `program` with `args`, the environment `env` (complete: what the child sees)
    /// and a working directory. The program is looked up in the child's `PATH` unless it
    /// holds a `/`.
    pub(crate) fn new(
        program: &OsStr,
        args: &[OsString],
        env: &[(OsString, OsString)],
        cwd: Option<&Path>,
    ) -> io::Result<Program> {
        let c = |s: &[u8], what: &str| {
            CString::new(s).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{what} holds a NUL byte: {}", String::from_utf8_lossy(s)),
                )
            })
        };
        let mut argv = Vec::with_capacity(args.len() + 1);
        argv.push(c(program.as_bytes(), "the program")?);
        for arg in args {
            argv.push(c(arg.as_bytes(), "an argument")?);
        }
        let mut envp = Vec::with_capacity(env.len());
        for (key, value) in env {
            let mut pair = Vec::with_capacity(key.len() + value.len() + 1);
            pair.extend_from_slice(key.as_bytes());
            pair.push(b'=');
            pair.extend_from_slice(value.as_bytes());
            envp.push(c(&pair, "an environment variable")?);
        }
        let path = env
            .iter()
            .rfind(|(key, _)| key == "PATH")
            .map(|(_, value)| value.as_bytes());
        let candidates = candidates(program.as_bytes(), path)
            .into_iter()
            .map(|candidate| c(&candidate, "the program"))
            .collect::<io::Result<_>>()?;
        let cwd = cwd
            .map(|dir| c(dir.as_os_str().as_bytes(), "the working directory"))
            .transpose()?;
        Ok(Program {
            candidates,
            argv,
            envp,
            cwd,
        })
    }
}

/// The paths `execve` is tried on: the program itself if it names a path, else each directory
/// of `PATH` (an empty entry is the working directory), as `execvp` does; without `PATH`,
/// glibc's default.
fn candidates(program: &[u8], path: Option<&[u8]>) -> Vec<Vec<u8>> {
    if program.is_empty() || program.contains(&b'/') {
        return vec![program.to_vec()];
    }
    path.unwrap_or(b"/bin:/usr/bin")
        .split(|&b| b == b':')
        .map(|dir| {
            let dir = if dir.is_empty() { &b"."[..] } else { dir };
            let mut full = Vec::with_capacity(dir.len() + 1 + program.len());
            full.extend_from_slice(dir);
            full.push(b'/');
            full.extend_from_slice(program);
            full
        })
        .collect()
}

/// `fd`, or a duplicate of it numbered 3 or above (close-on-exec), so that putting the child's
/// stdin, stdout and stderr in place never overwrites one still to be placed.
pub(crate) fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on an fd we own returns a new fd, which we then own.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` was just returned by fcntl and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Starts `program` with `stdio` as its stdin, stdout and stderr (each 3 or above: see
/// [`above_stdio`]), in a process group of its own, in the cgroup `cgroup` if given. Returns
/// its pid and a pidfd. `join`, if given, is a v1 memory cgroup's `cgroup.procs`, which the
/// child joins before `execve`. Fails with `ENOSYS` on kernels before 5.3 (no `clone3`) and
/// with the reason the program could not be started otherwise (`ENOENT`, `EACCES`, ...).
pub(crate) fn spawn(
    program: &Program,
    stdio: [BorrowedFd<'_>; 3],
    cgroup: Option<BorrowedFd<'_>>,
    join: Option<BorrowedFd<'_>>,
) -> io::Result<(i32, OwnedFd)> {
    let mut candidates: Vec<*const libc::c_char> =
        program.candidates.iter().map(|c| c.as_ptr()).collect();
    candidates.push(ptr::null());
    let mut argv: Vec<*const libc::c_char> = program.argv.iter().map(|c| c.as_ptr()).collect();
    argv.push(ptr::null());
    let mut envp: Vec<*const libc::c_char> = program.envp.iter().map(|c| c.as_ptr()).collect();
    envp.push(ptr::null());
    let mut sh_argv: Vec<*const libc::c_char> = Vec::with_capacity(argv.len() + 1);
    sh_argv.push(SH.as_ptr());
    sh_argv.push(ptr::null());
    sh_argv.extend_from_slice(&argv[1..]);
    let mut plan = Plan {
        stdio: stdio.map(|fd| fd.as_raw_fd()),
        cwd: program.cwd.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
        candidates: candidates.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        sh_argv: sh_argv.as_mut_ptr(),
        join: join.map_or(-1, |fd| fd.as_raw_fd()),
        errno: 0,
        join_failed: false,
    };
    let mut stack: Vec<StackWord> = Vec::with_capacity(STACK_WORDS);
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: CLONE_VM | CLONE_VFORK | CLONE_PIDFD,
        pidfd: &raw mut pidfd as u64,
        exit_signal: libc::SIGCHLD as u64,
        stack: stack.as_mut_ptr() as u64,
        stack_size: (STACK_WORDS * size_of::<StackWord>()) as u64,
        ..CloneArgs::default()
    };
    if let Some(cgroup) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = cgroup.as_raw_fd() as u64;
    }

    // No signal handler may run in the child while it shares our memory: all blocked here, and
    // the child resets every handler before unblocking.
    // SAFETY: plain libc calls on local, initialised signal sets.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // SAFETY: `args` describes a stack of our own for the child, which runs `child_main` on it
    // with `plan` (alive until clone3 returns: the parent is suspended until the child execs or
    // exits) and never returns.
    let result = unsafe { clone3(&mut args, &raw mut plan) };
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut()) };
    drop(stack);
    if result < 0 {
        return Err(io::Error::from_raw_os_error(-result as i32));
    }
    let pid = result as i32;
    // SAFETY: the kernel wrote a new pidfd for the child, which we now own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    // SAFETY: the child wrote `errno` before exiting, and has exited or exec'd by now.
    let errno = unsafe { ptr::read_volatile(&raw const plan.errno) };
    if errno != 0 {
        // The child has exited (127): reaped here, it is never seen again.
        let _ = rustix::process::waitid(
            rustix::process::WaitId::PidFd(pidfd.as_fd_borrowed()),
            rustix::process::WaitIdOptions::EXITED,
        );
        let error = io::Error::from_raw_os_error(errno);
        // SAFETY: as for `errno`.
        if unsafe { ptr::read_volatile(&raw const plan.join_failed) } {
            return Err(io::Error::new(
                error.kind(),
                format!("cannot join the job's memory cgroup: {error}"),
            ));
        }
        return Err(error);
    }
    Ok((pid, pidfd))
}

trait Borrowed {
    fn as_fd_borrowed(&self) -> BorrowedFd<'_>;
}

impl Borrowed for OwnedFd {
    fn as_fd_borrowed(&self) -> BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self)
    }
}

/// `clone3(args)`: in the parent, the child's pid or `-errno`; the child calls
/// `child_main(plan)` on its own stack and never returns here.
#[cfg(target_arch = "x86_64")]
unsafe fn clone3(args: *mut CloneArgs, plan: *mut Plan) -> i64 {
    let result: i64;
    // SAFETY: the caller's contract; the child starts on the new stack (the kernel sets its
    // stack pointer to stack + stack_size, 16-byte aligned) and jumps to child_main at once.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") SYS_CLONE3 => result,
            in("rdi") args,
            in("rsi") size_of::<CloneArgs>(),
            in("r12") plan,
            in("r13") child_main as extern "C" fn(*mut Plan) -> !,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    result
}

/// `clone3(args)`: in the parent, the child's pid or `-errno`; the child calls
/// `child_main(plan)` on its own stack and never returns here.
#[cfg(target_arch = "aarch64")]
unsafe fn clone3(args: *mut CloneArgs, plan: *mut Plan) -> i64 {
    let result: i64;
    // SAFETY: as on x86_64.
    unsafe {
        std::arch::asm!(
            "svc 0",
            "cbnz x0, 2f",
            "mov x29, xzr",
            "mov x0, x20",
            "blr x21",
            "brk #0",
            "2:",
            in("x8") SYS_CLONE3,
            inlateout("x0") args => result,
            in("x1") size_of::<CloneArgs>(),
            in("x20") plan,
            in("x21") child_main as extern "C" fn(*mut Plan) -> !,
            lateout("x30") _,
        );
    }
    result
}

/// Whether this architecture has the `clone3` trampoline: elsewhere jobs are started by tokio
/// and no cgroup is used.
pub(crate) const SUPPORTED: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// Whether jobs can be started with [`spawn`] here; `Err` says why not. The trampoline must be
/// written for this architecture, the kernel must have `clone3` and `waitid` on a pidfd
/// (Linux 5.4), and no seccomp filter may refuse `clone3` (older container runtimes do).
pub(crate) fn available() -> Result<(), &'static str> {
    static AVAILABLE: std::sync::OnceLock<Result<(), &'static str>> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        if !SUPPORTED {
            return Err("starting a process with clone3 is not written for this architecture");
        }
        if !super::cgroup::kernel_at_least(5, 4) {
            return Err("the kernel is older than 5.4 (no clone3 and waitid on a pidfd)");
        }
        // SAFETY: clone3 with no arguments fails at once, with EINVAL where the kernel has it
        // and lets it through; nothing is created.
        let result =
            unsafe { libc::syscall(SYS_CLONE3 as libc::c_long, ptr::null::<CloneArgs>(), 0usize) };
        match (result, io::Error::last_os_error().raw_os_error()) {
            (-1, Some(libc::EINVAL)) => Ok(()),
            _ => Err("clone3 is refused here (a seccomp filter?)"),
        }
    })
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
unsafe fn clone3(_args: *mut CloneArgs, _plan: *mut Plan) -> i64 {
    -i64::from(libc::ENOSYS)
}

/// The child, between `clone3` and `execve`: async-signal-safe calls only, on memory the parent
/// prepared.
extern "C" fn child_main(plan: *mut Plan) -> ! {
    // SAFETY: `plan` points at the parent's Plan, alive and untouched while the parent waits
    // (CLONE_VFORK); every call below is a plain system call wrapper.
    unsafe {
        let plan = &mut *plan;
        // Into the memory cgroup before anything runs that could start another process, and
        // before its descriptor could be overwritten by the stdio about to be placed.
        if plan.join >= 0 && libc::write(plan.join, c"0".as_ptr().cast(), 1) < 0 {
            plan.join_failed = true;
            fail(plan);
        }
        for (target, &source) in (0..).zip(plan.stdio.iter()) {
            if libc::dup2(source, target) < 0 {
                fail(plan);
            }
        }
        if libc::setpgid(0, 0) < 0 {
            fail(plan);
        }
        // Handlers are the parent's code: every handled signal back to its default (ignored
        // ones stay ignored, as across any exec), SIGPIPE too (Rust programs ignore it), and
        // nothing blocked.
        let mut action: libc::sigaction = std::mem::zeroed();
        for signal in 1..libc::SIGRTMAX() + 1 {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            if libc::sigaction(signal, ptr::null(), &mut action) == 0
                && (signal == libc::SIGPIPE
                    || (action.sa_sigaction != libc::SIG_IGN
                        && action.sa_sigaction != libc::SIG_DFL))
            {
                action.sa_sigaction = libc::SIG_DFL;
                action.sa_flags = 0;
                libc::sigaction(signal, &action, ptr::null_mut());
            }
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, ptr::null_mut());
        if !plan.cwd.is_null() && libc::chdir(plan.cwd) < 0 {
            fail(plan);
        }
        let mut errno = libc::ENOENT;
        let mut denied = false;
        let mut candidate = plan.candidates;
        while !(*candidate).is_null() {
            libc::execve(*candidate, plan.argv, plan.envp);
            if *libc::__errno_location() == libc::ENOEXEC {
                // A script without `#!`: the shell runs it, as execvp does.
                *plan.sh_argv.add(1) = *candidate;
                libc::execve(SH.as_ptr(), plan.sh_argv, plan.envp);
            }
            match *libc::__errno_location() {
                // As execvp: try the next directory.
                libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
                libc::EACCES => denied = true,
                other => {
                    errno = other;
                    break;
                }
            }
            candidate = candidate.add(1);
        }
        plan.errno = if denied && errno == libc::ENOENT {
            libc::EACCES
        } else {
            errno
        };
        libc::_exit(127)
    }
}

/// Reports the current `errno` to the parent and exits.
unsafe fn fail(plan: &mut Plan) -> ! {
    // SAFETY: see child_main.
    unsafe {
        plan.errno = (*libc::__errno_location()).max(1);
        libc::_exit(127)
    }
}

#[cfg(test)]
mod tests {
    use super::candidates;

    #[test]
    fn a_path_is_tried_as_it_is_and_a_name_in_each_directory() {
        assert_eq!(candidates(b"./x", Some(b"/bin")), vec![b"./x".to_vec()]);
        assert_eq!(
            candidates(b"ls", Some(b"/a::/b")),
            vec![b"/a/ls".to_vec(), b"./ls".to_vec(), b"/b/ls".to_vec()]
        );
        assert_eq!(
            candidates(b"ls", None),
            vec![b"/bin/ls".to_vec(), b"/usr/bin/ls".to_vec()]
        );
    }
}
