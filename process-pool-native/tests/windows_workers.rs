//! Warm workers on Windows, with the Rust test worker (`examples/test_worker.rs`): calls,
//! crash replacement, health pings, the whole tree killed by its Job Object, recycling over
//! the process's memory counters. The Unix counterparts are in `workers.rs` and
//! `worker_lifecycle.rs`.
#![cfg(windows)]

mod common;

use std::time::Duration;

use common::test_worker;
use common::windows::is_running;
use common::workers::{hang_guard, next_event, pid, with_events};
use process_pool_core::{CallError, WorkerPool};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_answered_each_to_its_caller() {
    let pool = WorkerPool::builder()
        .max_workers(2)
        .build(test_worker())
        .unwrap();
    let calls = (0..200).map(|i| {
        let pool = pool.clone();
        async move { (i, pool.call("echo", i.to_string()).await) }
    });
    for (i, reply) in hang_guard(futures::future::join_all(calls)).await {
        assert_eq!(reply.unwrap(), i.to_string());
    }
    pool.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_worker_is_replaced() {
    let pool = WorkerPool::builder()
        .max_workers(1)
        .build(test_worker())
        .unwrap();
    let first = pid(&pool).await;
    let crashed = hang_guard(pool.call("die", "")).await;
    assert!(
        matches!(crashed, Err(CallError::WorkerCrashed { .. })),
        "{crashed:?}"
    );
    let second = pid(&pool).await;
    assert_ne!(first, second, "a new worker");
    assert!(!is_running(first), "the crashed worker is gone");
    pool.shutdown(Duration::from_secs(5)).await;
    assert!(!is_running(second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_check_replaces_a_wedged_worker() {
    let (builder, mut events) = with_events(
        WorkerPool::builder()
            .max_workers(1)
            .health_check(Duration::from_millis(100), Duration::from_millis(500)),
    );
    let pool = builder.build(test_worker()).unwrap();
    let first = pid(&pool).await;
    // The worker suspends every thread of its process: it answers nothing, pings included.
    let wedged = pool.submit(process_pool_core::Call::new("wedge", ""));
    let crash = next_event(&mut events, "crash").await;
    assert_eq!(crash.pid, Some(first));
    drop(wedged);
    assert_ne!(pid(&pool).await, first);
    assert!(!is_running(first), "the wedged worker was killed");
    pool.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_kills_a_workers_whole_tree() {
    let pool = WorkerPool::builder()
        .max_workers(1)
        .build(test_worker())
        .unwrap();
    let worker = pid(&pool).await;
    let reply = hang_guard(pool.call("spawn", "")).await.unwrap();
    let child: u32 = std::str::from_utf8(&reply).unwrap().parse().unwrap();
    assert!(is_running(child), "the worker's child is up");
    pool.shutdown(Duration::from_millis(500)).await;
    assert!(!is_running(worker), "the worker is gone");
    assert!(
        !is_running(child),
        "its child, which ignores Ctrl-Break, is gone too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_over_its_memory_limit_is_recycled() {
    let (builder, mut events) = with_events(
        WorkerPool::builder()
            .max_workers(1)
            .max_memory_per_worker(64 << 20),
    );
    let pool = builder.build(test_worker()).unwrap();
    let first = pid(&pool).await;
    assert_eq!(pool.call("leak", "16").await.unwrap(), "1");
    assert_eq!(pid(&pool).await, first, "under the limit: kept");
    assert_eq!(pool.call("leak", "100").await.unwrap(), "2");
    let stop = next_event(&mut events, "stop").await;
    assert_eq!(stop.pid, Some(first));
    assert!(stop.reason.contains("memory"), "{}", stop.reason);
    assert_ne!(pid(&pool).await, first);
    pool.shutdown(Duration::from_secs(5)).await;
}
