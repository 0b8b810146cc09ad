//! One worker's task: start it (with retries and backoff), read its hello, then pass its
//! frames to the pool until it ends, and report how it ended.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use process_pool_protocol::{Frame, FrameCodec, Hello, Kind, PROTOCOL_VERSION};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};

use super::backend::{StartedWorker, WorkerId};
use super::pool::Shared;

/// The longest wait between two start attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long frames written just before a worker exited are still read.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);

type Frames = FramedRead<Box<dyn AsyncRead + Send + Unpin>, FrameCodec>;

/// Serves the worker `id` from its start to its end.
pub(crate) async fn run(shared: Arc<Shared>, id: WorkerId) {
    let config = &shared.config;
    let mut attempt = 0;
    let (mut frames, to_worker, mut exited, control, hello) = loop {
        attempt += 1;
        match start(&shared, id).await {
            Ok(started) => break started,
            Err(reason) => {
                tracing::warn!(worker = id, attempt, %reason, "worker failed to start");
                if attempt > config.startup_retries || shared.lock().closed {
                    shared.start_failed(id, attempt, reason);
                    return;
                }
                let backoff = config
                    .startup_backoff
                    .saturating_mul(1 << (attempt - 1).min(16))
                    .min(MAX_BACKOFF);
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shared.stopping.cancelled() => {
                        shared.start_failed(id, attempt, reason);
                        return;
                    }
                }
            }
        }
    };
    let pid = control.pid();
    if shared.worker_ready(id, to_worker, Arc::clone(&control), &hello) {
        tracing::debug!(worker = id, pid, "worker ready");
        if let Some(hook) = &shared.hooks.start {
            hook(&super::WorkerEvent {
                id,
                pid,
                reason: "started".to_owned(),
                exit: None,
            });
        }
    } else {
        // Shut down, resized or killed while it started: ask it to go.
        shared.retire_idle(&mut shared.lock());
    }

    let mut protocol = None;
    let exit = loop {
        tokio::select! {
            frame = frames.next() => match frame {
                Some(Ok(frame)) => {
                    if let Err(reason) = shared.on_frame(id, frame) {
                        protocol = Some(reason);
                        control.kill();
                    }
                }
                Some(Err(error)) => {
                    if protocol.is_none() {
                        protocol = Some(error.to_string());
                    }
                    control.kill();
                    break exited.await;
                }
                None => {
                    // Its stdout is closed: it is going, or it must.
                    let status = tokio::time::timeout(config.cancel_grace, &mut exited).await;
                    match status {
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
    let tail = control.stderr_tail();
    if let Some((event, crashed)) = shared.worker_died(id, exit, tail, protocol) {
        if crashed {
            tracing::warn!(worker = id, pid, reason = %event.reason, exit = ?event.exit, "worker crashed");
        } else {
            tracing::debug!(worker = id, pid, reason = %event.reason, "worker stopped");
        }
        let hook = if crashed {
            &shared.hooks.crash
        } else {
            &shared.hooks.stop
        };
        if let Some(hook) = hook {
            hook(&event);
        }
    }
}

type Started = (
    Frames,
    mpsc::UnboundedSender<Frame>,
    std::pin::Pin<Box<dyn std::future::Future<Output = crate::ExitStatus> + Send>>,
    Arc<dyn super::WorkerControl>,
    Hello,
);

/// Starts the worker and reads its hello (and runs the warm-up call); on failure the worker
/// is killed and reaped, and the reason names what went wrong.
async fn start(shared: &Arc<Shared>, id: WorkerId) -> Result<Started, String> {
    let config = &shared.config;
    let StartedWorker {
        reader,
        writer,
        mut exited,
        control,
    } = shared.spawner.start(id).await.map_err(|e| e.to_string())?;
    let mut frames = FramedRead::new(reader, FrameCodec::new(config.max_frame));
    let (to_worker, outgoing) = mpsc::unbounded_channel();
    tokio::spawn(write_frames(writer, outgoing));
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
        Ok(Ok(hello)) => Ok((frames, to_worker, exited, control, hello)),
        outcome => {
            control.kill();
            let status = match ended {
                Some(status) => status,
                None => exited.await,
            };
            let reason = match outcome {
                Ok(Err(reason)) => reason,
                _ => format!("no hello within {:?}", config.startup_timeout),
            };
            let tail = super::error::describe_tail(&control.stderr_tail());
            let status = super::error::describe_status(&status);
            Err(format!("{reason} ({status}){tail}"))
        }
    }
}

/// The next frame during the start, or why there is none.
async fn next_frame(
    frames: &mut Frames,
    exited: &mut std::pin::Pin<Box<dyn std::future::Future<Output = crate::ExitStatus> + Send>>,
    ended: &mut Option<crate::ExitStatus>,
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
/// pool drops its sender or the worker's stdin closes.
async fn write_frames(
    writer: Box<dyn AsyncWrite + Send + Unpin>,
    mut frames: mpsc::UnboundedReceiver<Frame>,
) {
    // Frame sizes were checked against the worker's limit before sending.
    let mut sink = FramedWrite::new(writer, FrameCodec::new(usize::MAX));
    while let Some(frame) = frames.recv().await {
        if sink.feed(frame).await.is_err() {
            return;
        }
        if frames.is_empty() && sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.flush().await;
}
