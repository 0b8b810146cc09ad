//! Where a job's stdin comes from: [`Input`], opened per attempt as a [`Source`].

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, PipeReader};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{BoxReader, Once, ReaderFactory, once, take, used_up};

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
