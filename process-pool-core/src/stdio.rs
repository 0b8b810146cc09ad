//! Where a job's stdin comes from ([`Input`]) and where its stdout and stderr go ([`Output`]),
//! for data that need not fit in memory; and [`SpillFile`], the part of an output kept on disk.
//!
//! A user sets them on a [`Job`](crate::Job) (`stdin_file`, `stdin_reader`, `stdout`, `stderr`);
//! a backend opens them once per attempt ([`Input::open`], [`Output::open`]), so a retried job
//! reads its file again from the start and rewrites its output file from scratch.

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, PipeReader, PipeWriter};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::output::Stream;

/// A reader of a job's stdin, boxed.
pub type BoxReader = Box<dyn AsyncRead + Send + Unpin>;
/// A writer of a job's output, boxed.
pub type BoxWriter = Box<dyn AsyncWrite + Send + Unpin>;

type ReaderFactory = Arc<dyn Fn() -> io::Result<BoxReader> + Send + Sync>;
type WriterFactory = Arc<dyn Fn() -> io::Result<BoxWriter> + Send + Sync>;

/// Something used once, by the first attempt that takes it.
type Once<T> = Arc<Mutex<Option<T>>>;

fn once<T>(value: T) -> Once<T> {
    Arc::new(Mutex::new(Some(value)))
}

fn take<T>(slot: &Once<T>) -> Option<T> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// Where a job's stdin comes from; set with [`Job::stdin`](crate::Job::stdin),
/// [`Job::stdin_file`](crate::Job::stdin_file), [`Job::stdin_reader`](crate::Job::stdin_reader)
/// or [`Job::stdin_reader_with`](crate::Job::stdin_reader_with), or by a
/// [`Pipeline`](crate::Pipeline). Backends open it with [`Input::open`].
#[derive(Clone, Default)]
pub struct Input(InputKind);

#[derive(Clone, Default)]
enum InputKind {
    #[default]
    Empty,
    Bytes(Bytes),
    File(PathBuf),
    Reader(Once<BoxReader>),
    Factory(ReaderFactory),
    Pipe(Once<PipeReader>),
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            InputKind::Empty => f.write_str("Empty"),
            InputKind::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            InputKind::File(path) => f.debug_tuple("File").field(path).finish(),
            InputKind::Reader(_) => f.write_str("Reader"),
            InputKind::Factory(_) => f.write_str("ReaderFactory"),
            InputKind::Pipe(_) => f.write_str("Pipe"),
        }
    }
}

/// An [`Input`] opened for one attempt: what a backend feeds the job.
#[non_exhaustive]
pub enum Source {
    /// Nothing: stdin is empty (at its end at once).
    Empty,
    /// These bytes, then the end.
    Bytes(Bytes),
    /// This file, opened for this attempt, read from its start; the path names it in errors.
    File(std::fs::File, PathBuf),
    /// This reader, to its end.
    Reader(BoxReader),
    /// The read end of an OS pipe from the previous stage of a pipeline.
    Pipe(PipeReader),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Empty => f.write_str("Empty"),
            Source::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Source::File(_, path) => f.debug_tuple("File").field(path).finish(),
            Source::Reader(_) => f.write_str("Reader"),
            Source::Pipe(_) => f.write_str("Pipe"),
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Memory => f.write_str("Memory"),
            Target::Spill => f.write_str("Spill"),
            Target::File(_, path) => f.debug_tuple("File").field(path).finish(),
            Target::Writer(_) => f.write_str("Writer"),
            Target::Discard => f.write_str("Discard"),
            Target::Pipe(_) => f.write_str("Pipe"),
        }
    }
}

impl Input {
    pub(crate) fn bytes(bytes: Bytes) -> Self {
        Input(InputKind::Bytes(bytes))
    }

    pub(crate) fn file(path: PathBuf) -> Self {
        Input(InputKind::File(path))
    }

    pub(crate) fn reader(reader: BoxReader) -> Self {
        Input(InputKind::Reader(once(reader)))
    }

    pub(crate) fn factory(make: ReaderFactory) -> Self {
        Input(InputKind::Factory(make))
    }

    pub(crate) fn pipe(end: PipeReader) -> Self {
        Input(InputKind::Pipe(once(end)))
    }

