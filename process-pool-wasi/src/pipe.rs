//! [`CappedPipe`]: a guest's stdout or stderr, kept up to the pool's limit and drained beyond.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use std::collections::VecDeque;

use bytes::Bytes;
use process_pool_core::OutputLine;
use process_pool_core::backend::{CappedBuffer, LineSplitter};
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// An output stream that keeps the first `limit` bytes a guest writes and accepts (and drops)
/// the rest, as the native backend drains a pipe: a guest is never failed or blocked for
/// writing too much, and the result says its output was truncated.
///
/// (wasmtime-wasi's `MemoryOutputPipe` traps the guest when full instead.)
///
/// With a job's live output ([`Job::output_lines`](process_pool_core::Job::output_lines)), the
/// lines are also sent on as the guest writes them; a guest is not blocked for a slow reader:
/// what the channel has no room for waits here (within the output limit) and goes on when
/// the job ends.
#[derive(Debug, Clone)]
pub(crate) struct CappedPipe {
    buffer: Arc<Mutex<CappedBuffer>>,
    lines: Option<Arc<Mutex<Lines>>>,
}

/// A stream's live lines: the splitter, the job's channel, and the lines waiting for room.
#[derive(Debug)]
pub(crate) struct Lines {
    splitter: LineSplitter,
    tx: mpsc::Sender<OutputLine>,
    waiting: VecDeque<OutputLine>,
}

impl Lines {
    pub(crate) fn new(splitter: LineSplitter, tx: mpsc::Sender<OutputLine>) -> Self {
        Lines {
            splitter,
            tx,
            waiting: VecDeque::new(),
        }
    }

    /// Sends what there is room for now, keeping the order.
    fn send_ready(&mut self) {
        while let Some(line) = self.waiting.pop_front() {
            match self.tx.try_send(line) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(line)) => {
                    self.waiting.push_front(line);
                    return;
                }
                // Nobody reads them any more.
                Err(mpsc::error::TrySendError::Closed(_)) => self.waiting.clear(),
            }
        }
    }
}

impl CappedPipe {
    pub(crate) fn new(limit: usize, lines: Option<Lines>) -> Self {
        CappedPipe {
            buffer: Arc::new(Mutex::new(CappedBuffer::new(limit))),
            lines: lines.map(|lines| Arc::new(Mutex::new(lines))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, CappedBuffer> {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write_all(&self, bytes: &[u8]) {
        self.lock().extend(bytes);
        if let Some(lines) = &self.lines {
            let mut lines = lines.lock().unwrap_or_else(|p| p.into_inner());
            let complete = lines.splitter.push(bytes);
            lines.waiting.extend(complete);
            lines.send_ready();
        }
    }

    /// Sends the lines still waiting and the end of an unfinished last line, waiting for room:
    /// called once the guest has ended.
    pub(crate) async fn send_lines(&self) {
        let Some(lines) = &self.lines else { return };
        let (tx, waiting) = {
            let mut lines = lines.lock().unwrap_or_else(|p| p.into_inner());
            let last = lines.splitter.finish();
            lines.waiting.extend(last);
            (lines.tx.clone(), std::mem::take(&mut lines.waiting))
        };
        for line in waiting {
            if tx.send(line).await.is_err() {
                return;
            }
        }
    }

    /// The bytes kept and whether more were written.
    pub(crate) fn finish(&self) -> (Bytes, bool) {
        std::mem::take(&mut *self.lock()).finish()
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.write_all(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always room: what does not fit is counted as truncation, not refused.
        Ok(64 << 10)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write_all(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
