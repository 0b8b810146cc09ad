//! One worker's task: start it (retried under the pool's start-up policy), read its hello, then
//! pass its frames to the pool until it ends, and report how it ended. The worker is killed
//! (with its process group) whenever this task ends or is dropped before it was reaped.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use process_pool_protocol::{Frame, FrameCodec, Hello, Kind, PROTOCOL_VERSION};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};

use super::Shared;
use super::error::{describe_status, describe_tail};
use super::faults::Death;
use crate::backend::{ExitStatus, StartedWorker, WorkerControl, WorkerId};
use crate::engine::retry::{Decision, RetryOn};

/// How long frames written just before a worker exited are still read.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);

type Frames = FramedRead<Box<dyn AsyncRead + Send + Unpin>, FrameCodec>;
type Exited = Pin<Box<dyn Future<Output = ExitStatus> + Send>>;

/// Kills a worker that its task leaves behind: the task dropped (a runtime shutting down), or
/// ended before the worker was reaped.
struct KillOnDrop(Option<Arc<dyn WorkerControl>>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(control) = self.0.take() {
            control.kill();
        }
    }
}

/// A worker that said hello.
struct Started {
    frames: Frames,
    to_worker: mpsc::UnboundedSender<Frame>,
    exited: Exited,
    control: Arc<dyn WorkerControl>,
    hello: Hello,
}

/// Serves the worker `id` from its start to its end.
pub(crate) async fn run(shared: Arc<Shared>, id: WorkerId) {
    let mut guard = KillOnDrop(None);
    let Some(started) = start_with_retries(&shared, id, &mut guard).await else {
        return;
    };
    let Started {
        mut frames,
        to_worker,
        mut exited,
        control,
        hello,
    } = started;
    let pid = control.pid();
    if shared.worker_ready(id, to_worker, &hello) {
        tracing::debug!(worker = id, pid, "worker ready");
        let event = super::WorkerEvent {
            id,
            pid,
            reason: "started".to_owned(),
            exit: None,
        };
        shared
            .hooks
            .worker(&shared.hooks.start, "on_worker_start", &event);
    }

    let mut protocol = None;
    let exit = loop {
        tokio::select! {
            frame = frames.next() => match frame {
                Some(Ok(frame)) => {
                    // The first violation ends the worker: what it wrote after is not read
                    // (a worker answering one call thousands of times costs one lookup).
                    if let Err(reason) = shared.on_frame(id, frame) {
                        protocol = Some(reason);
                        control.kill();
                        break exited.await;
                    }
                }
                Some(Err(error)) => {
                    protocol = Some(error.to_string());
                    control.kill();
                    break exited.await;
                }
                None => {
                    // Its stdout is closed: it is going, or it must.
                    match tokio::time::timeout(shared.config.options.kill_grace, &mut exited).await {
                        Ok(status) => break status,
                        Err(_) => {
                            control.kill();
                            break exited.await;
                        }
                    }
                }
            },
            status = &mut exited => {
                // What it wrote before it ended is still answered.
                let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, async {
                    while let Some(Ok(frame)) = frames.next().await {
                        if shared.on_frame(id, frame).is_err() {
                            break;
                        }
                    }
                })
                .await;
                break status;
            }
        }
    };
    // Reaped: nothing left to kill (and its pid may be someone else's now).
    guard.0 = None;
    let death = Death {
        exit,
        stderr_tail: control.stderr_tail(),
        protocol,
    };
    let hooks = &shared.hooks;
    shared.worker_died(id, death, |event, crashed| {
        if crashed {
            tracing::warn!(worker = id, pid, reason = %event.reason, exit = ?event.exit, "worker crashed");
            hooks.worker(&hooks.crash, "on_worker_crash", event);
        } else {
            tracing::debug!(worker = id, pid, reason = %event.reason, "worker stopped");
            hooks.worker(&hooks.stop, "on_worker_stop", event);
        }
    });
}