    /// The bytes, for stdin given as bytes.
    pub(crate) fn as_bytes(&self) -> Option<&Bytes> {
        match &self.0 {
            InputKind::Bytes(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// Whether stdin is empty (nothing was set).
    pub fn is_empty(&self) -> bool {
        matches!(self.0, InputKind::Empty)
    }

    /// Whether it is empty or bytes: what every backend carries.
    pub fn is_in_memory(&self) -> bool {
        matches!(self.0, InputKind::Empty | InputKind::Bytes(_))
    }

    /// The file it reads, if it is one.
    pub fn path(&self) -> Option<&Path> {
        match &self.0 {
            InputKind::File(path) => Some(path),
            _ => None,
        }
    }

    /// Why it can serve only one attempt, if it can: a reader without a factory, or a
    /// pipeline's pipe.
    pub fn single_use(&self) -> Option<&'static str> {
        match self.0 {
            InputKind::Reader(_) => Some("its stdin is a single-use reader"),
            InputKind::Pipe(_) => Some("its stdin is a pipe from another stage"),
            _ => None,
        }
    }

    /// A short name of what it is, for messages: `bytes`, `a file`, `a reader`, `a pipe`.
    pub fn describe(&self) -> &'static str {
        match self.0 {
            InputKind::Empty => "nothing",
            InputKind::Bytes(_) => "bytes",
            InputKind::File(_) => "a file",
            InputKind::Reader(_) | InputKind::Factory(_) => "a reader",
            InputKind::Pipe(_) => "a pipe",
        }
    }

    /// Opens it for one attempt of a job running `program`: a file is opened again (so each
    /// attempt reads it from the start), a factory makes a new reader.
    ///
    /// Fails, naming the file and the program, when the file cannot be opened; when a factory
    /// fails; or when a single-use reader was taken by an earlier attempt.
    pub fn open(&self, program: &OsStr) -> io::Result<Source> {
        let program = program.to_string_lossy();
        Ok(match &self.0 {
            InputKind::Empty => Source::Empty,
            InputKind::Bytes(bytes) => Source::Bytes(bytes.clone()),
            InputKind::File(path) => {
                let file = std::fs::File::open(path).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "cannot open stdin file `{}` of `{program}`: {e}",
                            path.display()
                        ),
                    )
                })?;
                Source::File(file, path.clone())
            }
            InputKind::Reader(slot) => Source::Reader(
                take(slot)
                    .ok_or_else(|| used_up(&program, "stdin reader", "Job::stdin_reader_with"))?,
            ),
            InputKind::Factory(make) => Source::Reader(make().map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("the stdin reader factory of `{program}` failed: {e}"),
                )
            })?),
            InputKind::Pipe(slot) => Source::Pipe(
                take(slot).ok_or_else(|| used_up(&program, "stdin pipe", "a new pipeline run"))?,
            ),
        })
    }
}

fn used_up(program: &str, what: &str, instead: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "the {what} of `{program}` was used by an earlier attempt and cannot be read again \
             (use {instead} for a job that may run more than once)"
        ),
    )
}

/// Where one of a job's output streams goes: kept in memory up to the output limit (the
/// default), kept whole with what is past the limit spilled to a temporary file, written to a
/// file, sent to a writer, or discarded. Set with [`Job::stdout`](crate::Job::stdout) and
/// [`Job::stderr`](crate::Job::stderr).
///
/// Every mode is read as the job writes, in bounded memory: a slow writer slows the job (its
/// pipe fills), never the pool's memory. [`Job::output_lines`](crate::Job::output_lines)
/// works beside every mode.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use process_pool::{job, NativeSpawner, Output};
///
/// let dir = tempfile::tempdir()?;
/// let pool = NativeSpawner::pool(2)?;
/// // To a file, created (or truncated) when each attempt starts.
/// let out = dir.path().join("seq.txt");
/// pool.submit(job("seq", ["3"]).stdout(Output::file(&out))).await?.await;
/// assert_eq!(std::fs::read_to_string(&out)?, "1\n2\n3\n");
/// // Kept whole: past the output limit, in a temporary file that lives with the result.
/// let r = pool
///     .submit(job("seq", ["100000"]).output_limit(1024).stdout(Output::spill()))
///     .await?
///     .await;
/// assert_eq!(r.stdout.len(), 1024, "the first bytes stay in memory");
/// assert_eq!(r.stdout_len(), 588_895, "every byte is kept");
/// let mut all = Vec::new();
/// tokio::io::AsyncReadExt::read_to_end(&mut r.stdout_reader().await?, &mut all).await?;
/// assert!(all.ends_with(b"99999\n100000\n"));
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct Output(OutputKind);

