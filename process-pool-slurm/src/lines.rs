//! A byte stream carried as lines, for srun's stdio.
//!
//! srun forwards a task's output a line at a time: bytes after the last newline wait until the
//! next one (or the task's end). Its `--unbuffered` avoids that with a pseudo-terminal, which
//! is not binary-clean and cannot carry an end of input. So both ends of an agent's stdio
//! escape the stream instead: a newline in the data is sent as `ESC N`, an `ESC` as `ESC E`,
//! and every flush ends with a bare newline, which the reader drops. Frames then arrive as soon
//! as they are flushed, whatever bytes they hold; the cost is one byte per flush and one per
//! newline or `ESC` in the data.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const ESC: u8 = 0x1b;
/// Encoded bytes held before they are written out even without a flush.
const HIGH_WATER: usize = 64 << 10;

/// Escapes what is written to it, and ends each flush with a newline.
#[derive(Debug)]
pub struct LineWriter<W> {
    inner: W,
    buf: Vec<u8>,
    /// Bytes of `buf` already written to `inner`.
    written: usize,
    /// Whether data went out since the last newline.
    open_line: bool,
}

impl<W> LineWriter<W> {
    /// Escapes into `inner`.
    pub fn new(inner: W) -> Self {
        LineWriter {
            inner,
            buf: Vec::new(),
            written: 0,
            open_line: false,
        }
    }

    /// The writer it escapes into (what is buffered and not yet flushed is dropped).
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: AsyncWrite + Unpin> LineWriter<W> {
    /// Writes out what is buffered.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.buf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.buf.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

/// Appends `data` to `out`, escaped.
pub(crate) fn escape_into(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(data.len() + data.len() / 32 + 2);
    for &byte in data {
        match byte {
            b'\n' => out.extend_from_slice(&[ESC, b'N']),
            ESC => out.extend_from_slice(&[ESC, b'E']),
            other => out.push(other),
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for LineWriter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.buf.len() >= HIGH_WATER {
            ready!(this.poll_drain(cx))?;
        }
        escape_into(data, &mut this.buf);
        this.open_line |= !data.is_empty();
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.open_line {
            this.buf.push(b'\n');
            this.open_line = false;
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Undoes [`LineWriter`]: drops bare newlines and unescapes.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    raw: Box<[u8]>,
    /// The undecoded bytes are `raw[start..end]`.
    start: usize,
    end: usize,
    /// An `ESC` was the last byte read: the next one says what it stands for.
    escaped: bool,
    eof: bool,
    /// An error found after some bytes were already given out: returned by the next read.
    failed: Option<io::Error>,
}

impl<R> LineReader<R> {
    /// Unescapes what `inner` yields.
    pub fn new(inner: R) -> Self {
        LineReader {
            inner,
            raw: vec![0; 64 << 10].into_boxed_slice(),
            start: 0,
            end: 0,
            escaped: false,
            eof: false,
            failed: None,
        }
    }

    /// Whether the stream under it has ended.
    pub fn at_eof(&self) -> bool {
        self.eof
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for LineReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(error) = this.failed.take() {
            return Poll::Ready(Err(error));
        }
        loop {
            if this.start == this.end {
                if this.eof {
                    return Poll::Ready(Ok(()));
                }
                let mut raw = ReadBuf::new(&mut this.raw);
                ready!(Pin::new(&mut this.inner).poll_read(cx, &mut raw))?;
                let n = raw.filled().len();
                this.start = 0;
                this.end = n;
                if n == 0 {
                    this.eof = true;
                    if this.escaped {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the stream ended inside an escape",
                        )));
                    }
                    return Poll::Ready(Ok(()));
                }
            }
            let before = out.filled().len();
            while this.start < this.end && out.remaining() > 0 {
                let byte = this.raw[this.start];
                this.start += 1;
                if this.escaped {
                    this.escaped = false;
                    match byte {
                        b'N' => out.put_slice(b"\n"),
                        b'E' => out.put_slice(&[ESC]),
                        other => {
                            let error = io::Error::new(
                                io::ErrorKind::InvalidData,
                                format!("a bad escape (byte {other:#04x}) in an agent's stream"),
                            );
                            if out.filled().len() == before {
                                return Poll::Ready(Err(error));
                            }
                            this.failed = Some(error);
                            return Poll::Ready(Ok(()));
                        }
                    }
                } else if byte == ESC {
                    this.escaped = true;
                } else if byte != b'\n' {
                    out.put_slice(&[byte]);
                }
            }
            if out.filled().len() > before || out.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            // Only newlines and escape starts so far: read on.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn every_byte_survives_and_each_flush_ends_a_line() {
        let data: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let mut writer = LineWriter::new(Vec::new());
        writer.write_all(&data[..10]).await.unwrap();
        writer.flush().await.unwrap();
        writer.write_all(&data[10..]).await.unwrap();
        writer.flush().await.unwrap();
        writer.flush().await.unwrap();
        let wire = writer.inner;
        assert_eq!(wire.last(), Some(&b'\n'));
        // Newlines only where flushes were: two lines.
        assert_eq!(wire.iter().filter(|&&b| b == b'\n').count(), 2);
        let mut back = Vec::new();
        let mut reader = LineReader::new(&wire[..]);
        reader.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, data);
        assert!(reader.at_eof());
    }

    #[tokio::test]
    async fn a_bad_escape_is_an_error_not_a_panic() {
        let mut reader = LineReader::new(&[b'a', ESC, b'x'][..]);
        let mut back = Vec::new();
        let error = reader.read_to_end(&mut back).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        let mut reader = LineReader::new(&[b'a', ESC][..]);
        let error = reader.read_to_end(&mut back).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}
