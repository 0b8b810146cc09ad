//! What must hold whatever a worker writes, as a check shared by the fuzz targets (`fuzz/` at
//! the repository's root) and this crate's property tests: a [`WorkerPool`] whose worker's
//! stdout is given bytes, read in given pieces. The check panics when the pool does not hold
//! up.
//!
//! Not part of the API: built for this crate's tests, and with the `fuzzing` feature.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use process_pool_protocol::fuzzing::Pieces;
use process_pool_protocol::{Frame, FrameCodec, Hello, Kind};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::codec::{Decoder, Encoder};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::backend::{ExitStatus, StartedWorker, WorkerControl, WorkerId, WorkerSpawner};
use crate::workers::{Call, WorkerPool};

/// How the scripted worker behaves around what it writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Script {
    /// Its hello is in the bytes (else a valid one comes first, stating `concurrency`).
    pub own_hello: bool,
    /// Calls at once, in the hello written for it.
    pub concurrency: u8,
    /// Once its bytes are out it stays silent (else its stdout ends).
    pub silent_after: bool,
    /// It never reads its stdin: the pool's writes to it wait.
    pub never_reads: bool,
    /// Calls made: `echo` ones, and typed `add` ones every third.
    pub calls: u8,
    /// The pool pings every 50 ms with a deadline of 200 ms.
    pub health_check: bool,
    /// Each call has a 300 ms timeout.
    pub timeout: bool,
}

/// The largest frame the pool accepts in [`pool_session`].
const MAX_FRAME: usize = 64 << 10;

/// A pool with one worker at a time, whose first worker writes `output` (read in pieces cut
/// at `cuts`) and whose later workers cannot start. Asserts, for any bytes, that:
///
/// - every call is answered, once, and the pool shuts down, all within bounds of (virtual)
///   time; nothing panics;
/// - a reply reaches a caller only when the worker wrote that reply: an `echo` gets bytes of
///   a Reply frame in `output`, a typed `add` a number one held; anything else is a typed
///   [`CallError`];
/// - the statistics account for every call, and no worker is left.
///
/// # Panics
///
/// When one of these does not hold.
pub fn pool_session(output: &[u8], cuts: &[usize], script: Script) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(session(output, cuts, script));
}

async fn session(output: &[u8], cuts: &[usize], script: Script) {
    let mut wire = BytesMut::new();
    if !script.own_hello {
        let hello = Hello::new(["echo", "add"]).concurrency(u32::from(script.concurrency.max(1)));
        let hello = Frame {
            kind: Kind::Hello,
            id: 0,
            name: String::new(),
            payload: hello.to_json(),
        };
        FrameCodec::default()
            .encode(hello, &mut wire)
            .expect("a hello fits");
    }
    wire.extend_from_slice(output);
    let wire = wire.freeze();
    let spawner = Scripted {
        output: wire.clone(),
        cuts: cuts.to_vec(),
        script,
        starts: AtomicUsize::new(0),
    };
    let mut builder = WorkerPool::builder()
        .max_workers(1)
        .max_calls_per_worker(4)
        .max_frame(MAX_FRAME)
        .startup_timeout(Duration::from_secs(1))
        .kill_grace(Duration::from_millis(100));
    if script.health_check {
        builder = builder.health_check(Duration::from_millis(50), Duration::from_millis(200));
    }
    if script.timeout {
        builder = builder.timeout(Duration::from_millis(300));
    }
    let pool = builder.build(spawner).expect("a valid pool");
    let calls = usize::from(script.calls % 9);
    let answers: Vec<_> = (0..calls)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                if i % 3 == 2 {
                    let i = i64::try_from(i).unwrap_or(0);
                    pool.call_json::<_, i64>("add", &(i, 1))
                        .await
                        .map(Answer::Sum)
                } else {
                    let call = Call::new("echo", format!("call {i}"));
                    pool.submit(call).await.map(Answer::Echo)
                }
            })
        })
        .collect();
    let all = futures::future::join_all(answers);
    tokio::pin!(all);
    // Long enough for every timer the pool has (start-up, grace, retries' backoff) to fire.
    let answered = tokio::time::timeout(Duration::from_secs(120), &mut all).await;
    let stats = tokio::time::timeout(Duration::from_secs(60), pool.shutdown(Duration::ZERO))
        .await
        .expect("the pool shuts down");
    let answers = match answered {
        Ok(answers) => answers,
        // Only a silent worker with neither timeouts nor health checks leaves calls waiting:
        // the shutdown answers them.
        Err(_) => {
            assert!(
                script.silent_after && !script.timeout && !script.health_check,
                "calls unanswered after 120 s: {script:?}"
            );
            tokio::time::timeout(Duration::from_secs(10), all)
                .await
                .expect("every call answered at the shutdown")
        }
    };
    let replies = replies_in(&wire);
    for answer in answers {
        match answer.expect("a call's task does not panic") {
            Ok(Answer::Echo(payload)) => assert!(
                replies.contains(&payload),
                "an echo answered with {payload:?}, which the worker never wrote"
            ),
            Ok(Answer::Sum(sum)) => assert!(
                replies
                    .iter()
                    .any(|reply| serde_json::from_slice::<i64>(reply).ok() == Some(sum)),
                "an add answered {sum}, which the worker never wrote"
            ),
            Err(error) => assert!(!error.to_string().is_empty()),
        }
    }
    let calls = calls as u64;
    assert_eq!(stats.submitted, calls);
    assert_eq!(
        stats.succeeded + stats.failed + stats.timed_out + stats.cancelled,
        calls,
        "{stats:?}"
    );
    assert_eq!((stats.running, stats.queued, stats.retrying), (0, 0, 0));
    assert_eq!(pool.workers().alive, 0, "a worker outlived the pool");
}

