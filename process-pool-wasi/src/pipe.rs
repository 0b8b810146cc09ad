//! [`CappedPipe`]: a guest's stdout or stderr, kept up to the pool's limit and drained beyond.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use process_pool_core::backend::CappedBuffer;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// An output stream that keeps the first `limit` bytes a guest writes and accepts (and drops)
/// the rest, as the native backend drains a pipe: a guest is never failed or blocked for
/// writing too much, and the result says its output was truncated.
///
/// (wasmtime-wasi's `MemoryOutputPipe` traps the guest when full instead.)
#[derive(Debug, Clone)]
pub(crate) struct CappedPipe {
    buffer: Arc<Mutex<CappedBuffer>>,
}

impl CappedPipe {
    pub(crate) fn new(limit: usize) -> Self {
        CappedPipe {
            buffer: Arc::new(Mutex::new(CappedBuffer::new(limit))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, CappedBuffer> {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write_all(&self, bytes: &[u8]) {
        self.lock().extend(bytes);
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
