//! Where a job's stdin comes from ([`Input`]) and where its stdout and stderr go ([`Output`]),
//! for data that need not fit in memory; and [`SpillFile`], the part of an output kept on disk.
//!
//! A user sets them on a [`Job`](crate::Job) (`stdin_file`, `stdin_reader`, `stdout`, `stderr`);
//! a backend opens them once per attempt ([`Input::open`], [`Output::open`]), so a retried job
//! reads its file again from the start and rewrites its output file from scratch.

use std::io::{self, PipeReader, PipeWriter};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

mod input;
mod output;

pub use self::input::{Input, Source};
pub use self::output::{Output, SpillFile, Target};

/// A reader of a job's stdin, boxed.
pub type BoxReader = Box<dyn AsyncRead + Send + Unpin>;
/// A writer of a job's output, boxed.
pub type BoxWriter = Box<dyn AsyncWrite + Send + Unpin>;

pub(crate) type ReaderFactory = Arc<dyn Fn() -> io::Result<BoxReader> + Send + Sync>;
pub(crate) type WriterFactory = Arc<dyn Fn() -> io::Result<BoxWriter> + Send + Sync>;

/// Something used once, by the first attempt that takes it.
pub(crate) type Once<T> = Arc<Mutex<Option<T>>>;

pub(crate) fn once<T>(value: T) -> Once<T> {
    Arc::new(Mutex::new(Some(value)))
}

pub(crate) fn take<T>(slot: &Once<T>) -> Option<T> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// The error of an attempt that finds a single-use stream already used by an earlier one.
pub(crate) fn used_up(program: &str, what: &str, instead: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "the {what} of `{program}` was used by an earlier attempt and cannot be read again \
             (use {instead} for a job that may run more than once)"
        ),
    )
}

/// A backend was asked for a stream it cannot carry (a reader for a job on a remote node, a
/// pipe into a backend without one): the `source` of the job's
/// [`SpawnFailed`](crate::Outcome::SpawnFailed), with [`io::ErrorKind::Unsupported`].
///
/// ```
/// use process_pool::StreamUnsupported;
///
/// let e = StreamUnsupported::new("Slurm agents", "stdin", "a reader");
/// assert_eq!(e.to_string(), "Slurm agents cannot carry a reader as stdin");
/// let io: std::io::Error = e.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::Unsupported);
/// assert!(io.get_ref().unwrap().downcast_ref::<StreamUnsupported>().is_some());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{backend} cannot carry {mode} as {stream}")]
#[non_exhaustive]
pub struct StreamUnsupported {
    /// The backend.
    pub backend: String,
    /// The stream: `stdin`, `stdout` or `stderr`.
    pub stream: &'static str,
    /// What it was asked to carry (`a reader`, `a file`, ...).
    pub mode: &'static str,
}

impl StreamUnsupported {
    /// `backend` cannot carry `mode` as `stream`.
    pub fn new(backend: impl Into<String>, stream: &'static str, mode: &'static str) -> Self {
        StreamUnsupported {
            backend: backend.into(),
            stream,
            mode,
        }
    }

    /// The first stream of `job` that is not bytes or memory, as an error for `backend`: what
    /// a backend that carries only those returns.
    pub fn first_of(job: &crate::Job, backend: &str) -> Option<StreamUnsupported> {
        if !job.get_input().is_in_memory() {
            return Some(Self::new(backend, "stdin", job.get_input().describe()));
        }
        for (stream, output) in [("stdout", job.get_stdout()), ("stderr", job.get_stderr())] {
            if !output.is_memory() {
                return Some(Self::new(backend, stream, output.describe()));
            }
        }
        None
    }
}

impl From<StreamUnsupported> for io::Error {
    fn from(e: StreamUnsupported) -> io::Error {
        io::Error::new(io::ErrorKind::Unsupported, e)
    }
}

/// The read end of an OS pipe as an async reader: on Unix through the runtime's reactor (a
/// read waiting on it never holds a thread); elsewhere through tokio's blocking-pool file I/O.
pub fn pipe_reader(end: PipeReader) -> io::Result<BoxReader> {
    #[cfg(unix)]
    return Ok(Box::new(tokio::net::unix::pipe::Receiver::from_owned_fd(
        std::os::fd::OwnedFd::from(end),
    )?));
    #[cfg(windows)]
    return Ok(Box::new(tokio::fs::File::from_std(std::fs::File::from(
        std::os::windows::io::OwnedHandle::from(end),
    ))));
}

/// The write end of an OS pipe as an async writer (see [`pipe_reader`]).
pub fn pipe_writer(end: PipeWriter) -> io::Result<BoxWriter> {
    #[cfg(unix)]
    return Ok(Box::new(tokio::net::unix::pipe::Sender::from_owned_fd(
        std::os::fd::OwnedFd::from(end),
    )?));
    #[cfg(windows)]
    return Ok(Box::new(tokio::fs::File::from_std(std::fs::File::from(
        std::os::windows::io::OwnedHandle::from(end),
    ))));
}

/// A reader that is `Sync` because only `&mut` reaches it (wasmtime's streams ask for `Sync`).
#[derive(Debug)]
pub struct SyncReader<R>(Mutex<R>);

impl<R> SyncReader<R> {
    /// Wraps `reader`.
    pub fn new(reader: R) -> Self {
        SyncReader(Mutex::new(reader))
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for SyncReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let inner = self
            .get_mut()
            .0
            .get_mut()
            .unwrap_or_else(|p| p.into_inner());
        Pin::new(inner).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::path::Path;

    use super::*;
    use crate::output::Stream;

    #[test]
    fn a_file_output_is_truncated_per_attempt_and_an_appended_one_cut_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        std::fs::write(&path, "before\n").unwrap();
        let out = Output::append(&path);
        let open = || match out.open(Stream::Stdout, OsStr::new("p")).unwrap() {
            Target::File(file, _) => file,
            other => panic!("{other:?}"),
        };
        io::Write::write_all(&mut open(), b"first attempt\n").unwrap();
        io::Write::write_all(&mut open(), b"second\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "before\nsecond\n");
        let out = Output::file(&path);
        assert!(matches!(
            out.open(Stream::Stdout, OsStr::new("p")),
            Ok(Target::File(..))
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"");
    }

    #[test]
    fn open_errors_name_the_file_and_the_program() {
        let missing = Path::new("/nonexistent/dir/in.txt");
        let err = Input::file(missing.to_owned())
            .open(OsStr::new("cat"))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let msg = err.to_string();
        assert!(
            msg.contains("/nonexistent/dir/in.txt") && msg.contains("`cat`"),
            "{msg}"
        );
        let err = Output::file(missing)
            .open(Stream::Stderr, OsStr::new("cat"))
            .unwrap_err();
        assert!(
            err.to_string().contains("stderr file `/nonexistent"),
            "{err}"
        );
    }

    #[test]
    fn a_single_use_reader_serves_one_attempt() {
        let input = Input::reader(Box::new(&b"abc"[..]));
        assert!(input.single_use().is_some());
        assert!(matches!(input.open(OsStr::new("p")), Ok(Source::Reader(_))));
        let again = input.clone().open(OsStr::new("p")).unwrap_err();
        assert!(again.to_string().contains("stdin_reader_with"), "{again}");
        let factory = Input::factory(Arc::new(|| Ok(Box::new(&b"abc"[..]) as BoxReader)));
        assert!(factory.single_use().is_none());
        for _ in 0..2 {
            assert!(matches!(
                factory.open(OsStr::new("p")),
                Ok(Source::Reader(_))
            ));
        }
    }
}
