//! An in-memory backend for the worker pool's policy tests: the Rust `Worker` served over
//! tokio's duplex pipes, no process, so the tests run under paused time.
//!
//! Each worker serves:
//!
//! | method   | effect                                                                  |
//! |----------|-------------------------------------------------------------------------|
//! | `echo`   | replies with its payload                                                |
//! | `sleep`  | sleeps the payload's milliseconds (cancellable), replies `slept`        |
//! | `fail`   | answers an error (`failed`)                                             |
//! | `crash`  | ends its worker at once (exit code 3), unanswered                       |
//! | `wedge`  | its worker answers nothing more, pings included, though it stays alive  |
//! | `worker` | replies with the worker's id                                            |

use std::future::{Future, pending};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use process_pool_core::backend::{
    CancellationToken, ExitStatus, StartedWorker, WorkerControl, WorkerId, WorkerSpawner,
};
use process_pool_core::protocol::{Bytes, Worker};
use process_pool_core::{WorkerEvent, WorkerPool, WorkerPoolBuilder, async_trait};
use tokio::io::AsyncWrite;

/// How the workers of a [`Memory`] spawner behave at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// They say hello at once.
    Normal,
    /// They never say hello (a worker stuck loading).
    Silent,
    /// Their program does not exist.
    Missing,
}

/// What the tests see of the workers.
#[derive(Debug, Default)]
pub struct Seen {
    /// Workers started.
    pub started: AtomicUsize,
    /// Workers alive now (their task not ended).
    pub alive: AtomicUsize,
    /// Workers the pool killed.
    pub killed: AtomicUsize,
    /// Calls each worker received, by worker id.
    pub calls: Mutex<Vec<(WorkerId, String)>>,
}

impl Seen {
    pub fn alive(&self) -> usize {
        self.alive.load(SeqCst)
    }

    pub fn started(&self) -> usize {
        self.started.load(SeqCst)
    }

    pub fn killed(&self) -> usize {
        self.killed.load(SeqCst)
    }
}

/// Starts in-memory workers.
#[derive(Clone)]
pub struct Memory {
    pub start: Start,
    pub concurrency: u32,
    pub seen: Arc<Seen>,
}

impl Memory {
    pub fn new(start: Start) -> Memory {
        Memory {
            start,
            concurrency: 1,
            seen: Arc::default(),
        }
    }

    /// Workers that run `n` calls at once.
    pub fn concurrency(mut self, n: u32) -> Memory {
        self.concurrency = n;
        self
    }
}

/// A worker's handle: a kill ends its task.
struct Control {
    kill: CancellationToken,
    seen: Arc<Seen>,
}

impl WorkerControl for Control {
    fn pid(&self) -> Option<u32> {
        None
    }

    fn kill(&self) {
        if !self.kill.is_cancelled() {
            self.seen.killed.fetch_add(1, SeqCst);
        }
        self.kill.cancel();
    }

    fn stderr_tail(&self) -> String {
        String::new()
    }

    fn memory(&self) -> Option<u64> {
        None
    }
}

/// A writer that takes nothing more once frozen (a wedged worker's stdout), until its worker
/// is killed, when it breaks; its pipe is closed when its worker ends, as a dead process's is.
struct Gate<W> {
    inner: Arc<Mutex<Option<W>>>,
    frozen: Arc<AtomicBool>,
    killed: Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
}

