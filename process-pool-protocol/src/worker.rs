//! The worker side in Rust: a program that serves named methods to a pool over its stdin and
//! stdout.

use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::io;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

use crate::{ErrorCode, Frame, FrameCodec, FrameError, Hello, Kind};

/// What a method returns: its reply, or the error sent back with [`ErrorCode::Failed`].
type Outcome = Result<Bytes, (ErrorCode, String)>;
type BoxFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;
type AsyncHandler = Arc<dyn Fn(Bytes, CallContext) -> BoxFuture + Send + Sync>;
type BlockingHandler = Arc<dyn Fn(Bytes, &CallContext) -> Outcome + Send + Sync>;

#[derive(Clone)]
enum Handler {
    Async(AsyncHandler),
    Blocking(BlockingHandler),
}

/// What a method may ask about the call it serves.
#[derive(Debug, Clone)]
pub struct CallContext {
    id: u64,
    cancel: CancellationToken,
}

impl CallContext {
    /// The call's id, as the pool chose it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the pool has asked to stop this call. A blocking method that checks it and
    /// returns early is answered with [`ErrorCode::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Completes when the pool asks to stop this call.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }
}

/// A worker: named methods, served over stdin/stdout with the process-pool protocol.
///
/// An async method's future is dropped when its call is cancelled; a blocking method runs on
/// tokio's blocking threads and may check [`CallContext::is_cancelled`]. A method that panics
/// fails its call with [`ErrorCode::Panicked`]; the worker goes on.
///
/// ```no_run
/// use process_pool_protocol::Worker;
///
/// fn main() -> std::io::Result<()> {
///     Worker::new()
///         .method("echo", |input| async move { Ok::<_, String>(input) })
///         .blocking("upper", |input, _call| {
///             Ok::<_, String>(input.to_ascii_uppercase())
///         })
///         .concurrency(4)
///         .run()
/// }
/// ```
pub struct Worker {
    methods: HashMap<String, Handler>,
    concurrency: u32,
    max_frame: usize,
    spin: Duration,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut methods: Vec<&String> = self.methods.keys().collect();
        methods.sort();
        f.debug_struct("Worker")
            .field("methods", &methods)
            .field("concurrency", &self.concurrency)
            .field("max_frame", &self.max_frame)
            .field("spin", &self.spin)
            .finish()
    }
}

impl Default for Worker {
    fn default() -> Self {
        Worker::new()
    }
}

fn failed(error: impl Display) -> (ErrorCode, String) {
    (ErrorCode::Failed, error.to_string())
}

impl Worker {
    /// A worker with no methods, one call at a time.
    pub fn new() -> Worker {
        Worker {
            methods: HashMap::new(),
            concurrency: 1,
            max_frame: crate::DEFAULT_MAX_FRAME,
            spin: Duration::ZERO,
        }
    }

    /// Serves `name` with an async function of the call's payload.
    pub fn method<F, Fut, T, E>(self, name: impl Into<String>, handler: F) -> Worker
    where
        F: Fn(Bytes) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Into<Bytes>,
        E: Display,
    {
        self.method_with_context(name, move |payload, _call| handler(payload))
    }