/// Starts the worker, retrying as the start-up policy says; `None` once it has given up (and
/// told the pool) or the pool no longer wants it.
async fn start_with_retries(
    shared: &Arc<Shared>,
    id: WorkerId,
    guard: &mut KillOnDrop,
) -> Option<Started> {
    let policy = &shared.config.startup_retry;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (reason, permanent) = match start(shared, id, guard).await {
            Ok(started) => return Some(started),
            Err(failure) => failure,
        };
        tracing::warn!(worker = id, attempt, %reason, "worker failed to start");
        let wanted = shared
            .lock()
            .workers
            .get(&id)
            .is_some_and(|s| s.killed_because.is_none());
        let decision = policy.decide(
            Some(RetryOn::SPAWN_FAILURE),
            Some(wanted && !permanent),
            attempt,
            None,
        );
        let delay = match decision {
            Decision::No => {
                shared.start_failed(id, attempt, reason);
                return None;
            }
            decision => decision.delay(),
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shared.stopping.cancelled() => {
                shared.start_failed(id, attempt, reason);
                return None;
            }
        }
    }
}

/// Starts the worker and reads its hello (and runs the warm-up call). On failure the worker is
/// killed and reaped, and the reason says what went wrong, with whether retrying is hopeless
/// (a program that does not exist or may not be run).
async fn start(
    shared: &Arc<Shared>,
    id: WorkerId,
    guard: &mut KillOnDrop,
) -> Result<Started, (String, bool)> {
    let config = &shared.config;
    let Some(killed) = shared.lock().workers.get(&id).map(|s| s.killed.clone()) else {
        return Err(("the pool gave it up".into(), true));
    };
    // A start in progress (a module compiling, an allocation pending) is given up when the
    // pool kills the worker: dropping the backend's future must end what it began.
    let started = tokio::select! {
        biased;
        () = killed.cancelled() => return Err(("the pool stopped while it started".into(), true)),
        started = shared.spawner.start(id) => started,
    };
    let StartedWorker {
        reader,
        writer,
        mut exited,
        control,
    } = started.map_err(|error| {
        let permanent = matches!(
            error.kind(),
            io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied | io::ErrorKind::InvalidInput
        );
        (error.to_string(), permanent)
    })?;
    guard.0 = Some(Arc::clone(&control));
    if !shared.worker_spawned(id, &control) {
        control.kill();
    }
    let mut frames = FramedRead::new(reader, FrameCodec::new(config.max_frame));
    let (to_worker, outgoing) = mpsc::unbounded_channel();
    let stalled = {
        let (shared, limit) = (Arc::clone(shared), config.write_timeout);
        move || {
            if let Some(slot) = shared.lock().workers.get_mut(&id) {
                slot.kill(format!("did not read its stdin for {limit:?}"));
            }
        }
    };
    tokio::spawn(write_frames(
        writer,
        outgoing,
        config.write_timeout,
        stalled,
    ));
    // How it ended, if it did while starting (the future cannot be awaited twice).
    let mut ended = None;
    let greeting = async {
        let hello = next_frame(&mut frames, &mut exited, &mut ended).await?;
        if hello.kind != Kind::Hello {
            return Err(format!(
                "its first frame is a {:?}, not a Hello",
                hello.kind
            ));
        }
        let hello = Hello::parse(&hello.payload)?;
        if hello.protocol != PROTOCOL_VERSION {
            return Err(format!(
                "it speaks protocol version {}, the pool {PROTOCOL_VERSION}",
                hello.protocol
            ));
        }
        if let Some((method, payload)) = &config.warm_up {
            let _ = to_worker.send(Frame::call(0, method.clone(), payload.clone()));
            let answer = next_frame(&mut frames, &mut exited, &mut ended).await?;
            match answer.kind {
                Kind::Reply if answer.id == 0 => {}
                Kind::Error if answer.id == 0 => {
                    return Err(format!(
                        "its warm-up call `{method}` failed ({}): {}",
                        answer.name,
                        String::from_utf8_lossy(&answer.payload)
                    ));
                }
                other => return Err(format!("a {other:?} frame in answer to its warm-up")),
            }
        }
        Ok(hello)
    };
    match tokio::time::timeout(config.startup_timeout, greeting).await {
        Ok(Ok(hello)) => Ok(Started {
            frames,
            to_worker,
            exited,
            control,
            hello,
        }),
        outcome => {
            control.kill();
            let status = match ended {
                Some(status) => status,
                None => exited.await,
            };
            guard.0 = None;
            let reason = match outcome {
                Ok(Err(reason)) => reason,
                _ => format!("no hello within {:?}", config.startup_timeout),
            };
            let tail = describe_tail(&control.stderr_tail());
            let status = describe_status(&status);
            Err((format!("{reason} ({status}){tail}"), false))
        }
    }
}

