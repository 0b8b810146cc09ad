//! The worker pool's faults, checked on in-memory workers under paused time: crashes and
//! retries (counted as the job pool counts them), a worker that stops answering while busy,
//! timeouts and cancels, workers that cannot start, and classifiers that run outside the lock.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use common::within;
use common::workers::{Memory, Start, builder, with_events};
use process_pool_core::{Backoff, Call, CallError, RetryOn, RetryPolicy};

#[tokio::test(start_paused = true)]
async fn attempts_count_the_same_way_as_for_jobs() {
    let memory = Memory::new(Start::Normal);
    let pool = builder(1)
        .retry(RetryPolicy::attempts(2).on(RetryOn::CRASH))
        .build(memory.clone())
        .unwrap();
    let error = within(pool.call("crash", "")).await.unwrap_err();
    assert!(
        matches!(error, CallError::WorkerCrashed { attempts: 2, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("after 2 attempts"), "{error}");
    assert_eq!(
        memory.seen.started(),
        2,
        "attempts(2) is two runs, not three"
    );
    let stats = pool.stats();
    assert_eq!(
        (stats.retried, stats.failed, stats.attempts),
        (1, 1, 2),
        "{stats}"
    );
    // The default: 3 attempts on a crash, none on a failure.
    let default = builder(1).build(Memory::new(Start::Normal)).unwrap();
    let error = within(default.call("crash", "")).await.unwrap_err();
    assert!(
        matches!(error, CallError::WorkerCrashed { attempts: 3, .. }),
        "{error:?}"
    );
    let error = within(default.call("fail", "")).await.unwrap_err();
    assert!(
        matches!(error, CallError::Failed { attempts: 1, .. }),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn retries_wait_their_backoff_holding_no_worker_and_a_cancel_ends_the_wait() {
    let memory = Memory::new(Start::Normal);
    let pool = builder(1)
        .retry(
            RetryPolicy::attempts(3)
                .on(RetryOn::FAILURE)
                .backoff(Backoff::fixed(Duration::from_secs(10))),
        )
        .build(memory.clone())
        .unwrap();
    let failing = pool.submit(Call::new("fail", ""));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(pool.stats().retrying, 1);
    // The worker is free meanwhile.
    assert_eq!(within(pool.call("echo", "free")).await.unwrap(), "free");
    let started = tokio::time::Instant::now();
    let error = within(failing).await.unwrap_err();
    assert!(
        matches!(error, CallError::Failed { attempts: 3, .. }),
        "{error:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(18),
        "{:?}",
        started.elapsed()
    );

    let waiting = pool.submit(Call::new("fail", ""));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(pool.stats().retrying, 1);
    let cancelled_at = tokio::time::Instant::now();
    waiting.cancel();
    assert!(matches!(
        within(waiting).await,
        Err(CallError::Cancelled { .. })
    ));
    assert!(cancelled_at.elapsed() < Duration::from_millis(1));
    assert_eq!(pool.stats().retrying, 0);
}

/// Defect 4: a worker that stops reading and answering while it holds calls is found by the
/// health check (pings go to busy workers too), killed, and its calls retried.
#[tokio::test(start_paused = true)]
async fn a_busy_worker_that_stops_answering_is_found_and_replaced() {
    let memory = Memory::new(Start::Normal).concurrency(2);
    let (builder, events) = with_events(
        builder(1)
            .max_calls_per_worker(2)
            .health_check(Duration::from_secs(1), Duration::from_secs(2)),
    );
    let pool = builder.build(memory.clone()).unwrap();
    within(pool.ready()).await.unwrap();
    // No timeout on either call: only the pings can find the wedged worker.
    let wedge = pool.submit(Call::new("wedge", "").no_retry());
    let behind = pool.submit(Call::new("sleep", "10"));
    let error = within(wedge).await.unwrap_err();
    assert!(
        matches!(error, CallError::WorkerCrashed { .. }),
        "{error:?}"
    );
    assert_eq!(within(behind).await.unwrap(), "slept");
    let events = events.lock().unwrap().clone();
    let crash = events
        .iter()
        .find(|(kind, _)| *kind == "crash")
        .expect("a crash event");
    assert!(
        crash.1.reason.contains("did not answer a ping"),
        "{}",
        crash.1.reason
    );
    assert_eq!(memory.seen.killed(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_call_is_answered_and_its_stuck_worker_killed_after_the_grace() {
    let memory = Memory::new(Start::Normal);
    let pool = builder(1).build(memory.clone()).unwrap();
    let started = tokio::time::Instant::now();
    let error = within(pool.submit(Call::new("wedge", "").timeout(Duration::from_secs(1))))
        .await
        .unwrap_err();
    assert!(matches!(error, CallError::TimedOut { .. }), "{error:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_millis(1100),
        "{took:?}"
    );
    // The wedged worker ignores the cancel: killed after the 100 ms grace, replaced.
    assert_eq!(within(pool.call("echo", "next")).await.unwrap(), "next");
    assert_eq!(memory.seen.killed(), 1);
    // A timeout retried under the policy.
    let retried = builder(1)
        .retry(RetryPolicy::attempts(2).on(RetryOn::TIMEOUT))
        .build(Memory::new(Start::Normal))
        .unwrap();
    let error = within(retried.submit(Call::new("sleep", "5000").timeout(Duration::from_secs(1))))
        .await
        .unwrap_err();
    assert!(
        matches!(error, CallError::TimedOut { attempts: 2, .. }),
        "{error:?}"
    );
    let stats = retried.stats();
    assert_eq!((stats.timed_out, stats.retried), (1, 1), "{stats}");
}

#[tokio::test(start_paused = true)]
async fn a_program_that_cannot_start_is_not_retried_and_a_failing_start_is() {
    let pool = builder(1).build(Memory::new(Start::Missing)).unwrap();
    let error = within(pool.ready()).await.unwrap_err();
    assert!(
        matches!(error, CallError::WorkerStart { attempts: 1, .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert_eq!(
        text.matches("memory-worker").count(),
        1,
        "named once: {text}"
    );
    assert!(text.contains("after 1 attempt:"), "{text}");

    // A worker that never says hello: every attempt times out, retried with backoff.
    let silent = Memory::new(Start::Silent);
    let pool = builder(1)
        .startup_timeout(Duration::from_secs(1))
        .startup_retry(RetryPolicy::attempts(3).backoff(Backoff::fixed(Duration::from_secs(5))))
        .build(silent.clone())
        .unwrap();
    let started = tokio::time::Instant::now();
    let error = within(pool.call("echo", "x")).await.unwrap_err();
    assert!(
        matches!(error, CallError::WorkerStart { attempts: 3, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("no hello within 1s"), "{error}");
    let took = started.elapsed();
    let expected = Duration::from_secs(3 + 2 * 5);
    assert!(
        took >= expected && took < expected + Duration::from_millis(500),
        "{took:?}"
    );
    assert_eq!((silent.seen.started(), silent.seen.killed()), (3, 3));
    tokio::task::yield_now().await;
    assert_eq!(silent.seen.alive(), 0);
}

/// Every user callback runs outside the pool's lock, contained: a classifier and a hook that
/// call back into the pool do not deadlock it, and one that panics does not break it.
#[tokio::test(start_paused = true)]
async fn callbacks_run_outside_the_lock_and_panics_are_contained() {
    let asked = Arc::new(AtomicUsize::new(0));
    let pool_cell: Arc<std::sync::OnceLock<process_pool_core::WorkerPool>> = Arc::default();
    let (seen, cell) = (Arc::clone(&asked), Arc::clone(&pool_cell));
    let cell2 = Arc::clone(&pool_cell);
    let pool = builder(1)
        .retry(RetryPolicy::attempts(2))
        .retry_when(move |_| {
            seen.fetch_add(1, SeqCst);
            // Back into the pool from the classifier: would deadlock under its lock.
            cell.get().map(|p| p.stats().submitted).unwrap_or_default() > 0
        })
        .pause_when(|_| panic!("a panicking hint"))
        .on_worker_start(move |_| {
            let _ = cell2.get().map(|p| p.workers());
            panic!("a panicking hook");
        })
        .build(Memory::new(Start::Normal))
        .unwrap();
    let _ = pool_cell.set(pool.clone());
    let error = within(pool.call("fail", "")).await.unwrap_err();
    assert!(
        matches!(error, CallError::Failed { attempts: 2, .. }),
        "{error:?}"
    );
    assert_eq!(asked.load(SeqCst), 2);
    assert_eq!(within(pool.call("echo", "fine")).await.unwrap(), "fine");
    assert!(!pool.stats().paused);
}