    /// Serves `name` with an async function of the payload and the [`CallContext`].
    pub fn method_with_context<F, Fut, T, E>(
        mut self,
        name: impl Into<String>,
        handler: F,
    ) -> Worker
    where
        F: Fn(Bytes, CallContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Into<Bytes>,
        E: Display,
    {
        let handler: AsyncHandler = Arc::new(move |payload, call| {
            let future = handler(payload, call);
            Box::pin(async move { future.await.map(Into::into).map_err(failed) })
        });
        self.methods.insert(name.into(), Handler::Async(handler));
        self
    }

    /// Serves `name` with a blocking function, run on tokio's blocking threads.
    pub fn blocking<F, T, E>(mut self, name: impl Into<String>, handler: F) -> Worker
    where
        F: Fn(Bytes, &CallContext) -> Result<T, E> + Send + Sync + 'static,
        T: Into<Bytes>,
        E: Display,
    {
        let handler: BlockingHandler =
            Arc::new(move |payload, call| handler(payload, call).map(Into::into).map_err(failed));
        self.methods.insert(name.into(), Handler::Blocking(handler));
        self
    }

    /// Serves `name` with an async function of a typed argument, read from the payload as
    /// JSON, its result written back as JSON. A payload that does not parse fails the call
    /// with [`ErrorCode::BadRequest`].
    #[cfg(feature = "json")]
    pub fn typed<A, R, E, F, Fut>(mut self, name: impl Into<String>, handler: F) -> Worker
    where
        A: serde::de::DeserializeOwned + Send + 'static,
        R: serde::Serialize,
        E: Display,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let wrapped: AsyncHandler = Arc::new(move |payload: Bytes, _call| {
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                let argument: A = serde_json::from_slice(&payload)
                    .map_err(|e| (ErrorCode::BadRequest, format!("bad argument: {e}")))?;
                let result = handler(argument).await.map_err(failed)?;
                serde_json::to_vec(&result)
                    .map(Bytes::from)
                    .map_err(|e| failed(format!("cannot write the result as JSON: {e}")))
            })
        });
        self.methods.insert(name.into(), Handler::Async(wrapped));
        self
    }

    /// How many calls run at once (default 1); the pool sends no more than this.
    pub fn concurrency(mut self, calls: u32) -> Worker {
        self.concurrency = calls.max(1);
        self
    }

    /// The largest frame accepted or sent, in bytes (default 16 MiB). A reply larger than this
    /// fails its call with [`ErrorCode::TooLarge`].
    pub fn max_frame(mut self, bytes: usize) -> Worker {
        self.max_frame = bytes;
        self
    }

    /// How long the worker keeps polling for its next frame before it sleeps (default 0: it
    /// sleeps at once).
    ///
    /// A sleeping worker is woken by the pool's next call, and on a virtual machine whose idle
    /// CPUs halt, that wake-up is most of a round trip: on the 2-vCPU VM of our benchmark,
    /// 56 µs a call at one worker, 19 µs with 50 µs of spinning. Spinning costs CPU: up to
    /// `time` after each frame, and it slowed 2 workers on 2 cores, all busy, by 1.7×. Use it
    /// for latency, with fewer workers than cores. Other tasks and timers still run between
    /// polls.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use process_pool_protocol::Worker;
    ///
    /// fn main() -> std::io::Result<()> {
    ///     Worker::new()
    ///         .method("echo", |input| async move { Ok::<_, String>(input) })
    ///         .spin(Duration::from_micros(50))
    ///         .run()
    /// }
    /// ```
    pub fn spin(mut self, time: Duration) -> Worker {
        self.spin = time;
        self
    }

    /// The handshake this worker sends.
    pub fn hello(&self) -> Hello {
        let mut methods: Vec<String> = self.methods.keys().cloned().collect();
        methods.sort();
        let mut hello = Hello::new(methods).concurrency(self.concurrency);
        hello.max_frame = self.max_frame as u64;
        hello
    }

    /// Serves on stdin and stdout until the pool sends shutdown or closes stdin, in a new
    /// single-threaded tokio runtime: async methods share one thread (they are meant to
    /// wait, not to compute), blocking methods run on tokio's blocking threads. For a `main`
    /// without tokio; a multi-threaded runtime of your own can call [`serve`](Self::serve).
    pub fn run(self) -> io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let result = runtime.block_on(self.serve());
        // A blocking method that ignored its cancel must not keep the process alive.
        runtime.shutdown_background();
        result
    }

    /// Serves on stdin and stdout until the pool sends shutdown or closes stdin.
    ///
    /// Where they are pipes (as a pool starts its workers) they are read and written without
    /// blocking, on the runtime's own thread; otherwise through tokio's `stdin()` and
    /// `stdout()`, which hand each read and write to a blocking thread.
    pub async fn serve(self) -> io::Result<()> {
        #[cfg(unix)]
        if let Ok((reader, writer)) = stdio_pipes() {
            return self.serve_on(reader, writer).await;
        }
        self.serve_on(tokio::io::stdin(), tokio::io::stdout()).await
    }

    /// Serves on any byte streams (a test's pipes, a socket). Returns when the pool sends
    /// shutdown (after the calls in flight are answered) or closes its end (calls in flight
    /// are then abandoned), or with an error if a frame is malformed.
    pub async fn serve_on<R, W>(self, reader: R, writer: W) -> io::Result<()>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let codec = FrameCodec::new(self.max_frame);
        let (out, frames) = mpsc::unbounded_channel::<Frame>();
        let writing = tokio::spawn(write_frames(writer, self.max_frame, frames));
        let hello = Frame {
            kind: Kind::Hello,
            id: 0,
            name: String::new(),
            payload: self.hello().to_json(),
        };
        let _ = out.send(hello);
        let in_flight: Arc<Mutex<HashMap<u64, CancellationToken>>> = Arc::default();
        let mut incoming = FramedRead::new(reader, codec);
        let result = loop {
            let next = if self.spin > Duration::ZERO {
                spin_next(&mut incoming, self.spin).await
            } else {
                incoming.next().await
            };
            let frame = match next {
                None => break Ok(false),
                Some(Ok(frame)) => frame,
                Some(Err(FrameError::Io(e))) => break Err(e),
                Some(Err(e)) => break Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            };
            match frame.kind {
                Kind::Call => self.start_call(frame, &in_flight, &out),
                Kind::Cancel => {
                    if let Some(token) = lock(&in_flight).get(&frame.id) {
                        token.cancel();
                    }
                }
                Kind::Ping => {
                    let _ = out.send(Frame::bare(Kind::Pong, frame.id));
                }
                Kind::Shutdown => break Ok(true),
                other => {
                    break Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("a worker does not expect a {other:?} frame"),
                    ));
                }
            }
        };
        if !matches!(result, Ok(true)) {
            // The pool is gone or broke the protocol: nobody waits for the answers.
            for token in lock(&in_flight).values() {
                token.cancel();
            }
            writing.abort();
            return result.map(drop);
        }
        // The writer ends once every call has answered (each holds a sender) and this one
        // is dropped.
        drop(out);
        writing.await.map_err(io::Error::other)?
    }

    fn start_call(
        &self,
        frame: Frame,
        in_flight: &Arc<Mutex<HashMap<u64, CancellationToken>>>,
        out: &mpsc::UnboundedSender<Frame>,
    ) {
        let id = frame.id;
        let refuse = |code, message: String| {
            let _ = out.send(Frame::error(id, code, message));
        };
        let Some(handler) = self.methods.get(&frame.name).cloned() else {
            return refuse(
                ErrorCode::UnknownMethod,
                format!("unknown method `{}`", frame.name),
            );
        };
        let call = CallContext {
            id,
            cancel: CancellationToken::new(),
        };
        {
            let mut calls = lock(in_flight);
            if calls.len() >= self.concurrency as usize {
                return refuse(
                    ErrorCode::Overloaded,
                    format!("{} calls in flight, the most this worker runs", calls.len()),
                );
            }
            if calls.contains_key(&id) {
                return refuse(
                    ErrorCode::BadRequest,
                    format!("call id {id} is already in flight"),
                );
            }
            calls.insert(id, call.cancel.clone());
        }
        let in_flight = Arc::clone(in_flight);
        let out = out.clone();
        tokio::spawn(async move {
            let outcome = run(handler, frame.payload, call.clone()).await;
            lock(&in_flight).remove(&id);
            let frame = match outcome {
                Ok(reply) => Frame::reply(id, reply),
                Err((code, message)) => Frame::error(id, code, message),
            };
            let _ = out.send(frame);
        });
    }
}

