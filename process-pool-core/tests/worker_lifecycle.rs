//! The worker pool's life, checked on in-memory workers under paused time: close, drain and
//! shutdown (with the same `Stats` as the job pool), a shutdown or a drop while a worker is
//! still starting, and the rule for dropping the last handle.

mod common;

use std::time::Duration;

use common::within;
use common::workers::{Memory, Start, builder};
use process_pool_core::{Call, CallError};

#[tokio::test(start_paused = true)]
async fn close_drain_and_shutdown_return_the_same_stats_as_jobs() {
    let memory = Memory::new(Start::Normal);
    let pool = builder(2).build(memory.clone()).unwrap();
    let calls: Vec<_> = (0..4)
        .map(|_| pool.submit(Call::new("sleep", "1000")))
        .collect();
    pool.close();
    assert!(pool.is_closed());
    assert!(matches!(
        within(pool.call("echo", "x")).await,
        Err(CallError::PoolClosed)
    ));
    // Accepted calls go on after a close.
    within(pool.drain()).await;
    for call in calls {
        assert_eq!(within(call).await.unwrap(), "slept");
    }
    assert_eq!(pool.workers().alive, 2, "closing stops no worker");
    let stats = within(pool.shutdown(Duration::from_secs(5))).await;
    assert_eq!(
        (
            stats.submitted,
            stats.succeeded,
            stats.failed,
            stats.cancelled
        ),
        (4, 4, 0, 0),
        "{stats}"
    );
    assert_eq!(pool.workers().alive, 0);
    assert_eq!(memory.seen.alive(), 0);
    assert_eq!(memory.seen.killed(), 0, "idle workers exit when asked");
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_what_is_left_after_the_grace() {
    let memory = Memory::new(Start::Normal);
    let pool = builder(1).build(memory.clone()).unwrap();
    let running = pool.submit(Call::new("wedge", ""));
    let queued = pool.submit(Call::new("echo", "never sent"));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let started = tokio::time::Instant::now();
    let stats = within(pool.shutdown(Duration::from_secs(1))).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(running.await, Err(CallError::Cancelled { .. })));
    assert!(matches!(queued.await, Err(CallError::Cancelled { .. })));
    assert_eq!((stats.cancelled, stats.completed()), (2, 2), "{stats}");
    assert_eq!(memory.seen.alive(), 0);
}

/// Defect 2: a shutdown while a worker is starting does not wait for its hello (up to the
/// start-up timeout): the starting worker is killed when the pool stops.
#[tokio::test(start_paused = true)]
async fn shutdown_while_a_worker_starts_kills_it_within_the_grace() {
    let silent = Memory::new(Start::Silent);
    let pool = builder(1)
        .startup_timeout(Duration::from_secs(60))
        .build(silent.clone())
        .unwrap();
    let call = pool.submit(Call::new("echo", "x"));
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(silent.seen.alive(), 1, "a worker is starting");
    let started = tokio::time::Instant::now();
    within(pool.shutdown(Duration::from_millis(500))).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "waited {took:?}, not the grace"
    );
    assert!(matches!(call.await, Err(CallError::Cancelled { .. })));
    assert_eq!((silent.seen.killed(), silent.seen.alive()), (1, 0));
}

/// Defect 3: dropping the last handle while a worker is starting kills that worker.
#[tokio::test(start_paused = true)]
async fn dropping_the_pool_while_a_worker_starts_kills_it() {
    let silent = Memory::new(Start::Silent);
    let pool = builder(1)
        .min_workers(1)
        .startup_timeout(Duration::from_secs(60))
        .build(silent.clone())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(silent.seen.alive(), 1);
    drop(pool);
    within(async {
        while silent.seen.alive() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert_eq!(silent.seen.killed(), 1);
}

/// The drop rule, the same as the job pool's: a handle holds the pool; when the last handle
/// goes, what nobody can see any more is cancelled and every worker killed.
#[tokio::test(start_paused = true)]
async fn a_pool_lives_while_a_handle_does_and_stops_with_the_last() {
    let memory = Memory::new(Start::Normal);
    let pool = builder(1).build(memory.clone()).unwrap();
    let call = pool.submit(Call::new("sleep", "1000"));
    drop(pool);
    assert_eq!(within(call).await.unwrap(), "slept");
    within(async {
        while memory.seen.alive() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;

    let memory = Memory::new(Start::Normal);
    let pool = builder(1).build(memory.clone()).unwrap();
    drop(pool.submit(Call::new("wedge", "")));
    tokio::time::sleep(Duration::from_millis(10)).await;
    drop(pool);
    within(async {
        while memory.seen.alive() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert_eq!(
        memory.seen.killed(),
        1,
        "the busy worker is killed, not waited for"
    );
}