#[derive(Clone, Default)]
enum OutputKind {
    #[default]
    Memory,
    Spill,
    File {
        path: PathBuf,
        /// For appending: the file's length when the job's first attempt opened it, which
        /// later attempts cut it back to.
        append: Option<Arc<OnceLock<u64>>>,
    },
    Writer(Once<BoxWriter>),
    Factory(WriterFactory),
    Discard,
    Pipe(Once<PipeWriter>),
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            OutputKind::Memory => f.write_str("Memory"),
            OutputKind::Spill => f.write_str("Spill"),
            OutputKind::File { path, append } => f
                .debug_struct("File")
                .field("path", path)
                .field("append", &append.is_some())
                .finish(),
            OutputKind::Writer(_) => f.write_str("Writer"),
            OutputKind::Factory(_) => f.write_str("WriterFactory"),
            OutputKind::Discard => f.write_str("Discard"),
            OutputKind::Pipe(_) => f.write_str("Pipe"),
        }
    }
}

/// An [`Output`] opened for one attempt: where a backend sends what the job writes.
#[non_exhaustive]
pub enum Target {
    /// Kept in memory up to the output limit; the rest read and dropped (flagged truncated).
    Memory,
    /// Kept in memory up to the output limit, the rest (and the head again) in a temporary
    /// file: see [`Sink`](crate::backend::Sink).
    Spill,
    /// This file, opened (created, truncated or cut back) for this attempt; the path names it
    /// in errors.
    File(std::fs::File, PathBuf),
    /// This writer.
    Writer(BoxWriter),
    /// Nowhere.
    Discard,
    /// The write end of an OS pipe to the next stage of a pipeline.
    Pipe(PipeWriter),
}

impl Output {
    /// Kept in memory up to the job's output limit, the rest read and dropped, the result
    /// flagged truncated: the default.
    pub fn memory() -> Self {
        Output(OutputKind::Memory)
    }

    /// Kept whole: the first bytes (up to the job's output limit) in memory, in the result's
    /// `stdout`/`stderr`; once the stream goes past the limit, the whole stream in a temporary
    /// file (in `$TMPDIR`), handed over in the result ([`JobResult::stdout_spill`],
    /// [`JobResult::stdout_reader`]) and removed when the last copy of the result is dropped.
    ///
    /// [`JobResult::stdout_spill`]: crate::JobResult::stdout_spill
    /// [`JobResult::stdout_reader`]: crate::JobResult::stdout_reader
    pub fn spill() -> Self {
        Output(OutputKind::Spill)
    }

    /// Written to the file at `path`, created or truncated when each attempt starts: a retried
    /// job's file holds only its last attempt's bytes. A path that cannot be created fails the
    /// attempt to start, naming it.
    pub fn file(path: impl AsRef<Path>) -> Self {
        Output(OutputKind::File {
            path: path.as_ref().to_owned(),
            append: None,
        })
    }

    /// Appended to the file at `path` (created if missing). A retried attempt first cuts the
    /// file back to the length it had when the job's first attempt opened it, so only the last
    /// attempt's bytes follow what was there before.
    pub fn append(path: impl AsRef<Path>) -> Self {
        Output(OutputKind::File {
            path: path.as_ref().to_owned(),
            append: Some(Arc::default()),
        })
    }

    /// Sent to `writer` as the job writes (and shut down at the end). A writer serves one
    /// attempt only: a job with one is not retried (its result says so in
    /// [`JobResult::retry_prevented`](crate::JobResult::retry_prevented)); give
    /// [`Output::writer_with`] a factory for a job that may be.
    pub fn writer(writer: impl AsyncWrite + Send + Unpin + 'static) -> Self {
        Output(OutputKind::Writer(once(Box::new(writer))))
    }

    /// Sent to a writer that `make` creates for each attempt.
    pub fn writer_with<W, F>(make: F) -> Self
    where
        W: AsyncWrite + Send + Unpin + 'static,
        F: Fn() -> io::Result<W> + Send + Sync + 'static,
    {
        Output(OutputKind::Factory(Arc::new(move || {
            make().map(|w| Box::new(w) as BoxWriter)
        })))
    }

    /// Read and dropped.
    pub fn discard() -> Self {
        Output(OutputKind::Discard)
    }

    pub(crate) fn pipe(end: PipeWriter) -> Self {
        Output(OutputKind::Pipe(once(end)))
    }

    /// Whether it is kept in memory (capped): what every backend carries.
    pub fn is_memory(&self) -> bool {
        matches!(self.0, OutputKind::Memory)
    }

