//! The worker pool's dispatch, checked on in-memory workers under paused time: which worker
//! takes a call, the queue's order, the limits on a worker, what cannot be sent, and pauses.

mod common;

use std::time::Duration;

use common::within;
use common::workers::{Memory, Start, builder};
use process_pool_core::{Call, CallError, RetryPolicy, WorkerPool};

#[tokio::test(start_paused = true)]
async fn calls_go_to_the_least_loaded_worker_and_queue_by_priority() {
    let memory = Memory::new(Start::Normal).concurrency(2);
    let pool = builder(2)
        .max_calls_per_worker(2)
        .min_workers(2)
        .build(memory.clone())
        .unwrap();
    within(pool.ready()).await.unwrap();
    // Four long calls fill both workers, two each.
    let busy: Vec<_> = (0..4)
        .map(|_| pool.submit(Call::new("sleep", "1000")))
        .collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let per_worker: Vec<usize> = pool
        .workers()
        .per_worker
        .iter()
        .map(|w| w.in_flight)
        .collect();
    assert_eq!(per_worker, [2, 2]);
    // The rest wait: the higher priority goes first, FIFO among equals.
    let low = pool.submit(Call::new("worker", "").priority(-1));
    let first = pool.submit(Call::new("echo", "first").priority(5));
    let second = pool.submit(Call::new("echo", "second").priority(5));
    assert_eq!(pool.queue_len(), 3);
    for handle in busy {
        within(handle).await.unwrap();
    }
    within(low).await.unwrap();
    assert_eq!(within(first).await.unwrap(), "first");
    assert_eq!(within(second).await.unwrap(), "second");
    let order: Vec<String> = memory
        .seen
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|(_, m)| m.clone())
        .collect();
    assert_eq!(order[4..], ["echo", "echo", "worker"], "{order:?}");
}

/// Defect 6: `max_tasks_per_worker(n)` is a hard limit on calls sent to one worker, however
/// many it takes at once; `n = 1` is a fresh worker per call.
#[tokio::test(start_paused = true)]
async fn max_tasks_per_worker_is_a_hard_limit_on_calls_sent() {
    let memory = Memory::new(Start::Normal).concurrency(4);
    let pool = builder(1)
        .max_calls_per_worker(4)
        .max_tasks_per_worker(1)
        .build(memory.clone())
        .unwrap();
    let replies = within(pool.call_many((0..8).map(|_| Call::new("worker", "")))).await;
    let ids: Vec<String> = replies
        .into_iter()
        .map(|r| String::from_utf8(r.unwrap().to_vec()).unwrap())
        .collect();
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 8, "one worker per call: {ids:?}");
    assert_eq!(memory.seen.started(), 8);

    // n = 3, 4 at once: never more than 3 calls to one worker.
    let memory = Memory::new(Start::Normal).concurrency(4);
    let pool = builder(1)
        .max_calls_per_worker(4)
        .max_tasks_per_worker(3)
        .build(memory.clone())
        .unwrap();
    within(pool.call_many((0..9).map(|_| Call::new("worker", "")))).await;
    let calls = memory.seen.calls.lock().unwrap().clone();
    for worker in 1..=3 {
        assert_eq!(
            calls.iter().filter(|(w, _)| *w == worker).count(),
            3,
            "{calls:?}"
        );
    }
    assert!(pool.workers().recycled >= 2, "{:?}", pool.workers());
}

