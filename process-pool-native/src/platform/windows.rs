//! Windows: a job's tree is a Job Object of its own. The process is created suspended in a
//! new console process group, assigned to a new Job Object (which its children join by
//! themselves), then resumed: no child can be started before the job holds the process.
//! `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE` ends the whole job when its handle closes, so nothing a
//! job started outlives the pool, even when the pool's process is killed. The polite stop is
//! `CTRL_BREAK_EVENT` to the job's process group; the hard stop `TerminateJobObject`.
#![allow(unsafe_code)] // FFI to kernel32: every call is given handles this module owns.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::io;
use std::mem::size_of;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::path::Path;

use process_pool_core::backend::ExitStatus;
use tokio::process::{Child, Command};
use windows_sys::Win32::Foundation::{ERROR_INTERNAL_ERROR, FALSE, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Console::{CTRL_BREAK_EVENT, GenerateConsoleCtrlEvent};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, TH32CS_SNAPTHREAD, THREADENTRY32, Thread32First, Thread32Next,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JobObjectBasicAccountingInformation, JobObjectExtendedLimitInformation,
    QueryInformationJobObject, SetInformationJobObject, TerminateJobObject,
};
use windows_sys::Win32::System::ProcessStatus::{K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
use windows_sys::Win32::System::Threading::{
    CREATE_NEW_PROCESS_GROUP, CREATE_SUSPENDED, OpenProcess, OpenThread,
    PROCESS_QUERY_LIMITED_INFORMATION, ResumeThread, THREAD_SUSPEND_RESUME,
};

use crate::error::BatchArgument;

/// The exit code of every process ended by the hard stop.
const KILLED: u32 = 1;

/// A job's Job Object, and the id of its first process (which is its console process group's
/// id too). Closing it ends whatever is still in the job.
#[derive(Debug)]
pub(crate) struct Tree {
    job: OwnedHandle,
    group: u32,
}

/// Nothing to choose on Windows: every job has a Job Object.
pub(crate) type Options = bool;

/// Every job in a Job Object.
pub(super) fn containment(_options: Options) -> crate::Containment {
    crate::Containment::JobObject
}

/// Starts `command` suspended, puts it in a Job Object of its own, then lets it run.
pub(super) fn spawn(
    command: &mut super::Command,
    _options: Options,
    _max_memory: Option<u64>,
) -> io::Result<(super::Child, Option<Tree>)> {
    let mut tokio = command.tokio_command();
    Tree::prepare(&mut tokio);
    let mut child = retry_internal_errors(|| tokio.spawn())?;
    match Tree::adopt(&child) {
        Ok(tree) => Ok((super::Child::from_tokio(child), tree)),
        Err(error) => {
            // Not yet running its own code (created suspended): ended here.
            let _ = child.start_kill();
            Err(error)
        }
    }
}

/// How many times a start that failed with `ERROR_INTERNAL_ERROR` is made in all.
const STARTS: u32 = 3;

/// Runs `start` again, up to [`STARTS`] times in all, while it fails with
/// `ERROR_INTERNAL_ERROR`: what Wine's `CreateProcessW` answers when the new process died while
/// Wine was still loading it, before any of the program's code ran (seen once in 1,000 jobs
/// under load; a second start succeeds). Windows documents no such answer for a program that
/// cannot start, and every other error is returned at once.
fn retry_internal_errors<T>(mut start: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut tries = 1;
    loop {
        match start() {
            Err(error) if is_internal_error(&error) && tries < STARTS => {
                tracing::debug!(%error, tries, "process start failed inside the OS; trying again");
                tries += 1;
            }
            done => return done,
        }
    }
}

fn is_internal_error(error: &io::Error) -> bool {
    error.raw_os_error() == i32::try_from(ERROR_INTERNAL_ERROR).ok()
}

/// A job's memory limit is enforced on Linux only.
pub(super) fn check_memory_limit(_options: Options) -> Result<(), String> {
    Err(
        "a job's memory is limited on Linux only (a cgroup per job); the pool does not set \
         a Job Object's memory limit"
            .into(),
    )
}

impl Tree {
    /// Nothing to reap: Windows has no zombies.
    pub(crate) fn reap_ended(&self) {}

    /// What the job used: not measured on Windows.
    pub(crate) fn accounting(&mut self) -> super::Accounting {
        super::Accounting::default()
    }

    /// Created suspended, in a console process group of its own.
    fn prepare(command: &mut Command) {
        command.creation_flags(CREATE_SUSPENDED | CREATE_NEW_PROCESS_GROUP);
    }

    /// Puts a child started suspended after [`prepare`](Self::prepare) in a new Job Object,
    /// then lets it run. `Err` leaves it suspended, for the caller to end.
    fn adopt(child: &Child) -> io::Result<Option<Tree>> {
        let (Some(pid), Some(process)) = (child.id(), child.raw_handle()) else {
            return Ok(None);
        };
        let job = new_job()?;
        // SAFETY: both handles are open: the job's is owned here, the child's by `child`.
        if unsafe { AssignProcessToJobObject(job.as_raw_handle(), process) } == FALSE {
            return Err(last_error("cannot put the process in its Job Object"));
        }
        resume(pid)?;
        Ok(Some(Tree { job, group: pid }))
    }

    /// `CTRL_BREAK_EVENT` to the job's console process group. It reaches only processes that
    /// share the pool's console: a pool without one (a service, or Wine run without a Windows
    /// console) sends nothing, and its grace just elapses before the hard stop.
    pub(crate) fn polite_stop(&self) {
        // SAFETY: a plain call with two integers.
        if unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, self.group) } == FALSE {
            let error = io::Error::last_os_error();
            tracing::debug!(group = self.group, %error, "no CTRL_BREAK_EVENT sent");
        }
    }

    /// Nothing: once the job's first process has exited, its id no longer surely names its
    /// console process group (and may be reused by an unrelated process), so a Ctrl-Break sent
    /// to it could reach processes that are not the job's. Leftovers get the hard stop at once.
    pub(crate) fn polite_stop_leftovers(&self) -> bool {
        false
    }

    /// `TerminateJobObject`: every process of the job, at once.
    pub(crate) fn kill(&self) {
        // SAFETY: the job's handle is owned by `self`.
        if unsafe { TerminateJobObject(self.job.as_raw_handle(), KILLED) } == FALSE {
            let error = io::Error::last_os_error();
            tracing::warn!(group = self.group, %error, "cannot terminate Job Object");
        }
    }

    /// Whether the job still has a running process.
    pub(crate) async fn is_alive(&self) -> bool {
        self.is_alive_now()
    }

    /// Whether any process is still in the job, on this thread.
    pub(crate) fn is_alive_now(&self) -> bool {
        let mut info = JOBOBJECT_BASIC_ACCOUNTING_INFORMATION::default();
        // SAFETY: `info` is valid for the size given; the job's handle is owned by `self`.
        let done = unsafe {
            QueryInformationJobObject(
                self.job.as_raw_handle(),
                JobObjectBasicAccountingInformation,
                (&raw mut info).cast(),
                size_u32::<JOBOBJECT_BASIC_ACCOUNTING_INFORMATION>(),
                std::ptr::null_mut(),
            )
        };
        done == FALSE || info.ActiveProcesses > 0
    }
}