/// Runs one call to its outcome: cancelled, panicked, or what the method returned.
async fn run(handler: Handler, payload: Bytes, call: CallContext) -> Outcome {
    let cancelled = || (ErrorCode::Cancelled, "cancelled".to_owned());
    let outcome = match handler {
        Handler::Async(handler) => {
            let future = AssertUnwindSafe(handler(payload, call.clone())).catch_unwind();
            tokio::select! {
                outcome = future => outcome.unwrap_or_else(|panic| Err(panicked(&*panic))),
                () = call.cancel.cancelled() => Err(cancelled()),
            }
        }
        Handler::Blocking(handler) => {
            let context = call.clone();
            match tokio::task::spawn_blocking(move || handler(payload, &context)).await {
                Ok(outcome) => outcome,
                Err(error) => match error.try_into_panic() {
                    Ok(panic) => Err(panicked(&*panic)),
                    Err(error) => Err(failed(error)),
                },
            }
        }
    };
    if call.is_cancelled() && outcome.is_err() {
        return Err(cancelled());
    }
    outcome
}

fn panicked(panic: &(dyn std::any::Any + Send)) -> (ErrorCode, String) {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-string payload".to_owned());
    (
        ErrorCode::Panicked,
        format!("the method panicked: {message}"),
    )
}

