//! [`Sink`]: where a backend writes what a job prints, for every [`Output`](crate::Output)
//! mode, with the job's live lines beside it; and [`Feed`], how it copies a job's stdin.

use std::io;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::output::{CappedBuffer, LineSplitter};
use crate::output::{OutputLine, Stream};
use crate::stdio::{BoxWriter, SpillFile, Target, pipe_writer};

/// Bytes read from a job's pipe at a time.
pub const CHUNK: usize = 64 << 10;

/// What a stream left once the job ended: the bytes kept in memory, whether more were dropped,
/// the spill file holding all of it (for [`Output::spill`](crate::Output::spill) past the
/// limit), and the error that stopped it being written, if one did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Captured {
    /// The first bytes, at most the output limit (for memory and spill).
    pub bytes: Bytes,
    /// Whether bytes past the limit were dropped (memory only).
    pub truncated: bool,
    /// The whole stream on disk, when it was spilled.
    pub spill: Option<SpillFile>,
    /// Why writing it failed (a full disk, a writer that closed): the job was stopped.
    pub error: Option<io::Error>,
}

/// Where the bytes go.
enum Dest {
    Memory(CappedBuffer),
    Spill {
        head: CappedBuffer,
        tail: Option<(tokio::fs::File, tempfile::TempPath)>,
        len: u64,
    },
    File(tokio::fs::File),
    Writer(BoxWriter),
    Discard,
}