    /// The file it writes, if it is one.
    pub fn path(&self) -> Option<&Path> {
        match &self.0 {
            OutputKind::File { path, .. } => Some(path),
            _ => None,
        }
    }

    /// Whether it appends to its file.
    pub fn appends(&self) -> bool {
        matches!(
            &self.0,
            OutputKind::File {
                append: Some(_),
                ..
            }
        )
    }

    /// Why it can serve only one attempt, if it can.
    pub fn single_use(&self) -> Option<&'static str> {
        match self.0 {
            OutputKind::Writer(_) => Some("an output goes to a single-use writer"),
            OutputKind::Pipe(_) => Some("its stdout is a pipe to another stage"),
            _ => None,
        }
    }

    /// A short name of what it is, for messages.
    pub fn describe(&self) -> &'static str {
        match self.0 {
            OutputKind::Memory => "memory",
            OutputKind::Spill => "spill to disk",
            OutputKind::File { .. } => "a file",
            OutputKind::Writer(_) | OutputKind::Factory(_) => "a writer",
            OutputKind::Discard => "discard",
            OutputKind::Pipe(_) => "a pipe",
        }
    }

    /// Whether it is [`Output::discard`].
    pub fn is_discard(&self) -> bool {
        matches!(self.0, OutputKind::Discard)
    }

    /// Whether it is [`Output::spill`].
    pub fn is_spill(&self) -> bool {
        matches!(self.0, OutputKind::Spill)
    }

    /// Opens it for one attempt of a job running `program`: a file is created or truncated
    /// (or, appending, cut back to its length before the first attempt), a factory makes a
    /// new writer.
    ///
    /// Fails, naming the file, the stream and the program, when the file cannot be created,
    /// when a factory fails, or when a single-use writer was taken by an earlier attempt.
    pub fn open(&self, stream: Stream, program: &OsStr) -> io::Result<Target> {
        let program = program.to_string_lossy();
        let name = stream.name();
        Ok(match &self.0 {
            OutputKind::Memory => Target::Memory,
            OutputKind::Spill => Target::Spill,
            OutputKind::Discard => Target::Discard,
            OutputKind::File { path, append } => {
                let file = open_output(path, append.as_deref()).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "cannot create {name} file `{}` of `{program}`: {e}",
                            path.display()
                        ),
                    )
                })?;
                Target::File(file, path.clone())
            }
            OutputKind::Writer(slot) => Target::Writer(
                take(slot)
                    .ok_or_else(|| used_up(&program, "output writer", "Output::writer_with"))?,
            ),
            OutputKind::Factory(make) => Target::Writer(make().map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("the {name} writer factory of `{program}` failed: {e}"),
                )
            })?),
            OutputKind::Pipe(slot) => Target::Pipe(
                take(slot).ok_or_else(|| used_up(&program, "stdout pipe", "a new pipeline run"))?,
            ),
        })
    }
}

/// Opens an output file: truncated, or appended after its length before the first attempt.
fn open_output(path: &Path, append: Option<&OnceLock<u64>>) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true);
    let Some(base) = append else {
        return options.truncate(true).open(path);
    };
    let file = options.open(path)?;
    let len = file.metadata()?.len();
    let base = *base.get_or_init(|| len);
    if len != base {
        file.set_len(base)?;
    }
    drop(file);
    options.append(true).open(path)
}

/// The whole of an output stream that went past its memory cap, in a temporary file removed
/// when the last copy of the result holding it is dropped ([`Output::spill`]).
#[derive(Clone)]
pub struct SpillFile {
    path: Arc<tempfile::TempPath>,
    len: u64,
}

impl fmt::Debug for SpillFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpillFile")
            .field("path", &self.path())
            .field("len", &self.len)
            .finish()
    }
}

impl SpillFile {
    pub(crate) fn new(path: tempfile::TempPath, len: u64) -> Self {
        SpillFile {
            path: Arc::new(path),
            len,
        }
    }

    /// Where it is: valid while this value (or a clone) lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many bytes the stream had: all of them are in the file.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the stream was empty (a spill file never is).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Opens it for reading from the start.
    pub async fn open(&self) -> io::Result<tokio::fs::File> {
        tokio::fs::File::open(self.path()).await
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for SpillFile {
    fn serialize<S: serde::Serializer>(&self, to: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = to.serialize_map(Some(2))?;
        map.serialize_entry("path", &self.path().to_string_lossy())?;
        map.serialize_entry("len", &self.len)?;
        map.end()
    }
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
    use super::*;

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
