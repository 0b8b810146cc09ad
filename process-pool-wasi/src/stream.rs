//! A guest's stdio streamed to and from the host as it runs, in bounded memory: [`ChannelOut`]
//! (a stdout or stderr whose bytes go through a bounded channel to a [`Sink`], so a slow
//! destination makes the guest wait in its write), and [`WatchedReader`] (a stdin reader whose
//! failure stops the guest).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use process_pool_core::backend::{Captured, Sink};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, PollSender};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Most bytes one write of the guest hands over.
const WRITE_BUDGET: usize = 64 << 10;
/// Writes in flight between the guest and the sink: at most this many budgets are held.
const IN_FLIGHT: usize = 16;

/// A guest's stdout or stderr whose writes travel through a bounded channel to the host.
#[derive(Debug, Clone)]
pub(crate) struct ChannelOut {
    tx: mpsc::Sender<Bytes>,
}

impl ChannelOut {
    /// The stream, and the task's end that writes what the guest writes into `sink`: run it
    /// beside the guest; it ends when the guest's store (holding the stream) is dropped.
    pub(crate) fn new(sink: Sink) -> (ChannelOut, impl Future<Output = Captured>) {
        let (tx, mut rx) = mpsc::channel::<Bytes>(IN_FLIGHT);
        let pump = async move {
            let mut sink = sink;
            while let Some(bytes) = rx.recv().await {
                sink.write(&bytes).await;
            }
            sink.finish().await
        };
        (ChannelOut { tx }, pump)
    }
}

impl IsTerminal for ChannelOut {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for ChannelOut {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(GuestWriter {
            tx: self.tx.clone(),
            permit: None,
        })
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(AsyncOut(PollSender::new(self.tx.clone())))
    }
}

/// One handle of the guest on the stream: room is a permit for one write in the channel.
struct GuestWriter {
    tx: mpsc::Sender<Bytes>,
    permit: Option<mpsc::OwnedPermit<Bytes>>,
}

impl GuestWriter {
    /// Takes room for one write if there is some now; `Err` once the host stopped reading.
    fn try_room(&mut self) -> Result<bool, StreamError> {
        if self.permit.is_some() {
            return Ok(true);
        }
        match self.tx.clone().try_reserve_owned() {
            Ok(permit) => {
                self.permit = Some(permit);
                Ok(true)
            }
            Err(mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(StreamError::Closed),
        }
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for GuestWriter {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        if bytes.is_empty() {
            return Ok(());
        }
        if !self.try_room()? {
            return Err(StreamError::Trap(wasmtime::format_err!(
                "a write without room: check_write was not asked first"
            )));
        }
        if let Some(permit) = self.permit.take() {
            permit.send(bytes);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        // A write is the host's once it is in the channel.
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(if self.try_room()? { WRITE_BUDGET } else { 0 })
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestWriter {
    async fn ready(&mut self) {
        if self.permit.is_none()
            && let Ok(permit) = self.tx.clone().reserve_owned().await
        {
            self.permit = Some(permit);
        }
        // Closed: `check_write` says so.
    }
}

/// The stream as an `AsyncWrite`, for wasmtime's WASIp3 path.
struct AsyncOut(PollSender<Bytes>);

impl AsyncWrite for AsyncOut {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.0.poll_reserve(cx)).map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        let n = buf.len().min(WRITE_BUDGET);
        self.0
            .send_item(Bytes::copy_from_slice(&buf[..n]))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.close();
        Poll::Ready(Ok(()))
    }
}

/// A guest's stdin reader that remembers its first error and cancels `failed` with it: the
/// guest's input is incomplete, and the job is stopped rather than left to read a short file.
pub(crate) struct WatchedReader<R> {
    inner: R,
    failed: CancellationToken,
    error: Arc<Mutex<Option<io::Error>>>,
    program: String,
}

impl<R> WatchedReader<R> {
    pub(crate) fn new(inner: R, program: String, failed: CancellationToken) -> Self {
        WatchedReader {
            inner,
            failed,
            error: Arc::default(),
            program,
        }
    }

    /// Where its error will be.
    pub(crate) fn error(&self) -> Arc<Mutex<Option<io::Error>>> {
        Arc::clone(&self.error)
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for WatchedReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Err(error)) = &polled {
            let mut slot = this.error.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(io::Error::new(
                    error.kind(),
                    format!("reading the stdin of `{}` failed: {error}", this.program),
                ));
            }
            this.failed.cancel();
        }
        polled
    }
}