/// Defect 1: a method name too long for a frame is a typed error for that call alone, before
/// anything is sent; no worker is disturbed, a `no_retry` neighbour included.
#[tokio::test(start_paused = true)]
async fn a_method_name_over_the_frame_limit_fails_that_call_alone() {
    let memory = Memory::new(Start::Normal);
    let pool = builder(1).build(memory.clone()).unwrap();
    let neighbour = pool.submit(Call::new("sleep", "50").no_retry());
    let long = "m".repeat(65_536);
    let error = within(pool.call(long, "x")).await.unwrap_err();
    let CallError::InvalidCall { method, reason } = &error else {
        panic!("{error:?}");
    };
    assert!(method.len() < 80, "the name is cut in the error: {method}");
    assert!(
        reason.contains("65536 bytes") && reason.contains("65535"),
        "{reason}"
    );
    assert_eq!(within(neighbour).await.unwrap(), "slept");
    assert_eq!(pool.workers().crashed, 0);
    assert_eq!(memory.seen.started(), 1);
    // Exactly at the limit is fine for the pool (the worker does not know the method).
    let at_limit = within(pool.call("m".repeat(65_535), "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(at_limit, CallError::UnknownMethod { .. }),
        "{at_limit:?}"
    );
    let empty = within(pool.call("", "x")).await.unwrap_err();
    assert!(matches!(empty, CallError::InvalidCall { .. }), "{empty:?}");
    assert_eq!(pool.workers().crashed, 0);
}

/// A worker's list of methods is kept once: every `UnknownMethod` error quoting it shares it,
/// so a worker with a long list that answers every call `unknown_method` costs one list.
#[tokio::test(start_paused = true)]
async fn unknown_method_errors_share_their_workers_list() {
    let memory = Memory::new(Start::Normal);
    let pool = builder(1).build(memory.clone()).unwrap();
    let first = within(pool.call("nope", "")).await.unwrap_err();
    let second = within(pool.call("nor-this", "")).await.unwrap_err();
    let (CallError::UnknownMethod { served: a, .. }, CallError::UnknownMethod { served: b, .. }) =
        (&first, &second)
    else {
        panic!("{first:?} {second:?}");
    };
    assert!(a.iter().any(|m| m == "echo"), "{a:?}");
    assert!(std::sync::Arc::ptr_eq(a, b), "one list, shared");
}

#[tokio::test(start_paused = true)]
async fn a_paused_pool_holds_calls_and_a_hint_pauses_before_the_retry() {
    let memory = Memory::new(Start::Normal);
    let pool = builder(1).build(memory.clone()).unwrap();
    pool.pause();
    let held = pool.submit(Call::new("echo", "held"));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let stats = pool.stats();
    assert_eq!((stats.queued, stats.running, stats.paused), (1, 0, true));
    pool.resume();
    assert_eq!(within(held).await.unwrap(), "held");

    // A rate-limit hint on an error: dispatch pauses, then the call runs again.
    let hinted = builder(1)
        .retry(RetryPolicy::attempts(2))
        .retry_when(|error| matches!(error, CallError::Failed { .. }))
        .pause_when(|error| {
            matches!(error, CallError::Failed { .. }).then_some(Duration::from_secs(10))
        })
        .build(Memory::new(Start::Normal))
        .unwrap();
    let started = tokio::time::Instant::now();
    let error = within(hinted.call("fail", "")).await.unwrap_err();
    assert!(
        matches!(error, CallError::Failed { attempts: 2, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("after 2 attempts"), "{error}");
    assert!(
        started.elapsed() >= Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(hinted.stats().retried, 1);
}

#[tokio::test(start_paused = true)]
async fn a_worker_pool_refuses_more_workers_than_its_spawner_runs() {
    use process_pool_core::ConfigError;
    struct Two(Memory);
    #[process_pool_core::async_trait]
    impl process_pool_core::backend::WorkerSpawner for Two {
        async fn start(
            &self,
            id: u64,
        ) -> std::io::Result<process_pool_core::backend::StartedWorker> {
            self.0.start(id).await
        }
        fn describe(&self) -> String {
            self.0.describe()
        }
        fn capacity(&self) -> Option<usize> {
            Some(2)
        }
    }
    let error = WorkerPool::builder()
        .max_workers(3)
        .build(Two(Memory::new(Start::Normal)))
        .unwrap_err();
    assert_eq!(
        error,
        ConfigError::OverCapacity {
            max_workers: 3,
            capacity: 2
        }
    );
    let pool = WorkerPool::builder()
        .max_workers(2)
        .build(Two(Memory::new(Start::Normal)))
        .unwrap();
    assert!(pool.resize(0, 3).is_err());
}

#[tokio::test(start_paused = true)]
async fn a_memory_limit_the_spawner_cannot_read_is_refused_naming_the_platform() {
    use process_pool_core::ConfigError;
    struct Blind(Memory);
    #[process_pool_core::async_trait]
    impl process_pool_core::backend::WorkerSpawner for Blind {
        async fn start(
            &self,
            id: u64,
        ) -> std::io::Result<process_pool_core::backend::StartedWorker> {
            self.0.start(id).await
        }
        fn describe(&self) -> String {
            self.0.describe()
        }
        fn reads_memory(&self) -> Result<(), (&'static str, &'static str)> {
            Err(("plan9", "no counters"))
        }
    }
    let error = WorkerPool::builder()
        .max_memory_per_worker(1 << 30)
        .build(Blind(Memory::new(Start::Normal)))
        .unwrap_err();
    assert_eq!(
        error,
        ConfigError::Unsupported {
            name: "max_memory_per_worker",
            platform: "plan9",
            reason: "no counters"
        }
    );
    assert!(error.to_string().contains("plan9"), "{error}");
    // Without the limit, the same spawner builds.
    assert!(
        WorkerPool::builder()
            .build(Blind(Memory::new(Start::Normal)))
            .is_ok()
    );
}