/// The next frame during the start, or why there is none.
async fn next_frame(
    frames: &mut Frames,
    exited: &mut Exited,
    ended: &mut Option<ExitStatus>,
) -> Result<Frame, String> {
    tokio::select! {
        frame = frames.next() => match frame {
            Some(Ok(frame)) => Ok(frame),
            Some(Err(error)) => Err(format!("a malformed frame: {error}")),
            None => {
                // Closed with its exit, as a rule: say how it ended.
                *ended = Some(exited.as_mut().await);
                Err("it exited before its hello".to_owned())
            }
        },
        status = exited.as_mut() => {
            *ended = Some(status);
            Err("it exited before its hello".to_owned())
        }
    }
}

/// Writes the pool's frames to the worker, flushing whenever none is waiting; ends when the
/// pool drops its sender or the worker's stdin closes. A write that makes no progress for
/// `limit` (the worker does not read) calls `stalled`, which kills the worker, as hung.
///
/// What waits here is bounded by the pool, not by the worker: its calls in flight (shared with
/// their callers, not copied), a cancel for each, one ping and one shutdown; and one frame
/// being written.
async fn write_frames(
    writer: Box<dyn AsyncWrite + Send + Unpin>,
    mut frames: mpsc::UnboundedReceiver<Frame>,
    limit: Duration,
    stalled: impl FnOnce(),
) {
    let progress = Arc::new(Progress::default());
    let writer = Watched {
        inner: writer,
        progress: Arc::clone(&progress),
    };
    // Frame sizes were checked against the worker's limit before sending.
    let mut sink = FramedWrite::new(writer, FrameCodec::new(usize::MAX));
    let written = async {
        while let Some(frame) = frames.recv().await {
            progress.mark();
            if sink.feed(frame).await.is_err() {
                return;
            }
            if frames.is_empty() && sink.flush().await.is_err() {
                return;
            }
            progress.idle();
        }
        progress.mark();
        let _ = sink.flush().await;
    };
    tokio::select! {
        () = written => {}
        () = progress.stalled(limit) => stalled(),
    }
}

/// When a worker's stdin last took bytes, while the pool has some to write to it.
#[derive(Debug, Default)]
struct Progress(std::sync::Mutex<Option<tokio::time::Instant>>);

impl Progress {
    /// Bytes are waiting to be written (or were just taken): the clock starts again.
    fn mark(&self) {
        *self.lock() = Some(tokio::time::Instant::now());
    }

    /// Nothing is waiting to be written: no clock.
    fn idle(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<tokio::time::Instant>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Completes once bytes have waited `limit` without the worker taking any.
    async fn stalled(&self, limit: Duration) {
        loop {
            let since = *self.lock();
            match since {
                Some(since) if since.elapsed() >= limit => return,
                Some(since) => tokio::time::sleep_until(since + limit).await,
                None => tokio::time::sleep(limit).await,
            }
        }
    }
}

/// A worker's stdin, marking [`Progress`] whenever it takes bytes.
struct Watched {
    inner: Box<dyn AsyncWrite + Send + Unpin>,
    progress: Arc<Progress>,
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(written, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.progress.mark();
        }
        written
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
