//! What to start and the started process, the same on every platform: [`Command`] describes a
//! program, its arguments, environment, directory and stdio; [`Child`] is the running process
//! with the pool's ends of its pipes. Each platform starts it its own way (tokio's process
//! spawning, or on Linux with cgroups `clone3` straight into the job's cgroup).

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::PathBuf;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

/// A descriptor handed to the child as one of its stdio streams.
#[cfg(unix)]
pub(crate) type OwnedIo = std::os::fd::OwnedFd;
/// A handle handed to the child as one of its stdio streams.
#[cfg(windows)]
pub(crate) type OwnedIo = std::os::windows::io::OwnedHandle;

/// One of the child's stdin, stdout and stderr.
#[derive(Debug)]
pub(crate) enum Io {
    /// The null device.
    Null,
    /// A pipe whose other end the pool holds ([`Child::stdin`] and the rest).
    Piped,
    /// A file or pipe end, handed over as it is.
    Given(OwnedIo),
}

impl Io {
    /// A file or a pipe's end, handed to the child as it is.
    pub(crate) fn given(io: impl Into<OwnedIo>) -> Io {
        Io::Given(io.into())
    }

    pub(crate) fn into_stdio(self) -> std::process::Stdio {
        match self {
            Io::Null => std::process::Stdio::null(),
            Io::Piped => std::process::Stdio::piped(),
            Io::Given(io) => std::process::Stdio::from(io),
        }
    }
}

/// A program to start, with everything the child is given.
#[derive(Debug)]
pub(crate) struct Command {
    pub(crate) program: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) env_clear: bool,
    /// Set (`Some`) or removed (`None`), in order, over the pool's environment (or none).
    pub(crate) envs: Vec<(OsString, Option<OsString>)>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) stdio: [Io; 3],
    /// Whether the process is killed when its [`Child`] is dropped before it was reaped.
    pub(crate) kill_on_drop: bool,
}

impl Command {
    /// `program` with no arguments, the pool's environment, piped stdio.
    pub(crate) fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env_clear: false,
            envs: Vec::new(),
            cwd: None,
            stdio: [Io::Piped, Io::Piped, Io::Piped],
            kill_on_drop: false,
        }
    }

    pub(crate) fn args<A: AsRef<OsStr>>(&mut self, args: impl IntoIterator<Item = A>) -> &mut Self {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    pub(crate) fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        let value = Some(value.as_ref().to_owned());
        self.envs.push((key.as_ref().to_owned(), value));
        self
    }

    pub(crate) fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.envs.push((key.as_ref().to_owned(), None));
        self
    }

    /// The environment the child sees, complete.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn environment(&self) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> = if self.env_clear {
            Vec::new()
        } else {
            std::env::vars_os().collect()
        };
        for (key, value) in &self.envs {
            env.retain(|(k, _)| k != key);
            if let Some(value) = value {
                env.push((key.clone(), value.clone()));
            }
        }
        env
    }

    /// The same command for tokio to start (stdio moved out of this one).
    pub(crate) fn tokio_command(&mut self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.program);
        command.args(&self.args);
        if self.env_clear {
            command.env_clear();
        }
        for (key, value) in &self.envs {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        command.kill_on_drop(self.kill_on_drop);
        let [stdin, stdout, stderr] =
            std::mem::replace(&mut self.stdio, [Io::Null, Io::Null, Io::Null]);
        command
            .stdin(stdin.into_stdio())
            .stdout(stdout.into_stdio())
            .stderr(stderr.into_stdio());
        command
    }
}

/// The pool's end of a child's stdin.
pub(crate) type ChildStdin = Pin<Box<dyn AsyncWrite + Send>>;
/// The pool's end of a child's stdout or stderr.
pub(crate) type ChildOutput = Pin<Box<dyn AsyncRead + Send>>;

/// A started process.
pub(crate) struct Child {
    pub(crate) stdin: Option<ChildStdin>,
    pub(crate) stdout: Option<ChildOutput>,
    pub(crate) stderr: Option<ChildOutput>,
    inner: Process,
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
enum Process {
    Tokio(tokio::process::Child),
    #[cfg(target_os = "linux")]
    Own(super::linux::process::Process),
}

impl Child {
    pub(crate) fn from_tokio(mut child: tokio::process::Child) -> Child {
        Child {
            stdin: child.stdin.take().map(|p| Box::pin(p) as ChildStdin),
            stdout: child.stdout.take().map(|p| Box::pin(p) as ChildOutput),
            stderr: child.stderr.take().map(|p| Box::pin(p) as ChildOutput),
            inner: Process::Tokio(child),
        }
    }

    #[cfg(target_os = "linux")]
    pub(crate) fn from_own(
        process: super::linux::process::Process,
        pipes: (Option<ChildStdin>, Option<ChildOutput>, Option<ChildOutput>),
    ) -> Child {
        Child {
            stdin: pipes.0,
            stdout: pipes.1,
            stderr: pipes.2,
            inner: Process::Own(process),
        }
    }

    /// The process id, until it has been reaped.
    pub(crate) fn id(&self) -> Option<u32> {
        match &self.inner {
            Process::Tokio(child) => child.id(),
            #[cfg(target_os = "linux")]
            Process::Own(process) => process.id(),
        }
    }

    /// Waits for the process to exit, and reaps it.
    pub(crate) async fn wait(&mut self) -> io::Result<std::process::ExitStatus> {
        match &mut self.inner {
            Process::Tokio(child) => child.wait().await,
            #[cfg(target_os = "linux")]
            Process::Own(process) => process.wait().await,
        }
    }

    /// Its status if it has exited (and reaps it), without waiting.
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<std::process::ExitStatus>> {
        match &mut self.inner {
            Process::Tokio(child) => child.try_wait(),
            #[cfg(target_os = "linux")]
            Process::Own(process) => process.try_wait(),
        }
    }

    /// SIGKILL (or TerminateProcess) to the process alone, unless it has been reaped.
    pub(crate) fn start_kill(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Process::Tokio(child) => child.start_kill(),
            #[cfg(target_os = "linux")]
            Process::Own(process) => process.start_kill(),
        }
    }
}
