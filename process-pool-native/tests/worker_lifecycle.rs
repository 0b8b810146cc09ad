//! Warm worker pools on real worker processes, their workers' lives: start failures, crashes,
//! cancels, health checks, recycling, scaling, shutdown and drop, with every process checked
//! gone by pid. Calls are in `workers.rs`.

// Unix only: it checks exits by signal (SIGABRT, SIGKILL), finds workers by `/proc/<pid>/environ`
// and starts `sh` trees; Windows' counterparts are in `windows_workers.rs`.
#![cfg(unix)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::test_worker;
use common::workers::*;
use process_pool_core::backend::ExitStatus;
use process_pool_core::{Backoff, Call, CallError, RetryOn, RetryPolicy, WorkerPool};
use process_pool_native::NativeWorker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_exits_at_start_is_retried_with_backoff_then_given_up() {
    let (builder, mut events) = with_events(WorkerPool::builder().min_workers(1));
    let pool = builder
        .startup_retry(RetryPolicy::attempts(4).backoff(Backoff::exponential(
            Duration::from_millis(10),
            Duration::from_secs(1),
        )))
        .build(test_worker().env("WORKER_EXIT_AT_START", "1"))
        .unwrap();
    let error = hang_guard(pool.ready()).await.unwrap_err();
    let CallError::WorkerStart {
        attempts, reason, ..
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!(*attempts, 4);
    assert!(reason.contains("exited before its hello"), "{reason}");
    assert!(
        reason.contains("told to exit at start"),
        "stderr tail: {reason}"
    );
    // No crash loop: nothing is starting now, even below min_workers.
    let workers = pool.workers();
    assert_eq!(
        (workers.alive, workers.started, workers.start_failures),
        (0, 0, 1)
    );
    // A call asks again, and fails the same way.
    let again = hang_guard(pool.call("echo", "")).await.unwrap_err();
    assert!(matches!(again, CallError::WorkerStart { attempts: 4, .. }));
    assert!(events.try_recv().is_err(), "no worker ever started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_workers_are_replaced_and_every_call_answered_once() {
    let (builder, _events) = with_events(
        WorkerPool::builder()
            .max_workers(2)
            .retry(RetryPolicy::attempts(4).on(RetryOn::CRASH)),
    );
    let pool = builder.build(test_worker()).unwrap();
    let mut pids = HashSet::new();

    // Exits on every 7th call: all 200 calls still succeed, on replacements.
    let calls = (0..200).map(|i| Call::new("flaky", i.to_string()));
    let replies = hang_guard(pool.call_many(calls)).await;
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.unwrap(), i.to_string());
    }
    let (stats, workers) = (pool.stats(), pool.workers());
    assert!(workers.crashed >= 200 / 7 / 2, "{workers:?}");
    assert!(stats.retried >= workers.crashed, "{stats}");
    assert_eq!(stats.succeeded, 200);

    // Aborts: retried, then a typed error with the signal and the stderr tail.
    pids.insert(pid(&pool).await);
    let error = hang_guard(pool.call("die", "")).await.unwrap_err();
    let CallError::WorkerCrashed {
        exit,
        stderr_tail,
        attempts,
        ..
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!((exit, *attempts), (&Some(ExitStatus::Signal(6)), 4));
    assert!(stderr_tail.contains("aborting on purpose"), "{stderr_tail}");

    // A no_retry call on a crashing worker: one attempt only.
    let error = hang_guard(pool.submit(Call::new("die", "").no_retry()))
        .await
        .unwrap_err();
    assert!(
        matches!(error, CallError::WorkerCrashed { attempts: 1, .. }),
        "{error}"
    );

    // Garbage on stdout: a protocol error, the worker replaced.
    let error = hang_guard(pool.submit(Call::new("garbage", "").no_retry()))
        .await
        .unwrap_err();
    assert!(matches!(error, CallError::ProtocolError { .. }), "{error}");

    // A hung call times out; the worker honours the cancel and stays.
    let before = pid(&pool).await;
    pids.insert(before);
    let error = hang_guard(pool.submit(Call::new("hang", "").timeout(Duration::from_millis(100))))
        .await
        .unwrap_err();
    assert!(matches!(error, CallError::TimedOut { .. }), "{error}");
    let crashed = pool.workers().crashed;

    // Through all of it the pool kept serving.
    let replies =
        hang_guard(pool.call_many((0..50).map(|i| Call::new("echo", i.to_string())))).await;
    assert!(replies.iter().all(Result::is_ok));
    assert_eq!(
        pool.workers().crashed,
        crashed,
        "the hung call's worker was not killed"
    );
    for w in pool.workers().per_worker {
        pids.extend(w.pid);
    }
    pool.shutdown(Duration::from_secs(5)).await;
    all_gone(&pids);
    assert!(
        common::children_of_self().iter().all(|(_, s)| *s != 'Z'),
        "no zombies"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_honoured_keeps_the_worker_an_ignored_one_kills_it() {
    let (builder, mut events) = with_events(
        WorkerPool::builder()
            .max_workers(1)
            .max_calls_per_worker(2)
            .kill_grace(Duration::from_millis(200)),
    );
    let pool = builder
        .build(test_worker().env("WORKER_CONCURRENCY", "2"))
        .unwrap();
    let first = pid(&pool).await;

    // Honoured: the worker and its neighbour call are untouched.
    let long = pool.submit(Call::new("sleep", "30000"));
    let neighbour = pool.submit(Call::new("sleep", "300"));
    long.cancel();
    let error = hang_guard(long).await.unwrap_err();
    assert!(matches!(error, CallError::Cancelled { .. }), "{error}");
    let reply = hang_guard(neighbour).await.unwrap();
    assert!(reply.starts_with(b"300:"), "{reply:?}");
    assert_eq!(pid(&pool).await, first);

    // Ignored: the worker is killed after the grace; the neighbour is retried elsewhere.
    let stubborn = pool.submit(Call::new("stubborn", "30000"));
    let neighbour = pool.submit(Call::new("sleep", "1000"));
    stubborn.cancel();
    assert!(matches!(
        hang_guard(stubborn).await,
        Err(CallError::Cancelled { .. })
    ));
    let crash = next_event(&mut events, "crash").await;
    assert_eq!(crash.pid, Some(first));
    assert!(
        crash.reason.contains("ignored a cancel"),
        "{}",
        crash.reason
    );
    assert!(hang_guard(neighbour).await.unwrap().starts_with(b"1000:"));
    assert_ne!(pid(&pool).await, first);
    assert_eq!((pool.workers().crashed, pool.stats().retried), (1, 1));
    pool.shutdown(Duration::from_secs(5)).await;
    all_gone(&HashSet::from([first]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_check_replaces_a_hung_idle_worker() {
    let (builder, mut events) = with_events(
        WorkerPool::builder()
            .max_workers(1)
            .health_check(Duration::from_millis(50), Duration::from_millis(300)),
    );
    let pool = builder.build(test_worker()).unwrap();
    let first = pid(&pool).await;
    assert_eq!(pool.call("freeze", "").await.unwrap(), "freezing");
    let crash = next_event(&mut events, "crash").await;
    assert_eq!(crash.pid, Some(first));
    assert!(
        crash.reason.contains("did not answer a ping"),
        "{}",
        crash.reason
    );
    assert_eq!(crash.exit, Some(ExitStatus::Signal(9)));
    assert_ne!(pid(&pool).await, first);
    pool.shutdown(Duration::from_secs(5)).await;
    all_gone(&HashSet::from([first]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_are_recycled_after_n_calls_and_over_memory() {
    let (builder, mut events) =
        with_events(WorkerPool::builder().max_workers(1).max_tasks_per_worker(5));
    let pool = builder.build(test_worker()).unwrap();
    let mut pids = Vec::new();
    for _ in 0..20 {
        pids.push(pid(&pool).await);
    }
    let distinct: HashSet<u32> = pids.iter().copied().collect();
    assert_eq!(distinct.len(), 4, "a new worker every 5 calls: {pids:?}");
    assert!(pids.chunks(5).all(|c| c.iter().all(|p| *p == c[0])));
    // A recycled worker is counted once it is gone, which may come after its successor has
    // answered: wait for the first three to go.
    for _ in 0..3 {
        let stop = next_event(&mut events, "stop").await;
        assert_eq!(stop.reason, "recycled after 5 calls");
    }
    assert!(pool.workers().recycled >= 3);
    pool.shutdown(Duration::from_secs(5)).await;
    all_gone(&distinct);

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
    assert_eq!(pool.workers().recycled, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scales_up_under_load_and_down_to_min_when_idle() {
    let (builder, mut events) = with_events(
        WorkerPool::builder()
            .min_workers(1)
            .max_workers(3)
            .idle_timeout(Duration::from_millis(100)),
    );
    let pool = builder.build(test_worker()).unwrap();
    hang_guard(pool.ready()).await.unwrap();
    assert_eq!(pool.workers().alive, 1);
    let replies = hang_guard(pool.call_many((0..6).map(|_| Call::new("sleep", "200")))).await;
    assert!(replies.iter().all(Result::is_ok));
    assert_eq!(pool.workers().started, 3, "scaled up to max under load");
    for _ in 0..2 {
        let stop = next_event(&mut events, "stop").await;
        assert_eq!(stop.reason, "idle");
    }
    assert_eq!(pool.workers().alive, 1, "down to min_workers");
    assert_eq!(pool.workers().stopped, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_every_call_and_leaves_no_process() {
    let pool = WorkerPool::builder()
        .max_workers(2)
        .build(test_worker())
        .unwrap();
    let mut pids: HashSet<u32> = HashSet::new();
    pids.insert(pid(&pool).await);
    let handles: Vec<_> = (0..10)
        .map(|_| pool.submit(Call::new("sleep", "200")))
        .collect();
    while pool.stats().running < 2 {
        tokio::task::yield_now().await;
    }
    // Hold the queue still, so that what shutdown finds queued is known (on a slow machine a
    // worker may have finished a call, and taken the next, before this line).
    pool.pause();
    let stats = pool.stats();
    assert!(stats.queued >= 1 && stats.running >= 1, "{stats}");
    for w in pool.workers().per_worker {
        pids.extend(w.pid);
    }
    hang_guard(pool.shutdown(Duration::from_secs(10))).await;
    let mut answered = 0;
    let mut cancelled = 0;
    for handle in handles {
        match handle.await {
            Ok(reply) => {
                assert!(reply.starts_with(b"200:"), "{reply:?}");
                answered += 1;
            }
            Err(CallError::Cancelled { .. }) => cancelled += 1,
            Err(other) => panic!("{other}"),
        }
    }
    // Calls in flight finished within the grace; queued ones were cancelled.
    assert_eq!((answered, cancelled), (10 - stats.queued, stats.queued));
    assert!(matches!(
        pool.call("echo", "").await,
        Err(CallError::PoolClosed)
    ));
    all_gone(&pids);

    // A grace that runs out: the stubborn call is answered Cancelled, its worker killed.
    let pool = test_worker().pool(1).unwrap();
    let first = pid(&pool).await;
    let stubborn = pool.submit(Call::new("stubborn", "30000"));
    while pool.stats().running < 1 {
        tokio::task::yield_now().await;
    }
    hang_guard(pool.shutdown(Duration::from_millis(200))).await;
    assert!(matches!(stubborn.await, Err(CallError::Cancelled { .. })));
    all_gone(&HashSet::from([first]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_stops_when_its_last_handle_goes() {
    let pool = test_worker().pool(1).unwrap();
    let first = pid(&pool).await;
    let pending = pool.submit(Call::new("sleep", "100"));
    // The call's handle holds the pool: dropping the pool lets the call finish.
    drop(pool);
    assert!(hang_guard(pending).await.unwrap().starts_with(b"100:"));
    // With that handle gone too, nothing holds the pool: its worker is killed and reaped.
    hang_guard(async {
        while common::is_running(first) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;

    // A call nobody holds any more is cancelled with its pool, its worker killed.
    let pool = test_worker().pool(1).unwrap();
    let second = pid(&pool).await;
    drop(pool.submit(Call::new("hang", "")));
    while pool.stats().running < 1 {
        tokio::task::yield_now().await;
    }
    drop(pool);
    hang_guard(async {
        while common::is_running(second) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_dying_right_after_its_hello_is_not_restarted_in_a_loop() {
    let (builder, mut events) = with_events(
        WorkerPool::builder()
            .min_workers(2)
            .max_workers(2)
            .retry(RetryPolicy::attempts(2).on(RetryOn::CRASH)),
    );
    let pool = builder
        .build(test_worker().env("WORKER_EXIT_AFTER_HELLO", "1"))
        .unwrap();
    // The pool starts its two at once; nothing here asks for more (a call or `ready` would:
    // called after a first death, `ready` rightly starts a replacement, which made this test
    // count three starts now and then).
    for _ in 0..2 {
        next_event(&mut events, "crash").await;
    }
    // Absence can only be watched for: a window in which nothing more may start.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let workers = pool.workers();
    assert_eq!((workers.alive, workers.started, workers.crashed), (0, 2, 2));
    // Asked again, `ready` starts two more: it returns, either having seen them up for a
    // moment or saying why they are gone.
    if let Err(error) = hang_guard(pool.ready()).await {
        assert!(
            matches!(&error, CallError::WorkerStart { reason, .. }
                if reason.contains("said hello, then") && reason.contains("exit code 4")),
            "{error}"
        );
    }
    // A call still gets its attempts, then a typed error.
    let error = hang_guard(pool.call("echo", "x")).await.unwrap_err();
    assert!(
        matches!(error, CallError::WorkerCrashed { attempts: 2, .. }),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_while_a_worker_starts_returns_without_waiting_for_the_grace() {
    let marker = "PROCESS_POOL_TEST=shutdown-while-starting";
    let (key, value) = marker.split_once('=').unwrap();
    let pool = WorkerPool::builder()
        .kill_grace(Duration::from_secs(20))
        .build(test_worker().env(key, value))
        .unwrap();
    let call = pool.submit(Call::new("echo", "x"));
    let started = std::time::Instant::now();
    hang_guard(pool.shutdown(Duration::from_secs(20))).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the starting worker was asked to go, not left to the grace"
    );
    match call.await {
        Ok(reply) => assert_eq!(reply, "x"),
        Err(CallError::Cancelled { .. }) => {}
        Err(other) => panic!("{other}"),
    }
    assert_eq!(common::marked(marker), Vec::<u32>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_waits_for_a_replacement_after_recycling_and_resizing() {
    let pool = WorkerPool::builder()
        .min_workers(1)
        .max_tasks_per_worker(1)
        .build(test_worker())
        .unwrap();
    hang_guard(pool.ready()).await.unwrap();
    let first = pid(&pool).await;
    // The worker is recycled after that call; `ready` waits for the next one.
    hang_guard(pool.ready()).await.unwrap();
    assert!(
        pool.workers()
            .per_worker
            .iter()
            .any(|w| w.pid != Some(first))
    );
    pool.resize(2, 2).unwrap();
    hang_guard(pool.ready()).await.unwrap();
    assert!(pool.workers().alive >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_pool_does_not_churn_idle_workers_while_calls_wait() {
    let pool = WorkerPool::builder()
        .max_workers(2)
        .idle_timeout(Duration::from_millis(20))
        .build(test_worker())
        .unwrap();
    hang_guard(pool.call_many((0..2).map(|_| Call::new("sleep", "50")))).await;
    pool.pause();
    let waiting: Vec<_> = (0..4)
        .map(|i| pool.submit(Call::new("echo", i.to_string())))
        .collect();
    // Many idle periods pass while the calls wait.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let workers = pool.workers();
    assert_eq!(
        (workers.started, workers.stopped),
        (2, 0),
        "no worker retired and replaced"
    );
    pool.resume();
    for (i, handle) in waiting.into_iter().enumerate() {
        assert_eq!(hang_guard(handle).await.unwrap(), i.to_string());
    }
}

/// Defect 2: a shutdown while a worker is still starting (no hello yet) kills its process group
/// within the grace, rather than waiting for the start-up timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_kills_a_worker_still_starting_with_its_tree() {
    let marker = "PROCESS_POOL_TEST=shutdown-kills-a-starting-tree";
    let pool = WorkerPool::builder()
        .startup_timeout(Duration::from_secs(60))
        .build(silent_tree(marker))
        .unwrap();
    let call = pool.submit(Call::new("echo", "x"));
    until_marked(marker, |n| n >= 3).await;
    let started = std::time::Instant::now();
    hang_guard(pool.shutdown(Duration::from_millis(200))).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "waited {:?}, not the grace",
        started.elapsed()
    );
    assert!(matches!(call.await, Err(CallError::Cancelled { .. })));
    assert_eq!(common::marked(marker), Vec::<u32>::new());
}

/// Defect 3: dropping the last handle while a worker is still starting kills its process tree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_pool_kills_a_worker_still_starting_with_its_tree() {
    let marker = "PROCESS_POOL_TEST=drop-kills-a-starting-tree";
    let pool = WorkerPool::builder()
        .min_workers(1)
        .startup_timeout(Duration::from_secs(60))
        .build(silent_tree(marker))
        .unwrap();
    until_marked(marker, |n| n >= 3).await;
    drop(pool);
    until_marked(marker, |n| n == 0).await;
}

/// A "worker" that never says hello, with a child of its own, both carrying `marker`
/// (`KEY=VALUE`) in their environment.
fn silent_tree(marker: &str) -> NativeWorker {
    let (key, value) = marker.split_once('=').expect("KEY=VALUE");
    NativeWorker::new("sh")
        .args(["-c", "sleep 600 & sleep 600"])
        .env(key, value)
}

/// Waits (within the hang bound) until the number of live processes carrying `marker` is one
/// `wanted` accepts.
async fn until_marked(marker: &str, wanted: impl Fn(usize) -> bool) {
    hang_guard(async {
        while !wanted(common::marked(marker).len()) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}