/// Writes frames as they come, flushing whenever none is waiting, each within `max_frame`
/// ([`fit`]).
async fn write_frames<W: AsyncWrite + Unpin>(
    writer: W,
    max_frame: usize,
    mut frames: mpsc::UnboundedReceiver<Frame>,
) -> io::Result<()> {
    // The limit is applied by `fit`, which never fails: the codec's own would.
    let mut sink = FramedWrite::new(writer, FrameCodec::new(usize::MAX));
    while let Some(frame) = frames.recv().await {
        sink.feed(fit(frame, max_frame)).await.map_err(into_io)?;
        if frames.is_empty() {
            sink.flush().await.map_err(into_io)?;
        }
    }
    sink.flush().await.map_err(into_io)
}

/// A frame made to fit the worker's frame limit: a reply over it becomes a
/// [`ErrorCode::TooLarge`] error for its call, and an error's message is cut to fit (to
/// nothing under a limit too small for any). The hello goes as it is: the pool's limit is the
/// one that counts for it.
fn fit(frame: Frame, max: usize) -> Frame {
    if frame.encoded_len() <= max || frame.kind == Kind::Hello {
        return frame;
    }
    let frame = match frame.kind {
        Kind::Reply => {
            let message = format!(
                "the reply of {} bytes exceeds the frame limit of {max} bytes",
                frame.encoded_len()
            );
            Frame::error(frame.id, ErrorCode::TooLarge, message)
        }
        _ => frame,
    };
    let room = max.saturating_sub(crate::HEADER_LEN + frame.name.len());
    if frame.kind != Kind::Error || frame.payload.len() <= room {
        return frame;
    }
    let message = String::from_utf8_lossy(&frame.payload);
    let mut end = room.min(message.len());
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    Frame {
        payload: Bytes::copy_from_slice(&message.as_bytes()[..end]),
        ..frame
    }
}

fn into_io(error: FrameError) -> io::Error {
    match error {
        FrameError::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

/// This process's stdin and stdout as non-blocking pipe ends, if both are pipes.
#[cfg(unix)]
fn stdio_pipes() -> io::Result<(
    tokio::net::unix::pipe::Receiver,
    tokio::net::unix::pipe::Sender,
)> {
    use std::os::fd::AsFd;
    let stdin = io::stdin().as_fd().try_clone_to_owned()?;
    let stdout = io::stdout().as_fd().try_clone_to_owned()?;
    Ok((
        tokio::net::unix::pipe::Receiver::from_owned_fd(stdin)?,
        tokio::net::unix::pipe::Sender::from_owned_fd(stdout)?,
    ))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The next frame, polled without sleeping for up to `time`: each turn lets the runtime look
/// at its I/O without waiting, so the thread (and its CPU) stays awake.
async fn spin_next<S: futures::Stream + Unpin>(
    incoming: &mut S,
    time: Duration,
) -> Option<S::Item> {
    let deadline = std::time::Instant::now() + time;
    loop {
        if let std::task::Poll::Ready(next) = futures::poll!(incoming.next()) {
            return next;
        }
        if std::time::Instant::now() >= deadline {
            return incoming.next().await;
        }
        tokio::task::yield_now().await;
    }
}