/// A new Job Object that ends its processes when its last handle closes.
fn new_job() -> io::Result<OwnedHandle> {
    // SAFETY: no attributes, no name; a null return is checked.
    let raw = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
    if raw.is_null() {
        return Err(last_error("cannot create a Job Object"));
    }
    // SAFETY: a fresh handle that nothing else owns.
    let job = unsafe { OwnedHandle::from_raw_handle(raw) };
    let mut limits = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    // SAFETY: `limits` is valid for the size given.
    let set = unsafe {
        SetInformationJobObject(
            job.as_raw_handle(),
            JobObjectExtendedLimitInformation,
            (&raw const limits).cast(),
            size_u32::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>(),
        )
    };
    if set == FALSE {
        return Err(last_error(
            "cannot set the Job Object's kill-on-close limit",
        ));
    }
    Ok(job)
}

/// Resumes every thread of process `pid` (a process created suspended has one), found in a
/// Toolhelp snapshot of the system's threads.
fn resume(pid: u32) -> io::Result<()> {
    // SAFETY: a snapshot of all threads; an invalid handle is checked.
    let raw = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0) };
    if raw == INVALID_HANDLE_VALUE {
        return Err(last_error("cannot list the new process's threads"));
    }
    // SAFETY: a fresh handle that nothing else owns.
    let snapshot = unsafe { OwnedHandle::from_raw_handle(raw) };
    let mut entry = THREADENTRY32 {
        dwSize: size_u32::<THREADENTRY32>(),
        ..THREADENTRY32::default()
    };
    let mut resumed = 0;
    // SAFETY: `entry` is valid and its size is set, as Thread32First/Next require.
    let mut more = unsafe { Thread32First(snapshot.as_raw_handle(), &raw mut entry) } != FALSE;
    while more {
        if entry.th32OwnerProcessID == pid {
            resume_thread(entry.th32ThreadID)?;
            resumed += 1;
        }
        // SAFETY: as above.
        more = unsafe { Thread32Next(snapshot.as_raw_handle(), &raw mut entry) } != FALSE;
    }
    if resumed == 0 {
        return Err(io::Error::other("the new process has no thread to resume"));
    }
    Ok(())
}