/// One output stream of one attempt as a backend writes it: the job's [`Target`] (memory,
/// spill, file, writer, pipe, discard) and its live lines
/// ([`Job::output_lines`](crate::Job::output_lines)), with the output limit.
///
/// Writes wait for the destination (a slow writer, a slow reader of the lines): a backend
/// that reads its job's pipe through a `Sink` slows the job, never grows its memory. A
/// destination that fails (a full disk, a closed writer) is recorded, cancels `failed` (the
/// backend's cue to stop the job), and the stream is dropped from then on.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use process_pool::backend::{CancellationToken, Sink};
/// use process_pool::backend::Target;
/// use process_pool::Stream;
///
/// let mut sink = Sink::new(Target::Spill, Stream::Stdout, "job", 4, None, CancellationToken::new());
/// sink.write(b"hello, ").await;
/// sink.write(b"world").await;
/// let out = sink.finish().await;
/// assert_eq!(&out.bytes[..], b"hell");
/// let spill = out.spill.expect("past the limit");
/// assert_eq!(std::fs::read(spill.path()).unwrap(), b"hello, world");
/// # }
/// ```
pub struct Sink {
    dest: Dest,
    lines: Option<(LineSplitter, mpsc::Sender<OutputLine>)>,
    what: String,
    failed: CancellationToken,
    error: Option<io::Error>,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("what", &self.what)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl Sink {
    /// A sink for `stream` of a job running `program`, into `target`, keeping at most `limit`
    /// bytes in memory; `lines`, if given, gets the live lines; `failed` is cancelled if the
    /// destination fails.
    pub fn new(
        target: Target,
        stream: Stream,
        program: &str,
        limit: usize,
        lines: Option<(LineSplitter, mpsc::Sender<OutputLine>)>,
        failed: CancellationToken,
    ) -> Self {
        let mut what = format!("{} of `{program}`", stream.name());
        let mut pending = None;
        let dest = match target {
            Target::Memory => Dest::Memory(CappedBuffer::new(limit)),
            Target::Spill => Dest::Spill {
                head: CappedBuffer::new(limit),
                tail: None,
                len: 0,
            },
            Target::File(file, path) => {
                what = format!("{what} to `{}`", path.display());
                Dest::File(tokio::fs::File::from_std(file))
            }
            Target::Pipe(end) => {
                what = format!("{what} to the next stage");
                match pipe_writer(end) {
                    Ok(writer) => Dest::Writer(writer),
                    Err(error) => {
                        pending = Some(error);
                        Dest::Discard
                    }
                }
            }
            Target::Writer(writer) => Dest::Writer(writer),
            Target::Discard => Dest::Discard,
        };
        let mut sink = Sink {
            dest,
            lines,
            what,
            failed,
            error: None,
        };
        if let Some(error) = pending {
            sink.fail(error);
        }
        sink
    }

    /// Whether it only keeps bytes in memory and sends no lines: a backend may then use a
    /// faster path of its own.
    pub fn is_plain_memory(&self) -> bool {
        matches!(self.dest, Dest::Memory(_)) && self.lines.is_none()
    }

    /// Takes the next bytes the job wrote.
    pub async fn write(&mut self, chunk: &[u8]) {
        if let Some((splitter, tx)) = &mut self.lines {
            let lines = splitter.push(chunk);
            for line in lines {
                if tx.send(line).await.is_err() {
                    // Nobody reads them any more: the output is still kept.
                    self.lines = None;
                    break;
                }
            }
        }
        if self.error.is_none()
            && let Err(error) = self.store(chunk).await
        {
            self.fail(error);
        }
    }

    fn fail(&mut self, error: io::Error) {
        tracing::debug!(what = %self.what, %error, "a job's output could not be written");
        self.error = Some(io::Error::new(
            error.kind(),
            format!("writing {} failed: {error}", self.what),
        ));
        self.dest = Dest::Discard;
        self.failed.cancel();
    }

    async fn store(&mut self, chunk: &[u8]) -> io::Result<()> {
        match &mut self.dest {
            Dest::Memory(kept) => kept.extend(chunk),
            Dest::Spill { head, tail, len } => {
                *len += chunk.len() as u64;
                if tail.is_none() && head.as_slice().len() + chunk.len() > head.limit() {
                    let file = tokio::task::spawn_blocking(tempfile::NamedTempFile::new)
                        .await
                        .map_err(io::Error::other)??;
                    let (file, path) = file.into_parts();
                    let mut file = tokio::fs::File::from_std(file);
                    file.write_all(head.as_slice()).await?;
                    *tail = Some((file, path));
                }
                head.extend(chunk);
                if let Some((file, _)) = tail {
                    file.write_all(chunk).await?;
                }
            }
            Dest::File(file) => file.write_all(chunk).await?,
            Dest::Writer(writer) => writer.write_all(chunk).await?,
            Dest::Discard => {}
        }
        Ok(())
    }

    /// Copies `reader` in to its end. A read error ends the stream (the job's pipe broke:
    /// what was read is kept).
    pub async fn copy_from<R: AsyncRead + Unpin>(&mut self, reader: &mut R) {
        let mut chunk = Vec::with_capacity(CHUNK);
        loop {
            chunk.clear();
            match reader.read_buf(&mut chunk).await {
                Ok(0) => return,
                Ok(_) => self.write(&chunk).await,
                Err(error) => {
                    tracing::debug!(%error, "reading a job's output failed; keeping what was read");
                    return;
                }
            }
        }
    }

    /// The end of the stream: the last line sent, the file flushed, the writer shut down.
    pub async fn finish(mut self) -> Captured {
        if let Some((splitter, tx)) = &mut self.lines {
            for line in splitter.finish() {
                if tx.send(line).await.is_err() {
                    break;
                }
            }
        }
        let dest = std::mem::replace(&mut self.dest, Dest::Discard);
        let mut out = Captured::default();
        let ended = match dest {
            Dest::Memory(kept) => {
                (out.bytes, out.truncated) = kept.finish();
                Ok(())
            }
            Dest::Spill { head, tail, len } => {
                out.bytes = head.finish().0;
                match tail {
                    None => Ok(()),
                    Some((mut file, path)) => file.flush().await.map(|()| {
                        out.spill = Some(SpillFile::new(path, len));
                    }),
                }
            }
            Dest::File(mut file) => file.flush().await,
            Dest::Writer(mut writer) => match writer.flush().await {
                Ok(()) => writer.shutdown().await,
                Err(e) => Err(e),
            },
            Dest::Discard => Ok(()),
        };
        if let Err(error) = ended
            && self.error.is_none()
        {
            self.fail(error);
        }
        out.error = self.error;
        out
    }
}

/// Copies a job's stdin from a reader into its pipe, telling a failing reader (the job must
/// stop: its input is incomplete) from a job that stopped reading (a broken pipe, not an
/// error: a `head` reads what it needs).
#[derive(Debug)]
pub struct Feed;

impl Feed {
    /// Copies `from` into `to` and closes `to`. `Err` only when `from` failed, naming the
    /// program.
    pub async fn copy<R, W>(from: &mut R, to: &mut W, program: &str) -> io::Result<()>
    where
        R: AsyncRead + Unpin + ?Sized,
        W: AsyncWrite + Unpin + ?Sized,
    {
        let mut chunk = Vec::with_capacity(CHUNK);
        loop {
            chunk.clear();
            let n = from.read_buf(&mut chunk).await.map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("reading the stdin of `{program}` failed: {e}"),
                )
            })?;
            if n == 0 {
                break;
            }
            if let Err(error) = to.write_all(&chunk).await {
                tracing::trace!(%error, "the job did not read all of its stdin");
                return Ok(());
            }
        }
        let _ = to.shutdown().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(target: Target, limit: usize) -> (Sink, CancellationToken) {
        let failed = CancellationToken::new();
        let s = Sink::new(target, Stream::Stdout, "p", limit, None, failed.clone());
        (s, failed)
    }

    #[tokio::test]
    async fn spill_keeps_the_head_in_memory_and_every_byte_on_disk() {
        let (mut s, _) = sink(Target::Spill, 3);
        s.write(b"ab").await;
        s.write(b"c").await;
        let out = s.finish().await;
        assert_eq!(&out.bytes[..], b"abc");
        assert!(out.spill.is_none(), "exactly the limit stays in memory");
        let (mut s, _) = sink(Target::Spill, 3);
        for chunk in [&b"ab"[..], b"cd", b"efg"] {
            s.write(chunk).await;
        }
        let out = s.finish().await;
        assert!(!out.truncated);
        let spill = out.spill.unwrap();
        assert_eq!(spill.len(), 7);
        assert_eq!(std::fs::read(spill.path()).unwrap(), b"abcdefg");
        let path = spill.path().to_owned();
        drop(spill);
        assert!(!path.exists(), "removed with the last holder");
    }

    #[tokio::test]
    async fn a_failing_writer_is_reported_and_cancels() {
        let (reader, writer) = tokio::io::duplex(16);
        drop(reader);
        let (mut s, failed) = sink(Target::Writer(Box::new(writer)), 10);
        s.write(b"data").await;
        assert!(failed.is_cancelled());
        let out = s.finish().await;
        let error = out.error.unwrap().to_string();
        assert!(error.contains("stdout of `p`"), "{error}");
    }

    #[tokio::test]
    async fn a_failing_reader_fails_the_feed_and_a_closed_pipe_does_not() {
        struct Broken;
        impl AsyncRead for Broken {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
                _: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<io::Result<()>> {
                std::task::Poll::Ready(Err(io::Error::other("disk gone")))
            }
        }
        let mut sink = Vec::new();
        let err = Feed::copy(&mut Broken, &mut sink, "cat").await.unwrap_err();
        assert!(err.to_string().contains("stdin of `cat`"), "{err}");
        let (reader, mut writer) = tokio::io::duplex(4);
        drop(reader);
        assert!(
            Feed::copy(&mut &b"0123456789"[..], &mut writer, "cat")
                .await
                .is_ok()
        );
    }
}
