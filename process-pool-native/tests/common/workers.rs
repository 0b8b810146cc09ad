//! What the worker pool tests share: the Python worker, hang guards, pids, worker events.

use std::collections::HashSet;
use std::path::PathBuf;

use process_pool_core::{Call, WorkerEvent, WorkerPool, WorkerPoolBuilder};
use process_pool_native::NativeWorker;
use tokio::sync::mpsc;

use super::HANG;

/// The Python worker, if `python3` is there (it is on every machine this project runs on).
pub fn python_worker() -> NativeWorker {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../process-pool-protocol/examples/python_worker.py");
    NativeWorker::new("python3").arg(script)
}

pub async fn hang_guard<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG, future).await.expect("no hang")
}

/// The pid a worker reports.
pub async fn pid(pool: &WorkerPool) -> u32 {
    let reply = pool.call("pid", "").await.expect("pid");
    std::str::from_utf8(&reply).unwrap().parse().unwrap()
}

/// Every pid ever seen is gone from `/proc`: exited and reaped.
pub fn all_gone(pids: &HashSet<u32>) {
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} is still there (alive or a zombie)"
        );
    }
}

/// Hooks that send each event to a channel the test awaits.
pub fn with_events(
    builder: WorkerPoolBuilder,
) -> (
    WorkerPoolBuilder,
    mpsc::UnboundedReceiver<(&'static str, WorkerEvent)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (a, b, c) = (tx.clone(), tx.clone(), tx);
    let builder = builder
        .on_worker_start(move |e| {
            let _ = a.send(("start", e.clone()));
        })
        .on_worker_stop(move |e| {
            let _ = b.send(("stop", e.clone()));
        })
        .on_worker_crash(move |e| {
            let _ = c.send(("crash", e.clone()));
        });
    (builder, rx)
}

pub async fn next_event(
    events: &mut mpsc::UnboundedReceiver<(&'static str, WorkerEvent)>,
    kind: &str,
) -> WorkerEvent {
    loop {
        let (k, event) = hang_guard(events.recv()).await.expect("an event");
        if k == kind {
            return event;
        }
    }
}

pub async fn echo_10k(pool: &WorkerPool) {
    let calls = (0..10_000).map(|i| {
        let method = if i % 2 == 0 { "echo" } else { "upper" };
        Call::new(method, format!("call-{i}-x"))
    });
    let replies = hang_guard(pool.call_many(calls)).await;
    assert_eq!(replies.len(), 10_000);
    for (i, reply) in replies.into_iter().enumerate() {
        let expected = if i % 2 == 0 {
            format!("call-{i}-x")
        } else {
            format!("CALL-{i}-X")
        };
        assert_eq!(reply.unwrap(), expected, "call {i}");
    }
    let stats = pool.stats();
    assert_eq!((stats.succeeded, stats.failed), (10_000, 0));
    assert_eq!(pool.workers().crashed, 0);
}
