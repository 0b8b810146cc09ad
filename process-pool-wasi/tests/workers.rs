//! WASI guests as warm workers: the `echo-worker` guest (the protocol written with std alone),
//! as a WASIp1 module and as a WASIp2 component, sandboxed, memory-capped and recycled.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{component, guest};
use process_pool_core::backend::ExitStatus;
use process_pool_core::{Call, CallError, RetryPolicy, WorkerEvent, WorkerPool, WorkerPoolBuilder};
use process_pool_wasi::WasiSpawner;
use tokio::sync::mpsc;

const HANG: Duration = Duration::from_secs(60);

fn spawner() -> WasiSpawner {
    WasiSpawner::builder()
        .max_instances(8)
        .max_memory(64 << 20)
        .build()
        .unwrap()
}

async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG, future).await.expect("no hang")
}

/// Each build of the worker: the module and the component.
fn builds() -> [(&'static str, PathBuf); 2] {
    [
        ("p1", guest("echo-worker")),
        ("p2", component("echo-worker")),
    ]
}

fn events(
    builder: WorkerPoolBuilder,
) -> (
    WorkerPoolBuilder,
    mpsc::UnboundedReceiver<(&'static str, WorkerEvent)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop, crash) = (tx.clone(), tx);
    let builder = builder
        .on_worker_stop(move |e| {
            let _ = stop.send(("stop", e.clone()));
        })
        .on_worker_crash(move |e| {
            let _ = crash.send(("crash", e.clone()));
        });
    (builder, rx)
}

async fn next(
    events: &mut mpsc::UnboundedReceiver<(&'static str, WorkerEvent)>,
    kind: &str,
) -> WorkerEvent {
    loop {
        let (k, event) = within(events.recv()).await.expect("an event");
        if k == kind {
            return event;
        }
    }
}

async fn worker_id(pool: &WorkerPool) -> String {
    String::from_utf8(pool.call("id", "").await.unwrap().to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandboxed_workers_answer_10k_calls_each_to_its_caller() {
    for (build, module) in builds() {
        let pool = WorkerPool::builder()
            .max_workers(2)
            .build(spawner().worker(&module))
            .unwrap();
        let calls = (0..10_000).map(|i| {
            let method = if i % 2 == 0 { "echo" } else { "upper" };
            Call::new(method, format!("call-{i}-x"))
        });
        let replies = within(pool.call_many(calls)).await;
        for (i, reply) in replies.into_iter().enumerate() {
            let expected = if i % 2 == 0 {
                format!("call-{i}-x")
            } else {
                format!("CALL-{i}-X")
            };
            assert_eq!(reply.unwrap(), expected, "{build}: call {i}");
        }
        let (calls, workers) = (pool.stats(), pool.workers());
        assert_eq!(
            (calls.succeeded, workers.crashed, workers.started),
            (10_000, 0, 2),
            "{build}"
        );
        let error = pool.call("nope", "").await.unwrap_err();
        assert!(
            matches!(error, CallError::UnknownMethod { .. }),
            "{build}: {error}"
        );
        within(pool.shutdown(Duration::from_secs(5))).await;
        assert_eq!(pool.workers().alive, 0, "{build}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_is_recycled_after_n_calls_and_over_memory() {
    for (build, module) in builds() {
        let (builder, mut stops) =
            events(WorkerPool::builder().max_workers(1).max_tasks_per_worker(3));
        let pool = builder.build(spawner().worker(&module)).unwrap();
        let mut ids = Vec::new();
        for _ in 0..9 {
            ids.push(worker_id(&pool).await);
        }
        assert_eq!(
            ids,
            ["1", "1", "1", "2", "2", "2", "3", "3", "3"],
            "{build}"
        );
        // A recycled worker is counted once it is gone, which may come after its successor
        // has answered: wait for the first two to go.
        for _ in 0..2 {
            let stop = next(&mut stops, "stop").await;
            assert_eq!(stop.reason, "recycled after 3 calls", "{build}");
        }
        assert!(pool.workers().recycled >= 2, "{build}");

        let (builder, mut events) = events(
            WorkerPool::builder()
                .max_workers(1)
                .max_memory_per_worker(32 << 20),
        );
        let pool = builder.build(spawner().worker(&module)).unwrap();
        let first = worker_id(&pool).await;
        assert_eq!(pool.call("leak", "8").await.unwrap(), "1");
        assert_eq!(
            worker_id(&pool).await,
            first,
            "{build}: under the limit, kept"
        );
        assert_eq!(pool.call("leak", "30").await.unwrap(), "2");
        let stop = next(&mut events, "stop").await;
        assert!(stop.reason.contains("memory"), "{build}: {}", stop.reason);
        assert_ne!(worker_id(&pool).await, first, "{build}: a fresh instance");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_cap_and_a_spinning_call_end_only_their_worker() {
    for (build, module) in builds() {
        let (builder, mut events) = events(
            WorkerPool::builder()
                .max_workers(1)
                .retry(RetryPolicy::none())
                .kill_grace(Duration::from_millis(100)),
        );
        let pool = builder.build(spawner().worker(&module)).unwrap();
        // Over the spawner's 64 MiB: the allocation fails inside the guest, which aborts.
        let error = within(pool.call("leak", "100")).await.unwrap_err();
        let CallError::WorkerCrashed { exit, .. } = &error else {
            panic!("{build}: {error}");
        };
        assert!(
            matches!(exit, Some(ExitStatus::Trapped(_))),
            "{build}: {error}"
        );
        let crash = next(&mut events, "crash").await;
        assert_eq!(crash.reason, "exited", "{build}");
        assert_eq!(pool.call("echo", "on").await.unwrap(), "on");

        // A call that computes forever and never reads its cancel: its worker is stopped.
        let first = worker_id(&pool).await;
        let error = within(pool.submit(Call::new("spin", "").timeout(Duration::from_millis(100))))
            .await
            .unwrap_err();
        assert!(
            matches!(error, CallError::TimedOut { .. }),
            "{build}: {error}"
        );
        let crash = next(&mut events, "crash").await;
        assert!(
            crash.reason.contains("ignored a cancel"),
            "{build}: {}",
            crash.reason
        );
        assert_ne!(worker_id(&pool).await, first, "{build}");
        within(pool.shutdown(Duration::from_secs(5))).await;
    }
}
