//! Where a job's stdout and stderr go: [`Output`], opened per attempt as a [`Target`], and
//! [`SpillFile`], the part of an output kept on disk.

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, PipeWriter};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use tokio::io::AsyncWrite;

use super::{BoxWriter, Once, WriterFactory, once, take, used_up};
use crate::output::Stream;

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
/// # // It runs Unix programs (sh, echo, cat...); Windows runs its own in process-pool-native.
/// # #[cfg(unix)]
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
/// # #[cfg(not(unix))]
/// # fn main() {}
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