/// What a call of the session got.
#[derive(Debug)]
enum Answer {
    Echo(Bytes),
    Sum(i64),
}

/// The payloads of the Reply frames in a worker's output, up to the first malformed frame.
fn replies_in(wire: &[u8]) -> Vec<Bytes> {
    let mut codec = FrameCodec::new(MAX_FRAME);
    let mut buffer = BytesMut::from(wire);
    let mut replies = Vec::new();
    while let Ok(Some(frame)) = codec.decode(&mut buffer) {
        if frame.kind == Kind::Reply {
            replies.push(frame.payload);
        }
    }
    replies
}

/// Starts the scripted worker once; later starts fail as a missing program does.
struct Scripted {
    output: Bytes,
    cuts: Vec<usize>,
    script: Script,
    starts: AtomicUsize,
}

#[async_trait]
impl WorkerSpawner for Scripted {
    async fn start(&self, _id: WorkerId) -> io::Result<StartedWorker> {
        if self.starts.fetch_add(1, Ordering::SeqCst) > 0 {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the scripted worker starts once",
            ));
        }
        let killed = CancellationToken::new();
        let reader = Output {
            pieces: Pieces::new(self.output.clone(), &self.cuts),
            silent_after: self.script.silent_after,
            killed: Box::pin(killed.clone().cancelled_owned()),
        };
        let writer = Input {
            never_reads: self.script.never_reads,
            killed: Box::pin(killed.clone().cancelled_owned()),
        };
        let exited = killed
            .clone()
            .cancelled_owned()
            .map(|()| ExitStatus::Signal(9));
        Ok(StartedWorker {
            reader: Box::new(reader),
            writer: Box::new(writer),
            exited: Box::pin(exited),
            control: Arc::new(Control(killed)),
        })
    }

    fn describe(&self) -> String {
        "scripted-worker".to_owned()
    }
}

/// The scripted worker's stdout: its bytes in pieces, then the end (or silence until it is
/// killed).
struct Output {
    pieces: Pieces,
    silent_after: bool,
    killed: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl AsyncRead for Output {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pieces.is_empty() && this.silent_after && this.killed.as_mut().poll(cx).is_pending()
        {
            return Poll::Pending;
        }
        Pin::new(&mut this.pieces).poll_read(cx, buf)
    }
}

/// The scripted worker's stdin: takes everything, or nothing until it is killed.
struct Input {
    never_reads: bool,
    killed: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl AsyncWrite for Input {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if !self.never_reads {
            return Poll::Ready(Ok(buf.len()));
        }
        match self.killed.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Kills the scripted worker: its stdout ends, its stdin breaks, it exits.
struct Control(CancellationToken);

impl WorkerControl for Control {
    fn pid(&self) -> Option<u32> {
        None
    }

    fn kill(&self) {
        self.0.cancel();
    }

    fn stderr_tail(&self) -> String {
        String::new()
    }

    fn memory(&self) -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod properties;