fn resume_thread(id: u32) -> io::Result<()> {
    // SAFETY: a plain call; a null return is checked.
    let raw = unsafe { OpenThread(THREAD_SUSPEND_RESUME, FALSE, id) };
    if raw.is_null() {
        return Err(last_error("cannot open the new process's thread"));
    }
    // SAFETY: a fresh handle that nothing else owns.
    let thread = unsafe { OwnedHandle::from_raw_handle(raw) };
    // SAFETY: the thread's handle is open, with the right to resume it.
    if unsafe { ResumeThread(thread.as_raw_handle()) } == u32::MAX {
        return Err(last_error("cannot resume the new process"));
    }
    Ok(())
}

/// Every platform reads a worker's resident set here (its working set).
pub(super) const RESIDENT_SET: Result<(), &str> = Ok(());

/// The working set of `pid` (`GetProcessMemoryInfo`), in bytes: Windows' resident set.
pub(crate) fn resident_bytes(pid: u32) -> Option<u64> {
    // SAFETY: a plain call; a null return is checked.
    let raw: HANDLE = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid) };
    if raw.is_null() {
        return None;
    }
    // SAFETY: a fresh handle that nothing else owns.
    let process = unsafe { OwnedHandle::from_raw_handle(raw) };
    let mut counters = PROCESS_MEMORY_COUNTERS::default();
    // SAFETY: `counters` is valid for the size given; the handle is open.
    let read = unsafe {
        K32GetProcessMemoryInfo(
            process.as_raw_handle(),
            &raw mut counters,
            size_u32::<PROCESS_MEMORY_COUNTERS>(),
        )
    };
    (read != FALSE).then_some(counters.WorkingSetSize as u64)
}

/// The program to start, looked up as a Windows user expects, and refused when it is a batch
/// file that one of `args` cannot be passed to safely.
///
/// A bare name without an extension (`tool`, not `tool.exe` or `bin\tool`) is looked up in
/// each directory of `path` (the `PATH` the child will see) with each extension of `PATHEXT`
/// in turn, as `cmd.exe` does (but not in the current directory); found nowhere, it goes to
/// std as it is, whose own search implies `.exe`. A `.bat` or `.cmd` program runs through
/// `cmd.exe`, whose quoting std applies; an argument holding a line break (`\r` or `\n`) cannot
/// be quoted for it, and is refused here with a [`BatchArgument`] error.
pub(crate) fn program<'a, A: AsRef<OsStr>>(
    program: &'a OsStr,
    args: impl IntoIterator<Item = A>,
    path: impl FnOnce() -> Option<OsString>,
) -> io::Result<Cow<'a, OsStr>> {
    let found = look_up(program, path).map_or(Cow::Borrowed(program), Cow::Owned);
    if is_batch(&found)
        && let Some(bad) = args.into_iter().find(|arg| {
            arg.as_ref()
                .as_encoded_bytes()
                .iter()
                .any(|&b| b == b'\r' || b == b'\n')
        })
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            BatchArgument::new(&found, bad.as_ref()),
        ));
    }
    Ok(found)
}

/// `program` found in `path` with an extension from `PATHEXT`, if it is a bare name.
fn look_up(program: &OsStr, path: impl FnOnce() -> Option<OsString>) -> Option<OsString> {
    let name = Path::new(program);
    let bare = !program
        .as_encoded_bytes()
        .iter()
        .any(|&b| b == b'/' || b == b'\\' || b == b':');
    if !bare || name.extension().is_some() {
        return None;
    }
    let extensions =
        std::env::var_os("PATHEXT").unwrap_or_else(|| OsString::from(".COM;.EXE;.BAT;.CMD"));
    let extensions: Vec<&str> = extensions
        .to_str()?
        .split(';')
        .filter(|ext| ext.starts_with('.'))
        .collect();
    std::env::split_paths(&path()?).find_map(|dir| {
        extensions.iter().find_map(|ext| {
            let mut file = program.to_owned();
            file.push(ext);
            let candidate = dir.join(file);
            candidate.is_file().then(|| candidate.into_os_string())
        })
    })
}

/// Whether std runs `program` through `cmd.exe`.
fn is_batch(program: &OsStr) -> bool {
    Path::new(program)
        .extension()
        .and_then(OsStr::to_str)
        .is_some_and(|ext| ext.eq_ignore_ascii_case("bat") || ext.eq_ignore_ascii_case("cmd"))
}