impl<W> Gate<W> {
    /// `Some` while frozen: pending until killed, then a broken pipe.
    fn hold<T>(&mut self, cx: &mut Context<'_>) -> Option<Poll<io::Result<T>>> {
        if !self.frozen.load(SeqCst) {
            return None;
        }
        Some(
            self.killed
                .as_mut()
                .poll(cx)
                .map(|()| Err(io::ErrorKind::BrokenPipe.into())),
        )
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Gate<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(held) = self.hold(cx) {
            return held;
        }
        match self.inner.lock().unwrap().as_mut() {
            Some(pipe) => Pin::new(pipe).poll_write(cx, bytes),
            None => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(held) = self.hold(cx) {
            return held;
        }
        match self.inner.lock().unwrap().as_mut() {
            Some(pipe) => Pin::new(pipe).poll_flush(cx),
            None => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner.lock().unwrap().as_mut() {
            Some(pipe) => Pin::new(pipe).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

#[async_trait]
impl WorkerSpawner for Memory {
    async fn start(&self, id: WorkerId) -> io::Result<StartedWorker> {
        if self.start == Start::Missing {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such file"));
        }
        let (pool_reader, worker_writer) = tokio::io::duplex(1 << 16);
        let (worker_reader, pool_writer) = tokio::io::duplex(1 << 16);
        let kill = CancellationToken::new();
        let die = CancellationToken::new();
        let frozen = Arc::new(AtomicBool::new(false));
        let worker = worker(id, &die, &frozen, &self.seen).concurrency(self.concurrency);
        let seen = Arc::clone(&self.seen);
        seen.started.fetch_add(1, SeqCst);
        seen.alive.fetch_add(1, SeqCst);
        let silent = self.start == Start::Silent;
        let stop = kill.clone();
        let gate_killed = kill.clone().cancelled_owned();
        let pipe = Arc::new(Mutex::new(Some(worker_writer)));
        let task = tokio::spawn(async move {
            let writer = Gate {
                inner: Arc::clone(&pipe),
                frozen,
                killed: Box::pin(gate_killed),
            };
            let serve = async {
                if silent {
                    pending::<()>().await;
                }
                worker.serve_on(worker_reader, writer).await
            };
            let status = tokio::select! {
                biased;
                () = stop.cancelled() => ExitStatus::Signal(9),
                () = die.cancelled() => ExitStatus::Code(3),
                served = serve => ExitStatus::Code(i32::from(served.is_err())),
            };
            // Its stdout closes with it.
            pipe.lock().unwrap().take();
            seen.alive.fetch_sub(1, SeqCst);
            status
        });
        Ok(StartedWorker {
            reader: Box::new(pool_reader),
            writer: Box::new(pool_writer),
            exited: Box::pin(async move { task.await.unwrap_or(ExitStatus::Signal(9)) }),
            control: Arc::new(Control {
                kill,
                seen: Arc::clone(&self.seen),
            }),
        })
    }

    fn describe(&self) -> String {
        "memory-worker".to_owned()
    }
}

/// The worker `id` serves, its `crash` ending it through `die` and its `wedge` freezing it.
fn worker(
    id: WorkerId,
    die: &CancellationToken,
    frozen: &Arc<AtomicBool>,
    seen: &Arc<Seen>,
) -> Worker {
    let log = move |seen: &Arc<Seen>, method: &str| {
        seen.calls.lock().unwrap().push((id, method.to_owned()));
    };
    let (s1, s2, s3, s4, s5) = (
        Arc::clone(seen),
        Arc::clone(seen),
        Arc::clone(seen),
        Arc::clone(seen),
        Arc::clone(seen),
    );
    let die = die.clone();
    let frozen = Arc::clone(frozen);
    Worker::new()
        .method("echo", move |input: Bytes| {
            log(&s1, "echo");
            async move { Ok::<_, String>(input) }
        })
        .method("worker", move |_| {
            log(&s2, "worker");
            async move { Ok::<_, String>(id.to_string()) }
        })
        .method("sleep", move |input: Bytes| {
            log(&s3, "sleep");
            async move {
                let ms: u64 = std::str::from_utf8(&input)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or("expected milliseconds")?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok::<_, String>("slept")
            }
        })
        .method("fail", move |_| {
            log(&s4, "fail");
            async { Err::<Bytes, _>("asked to fail".to_owned()) }
        })
        .method("crash", move |_| {
            die.cancel();
            async { pending::<Result<Bytes, String>>().await }
        })
        .method("wedge", move |_| {
            log(&s5, "wedge");
            frozen.store(true, SeqCst);
            async { pending::<Result<Bytes, String>>().await }
        })
}

/// A builder with a bound worker count and a short kill grace.
pub fn builder(workers: usize) -> WorkerPoolBuilder {
    WorkerPool::builder()
        .max_workers(workers)
        .kill_grace(Duration::from_millis(100))
}

/// A list the worker hooks append to.
pub type Events = Arc<Mutex<Vec<(&'static str, WorkerEvent)>>>;

/// `builder` with every worker hook logging into the returned list.
pub fn with_events(builder: WorkerPoolBuilder) -> (WorkerPoolBuilder, Events) {
    let events: Events = Arc::default();
    let (a, b, c) = (
        Arc::clone(&events),
        Arc::clone(&events),
        Arc::clone(&events),
    );
    let builder = builder
        .on_worker_start(move |e| a.lock().unwrap().push(("start", e.clone())))
        .on_worker_stop(move |e| b.lock().unwrap().push(("stop", e.clone())))
        .on_worker_crash(move |e| c.lock().unwrap().push(("crash", e.clone())));
    (builder, events)
}
