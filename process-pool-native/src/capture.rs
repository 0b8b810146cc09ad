//! A job's stdin, stdout and stderr for one attempt: what the child is given (a file or a
//! pipe's end handed over as it is, or a pipe the pool reads and writes), and the pool's side
//! of those pipes. Platform-independent: tokio's process pipes on every OS.

use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use process_pool_core::backend::{Captured, Feed, LineSplitter, RunContext, Sink, Source, Target};
use process_pool_core::{Job, Stream};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::platform::Io;

/// What the pool writes to a job's stdin.
enum Feeding {
    Bytes(Bytes),
    Reader(process_pool_core::backend::BoxReader),
}

/// One output stream: handed to the child as it is, or read by the pool into a sink.
enum Out {
    Direct(Io),
    Sink(Box<Sink>),
}

/// A job's streams for one attempt, opened.
pub(crate) struct Streams {
    stdin: (Option<Io>, Option<Feeding>),
    stdout: Out,
    stderr: Out,
    /// Cancelled when a stream fails: the job must stop.
    pub(crate) failed: CancellationToken,
}

impl Streams {
    /// Opens the job's streams for this attempt (its files created or opened now). `Err`
    /// names the file that could not be opened.
    pub(crate) fn open(job: &Job, ctx: &RunContext) -> io::Result<Streams> {
        let program = job.get_program();
        let failed = CancellationToken::new();
        let stdin = match job.get_input().open(program)? {
            Source::Empty => (Some(Io::Null), None),
            Source::Bytes(bytes) => (None, Some(Feeding::Bytes(bytes))),
            Source::Reader(reader) => (None, Some(Feeding::Reader(reader))),
            // The child reads the file (or the previous stage's pipe) itself: no copy.
            Source::File(file, _) => (Some(Io::given(file)), None),
            Source::Pipe(end) => (Some(Io::given(end)), None),
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("the native backend does not know stdin {other:?}"),
                ));
            }
        };
        let out = |stream, output: &process_pool_core::Output| -> io::Result<Out> {
            let target = output.open(stream, program)?;
            let lines = job.get_output_lines().map(|tx| {
                let splitter = LineSplitter::new(stream, ctx.attempt(), ctx.output_limit());
                (splitter, tx.clone())
            });
            Ok(match (target, lines) {
                // Nothing to see on the way: the child writes straight to its destination.
                (Target::File(file, _), None) => Out::Direct(Io::given(file)),
                (Target::Pipe(end), None) => Out::Direct(Io::given(end)),
                (Target::Discard, None) => Out::Direct(Io::Null),
                (target, lines) => Out::Sink(Box::new(Sink::new(
                    target,
                    stream,
                    &job.program_lossy(),
                    ctx.output_limit(),
                    lines,
                    failed.clone(),
                ))),
            })
        };
        Ok(Streams {
            stdin,
            stdout: out(Stream::Stdout, job.get_stdout())?,
            stderr: out(Stream::Stderr, job.get_stderr())?,
            failed,
        })
    }

    /// What the child's stdin, stdout and stderr are.
    pub(crate) fn stdio(&mut self) -> [Io; 3] {
        let out = |out: &mut Out| match out {
            Out::Direct(stdio) => std::mem::replace(stdio, Io::Null),
            Out::Sink(_) => Io::Piped,
        };
        [
            self.stdin.0.take().unwrap_or(Io::Piped),
            out(&mut self.stdout),
            out(&mut self.stderr),
        ]
    }

    /// The pool's side of the streams once the child is started: feeds its stdin and reads its
    /// output until their ends. Once `group_gone` is cancelled it stops feeding, and a pipe
    /// still open `grace` later belongs to a process that left the job's group: it stops
    /// reading it. Returns stdout, stderr and the error of a reader that failed.
    pub(crate) async fn run<I, O, E>(
        self,
        pipes: (Option<I>, Option<O>, Option<E>),
        program: &str,
        group_gone: &CancellationToken,
        grace: Duration,
    ) -> (Captured, Captured, Option<io::Error>)
    where
        I: AsyncWrite + Unpin,
        O: AsyncRead + Unpin,
        E: AsyncRead + Unpin,
    {
        let abandon = || async move {
            group_gone.cancelled().await;
            tokio::time::sleep(grace).await;
        };
        let failed = self.failed.clone();
        let (stdin, stdout, stderr) = pipes;
        let feed = async {
            let result = feed(stdin, self.stdin.1, program, group_gone.cancelled()).await;
            if result.is_err() {
                failed.cancel();
            }
            result
        };
        let (fed, out, err) = tokio::join!(
            feed,
            capture(stdout, self.stdout, abandon()),
            capture(stderr, self.stderr, abandon()),
        );
        (out, err, fed.err())
    }
}

/// Reads `pipe` to its end into the stream's sink, or until `abandon` completes. A stream
/// handed to the child directly captured nothing.
async fn capture<R, A>(pipe: Option<R>, out: Out, abandon: A) -> Captured
where
    R: AsyncRead + Unpin,
    A: Future<Output = ()>,
{
    let Out::Sink(sink) = out else {
        return Captured::default();
    };
    let mut sink = *sink;
    if let Some(mut pipe) = pipe {
        tokio::select! {
            () = sink.copy_from(&mut pipe) => {}
            () = abandon => tracing::debug!("a job's output pipe outlived its process group; stopped reading"),
        }
    }
    sink.finish().await
}

/// Writes the job's stdin (bytes or a reader) and closes it. A child that exits without
/// reading it all (a broken pipe) is not an error; a reader that fails is.
async fn feed<W, A>(
    pipe: Option<W>,
    feeding: Option<Feeding>,
    program: &str,
    abandon: A,
) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
    A: Future<Output = ()>,
{
    let (Some(mut pipe), Some(feeding)) = (pipe, feeding) else {
        return Ok(());
    };
    let written = async {
        match feeding {
            Feeding::Bytes(bytes) => {
                if let Err(error) = pipe.write_all(&bytes).await {
                    tracing::trace!(%error, "the job did not read all of its stdin");
                }
                Ok(())
            }
            Feeding::Reader(mut reader) => Feed::copy(&mut reader, &mut pipe, program).await,
        }
    };
    tokio::select! {
        written = written => written,
        () = abandon => Ok(()),
    }
    // Dropping the pipe closes it: the job sees end-of-file.
}