/// How a process ended: an exception (an NTSTATUS of error severity, not customer-defined:
/// `0xC0000000..=0xDFFFFFFF`, such as `0xC0000005`), or its exit code, all 32 bits of it
/// (`code as u32` reads the DWORD back). `exit(-1)`, `0xFFFFFFFF`, is an exit code.
pub(crate) fn exit_status(status: std::process::ExitStatus) -> ExitStatus {
    // Windows always has a code.
    let code = status.code().unwrap_or(-1);
    #[allow(clippy::cast_sign_loss)] // The DWORD's bits, as they are.
    let word = code as u32;
    if word & 0xE000_0000 == 0xC000_0000 {
        ExitStatus::Exception(word)
    } else {
        ExitStatus::Code(code)
    }
}

fn size_u32<T>() -> u32 {
    u32::try_from(size_of::<T>()).unwrap_or(u32::MAX)
}

fn last_error(what: &str) -> io::Error {
    let error = io::Error::last_os_error();
    io::Error::new(error.kind(), format!("{what}: {error}"))
}

#[cfg(test)]
mod tests {
    use std::os::windows::process::ExitStatusExt;

    use super::*;

    fn status(word: u32) -> ExitStatus {
        exit_status(std::process::ExitStatus::from_raw(word))
    }

    #[test]
    fn exceptions_are_error_severity_codes_that_are_not_customer_defined() {
        assert_eq!(status(0xC000_0005), ExitStatus::Exception(0xC000_0005));
        assert_eq!(status(0xC000_0409), ExitStatus::Exception(0xC000_0409));
        assert_eq!(status(0xDFFF_FFFF), ExitStatus::Exception(0xDFFF_FFFF));
        // exit(-1), a C++ exception's code (customer bit set), a warning: exit codes.
        assert_eq!(status(0xFFFF_FFFF), ExitStatus::Code(-1));
        assert_eq!(
            status(0xE06D_7363),
            ExitStatus::Code(0xE06D_7363_u32 as i32)
        );
        assert_eq!(
            status(0x8000_0005),
            ExitStatus::Code(0x8000_0005_u32 as i32)
        );
        assert_eq!(status(3), ExitStatus::Code(3));
    }

    #[test]
    fn a_start_that_failed_inside_the_os_is_made_again_a_bounded_number_of_times() {
        let internal = || io::Error::from_raw_os_error(ERROR_INTERNAL_ERROR as i32);
        let mut tries = 0;
        let started = retry_internal_errors(|| {
            tries += 1;
            if tries < STARTS {
                Err(internal())
            } else {
                Ok(tries)
            }
        });
        assert_eq!(started.unwrap(), STARTS);
        // Never more than STARTS tries, and every other error at once.
        tries = 0;
        let failed = retry_internal_errors::<()>(|| {
            tries += 1;
            Err(internal())
        });
        assert!(is_internal_error(&failed.unwrap_err()));
        assert_eq!(tries, STARTS);
        tries = 0;
        let missing = retry_internal_errors::<()>(|| {
            tries += 1;
            Err(io::Error::from(io::ErrorKind::NotFound))
        });
        assert_eq!(missing.unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(tries, 1);
    }

    #[test]
    fn a_bare_name_is_found_with_the_first_pathext_extension_that_exists() {
        let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(first.path().join("tool.cmd"), "").unwrap();
        std::fs::write(second.path().join("tool.exe"), "").unwrap();
        let path = std::env::join_paths([first.path(), second.path()]).unwrap();
        let found = look_up(OsStr::new("tool"), || Some(path.clone())).unwrap();
        assert_eq!(Path::new(&found), first.path().join("tool.cmd"));
        // Not looked up: a name with an extension, a path, or no PATH at all.
        assert_eq!(look_up(OsStr::new("tool.exe"), || Some(path.clone())), None);
        assert_eq!(
            look_up(OsStr::new(r"bin\tool"), || Some(path.clone())),
            None
        );
        assert_eq!(look_up(OsStr::new("tool"), || None), None);
        assert_eq!(look_up(OsStr::new("absent"), || Some(path.clone())), None);
    }

    #[test]
    fn only_a_batch_file_refuses_a_line_break() {
        let error = program(OsStr::new(r"C:\x\run.BAT"), ["ok", "a\r\nb"], || None).unwrap_err();
        let batch = error
            .get_ref()
            .unwrap()
            .downcast_ref::<BatchArgument>()
            .unwrap();
        assert_eq!(
            (batch.program(), batch.argument()),
            (r"C:\x\run.BAT", "a\r\nb")
        );
        assert!(program(OsStr::new(r"C:\x\run.exe"), ["a\nb"], || None).is_ok());
        assert!(program(OsStr::new(r"C:\x\run.cmd"), ["a & b", "%PATH%"], || None).is_ok());
    }
}
