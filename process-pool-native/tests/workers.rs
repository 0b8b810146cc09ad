//! Warm worker pools on real worker processes, their calls: the Rust test worker
//! (`examples/test_worker.rs`) and the Python one
//! (`process-pool-protocol/examples/python_worker.py`), typed calls, calls in flight, errors,
//! pause and retry, limits. Worker lifecycles are in `worker_lifecycle.rs`.

// Unix only: several tests use the Python worker and `/proc`; the Rust worker's calls, crashes,
// health checks, tree kills and memory recycling run on Windows in `windows_workers.rs` and the
// worker conformance suite in `conformance.rs`.
#![cfg(unix)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::test_worker;
use common::workers::*;
use process_pool_core::{Call, CallError, ErrorCode, RetryPolicy, WorkerPool};
use process_pool_native::NativeWorker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_worker_answers_10k_calls_each_to_its_caller() {
    let pool = test_worker().pool(2).unwrap();
    echo_10k(&pool).await;
    assert_eq!(pool.workers().started, 2);
    pool.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_worker_answers_10k_calls_and_typed_calls() {
    let pool = python_worker().pool(2).unwrap();
    echo_10k(&pool).await;
    let sum: i64 = pool.call_json("add", &(2, 40)).await.unwrap();
    assert_eq!(sum, 42);
    let error = pool
        .call_json::<_, i64>("add", "not a list")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CallError::Failed { code: ErrorCode::Failed, message, .. } if message.contains("TypeError")),
        "{error}"
    );
    pool.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_calls_to_the_rust_worker() {
    let pool = test_worker().pool(1).unwrap();
    let sum: i64 = pool.call_json("add", &(-2, 44)).await.unwrap();
    assert_eq!(sum, 42);
    let error = pool.call_json::<_, i64>("add", &"x").await.unwrap_err();
    assert!(
        matches!(
            &error,
            CallError::Failed {
                code: ErrorCode::BadRequest,
                ..
            }
        ),
        "{error}"
    );
    let error = pool
        .call_json::<_, String>("add", &(1, 2))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CallError::Json { reason, .. } if reason.starts_with("reply")),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_calls_in_flight_on_one_worker_replies_out_of_order() {
    let pool = WorkerPool::builder()
        .max_workers(1)
        .max_calls_per_worker(8)
        .build(test_worker().env("WORKER_CONCURRENCY", "8"))
        .unwrap();
    pool.ready().await.unwrap();
    // The first submitted sleeps longest: replies come back in reverse.
    let handles: Vec<_> = (0..8u64)
        .map(|i| pool.submit(Call::new("sleep", ((8 - i) * 40).to_string())))
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        let reply = hang_guard(handle).await.unwrap();
        let text = String::from_utf8(reply.to_vec()).unwrap();
        let (ms, peak) = text.split_once(':').expect(&text);
        assert_eq!(
            ms,
            ((8 - i as u64) * 40).to_string(),
            "call {i} got another's reply"
        );
        assert_eq!(peak, "8", "the worker counted 8 calls in flight at once");
    }
    assert_eq!(pool.workers().started, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_and_oversized_frames_are_typed_errors() {
    let pool = test_worker().pool(1).unwrap();
    let error = pool.call("nope", "").await.unwrap_err();
    let CallError::UnknownMethod { method, served } = &error else {
        panic!("{error}");
    };
    assert_eq!(method, "nope");
    assert!(served.iter().any(|m| m == "echo"));
    assert!(
        error
            .to_string()
            .starts_with("no worker method `nope` (the worker serves: add, die, echo")
    );

    // Over the worker's limit (16 MiB): refused before sending.
    let big = vec![b'x'; 17 << 20];
    let error = pool.call("echo", big).await.unwrap_err();
    assert!(
        matches!(error, CallError::TooLarge { len, max, .. } if len > max && max == 16 << 20),
        "{error}"
    );
    // The worker is untouched.
    assert_eq!(pool.call("echo", "fine").await.unwrap(), "fine");

    // A reply over the pool's limit: the worker broke the protocol, and is replaced.
    let strict = WorkerPool::builder()
        .max_workers(1)
        .max_frame(1024)
        .retry(RetryPolicy::none())
        .build(test_worker())
        .unwrap();
    let error = strict.call("echo", vec![b'y'; 2000]).await.unwrap_err();
    assert!(
        matches!(&error, CallError::ProtocolError { reason, .. } if reason.contains("exceeds the limit of 1024 bytes")),
        "{error}"
    );
    assert_eq!(strict.call("echo", "small").await.unwrap(), "small");
    assert_eq!(strict.workers().crashed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_program_fails_the_calls_at_once_naming_it_once() {
    let pool = WorkerPool::builder()
        .build(NativeWorker::new("/no/such/worker"))
        .unwrap();
    let error = hang_guard(pool.call("echo", "")).await.unwrap_err();
    let CallError::WorkerStart {
        program,
        attempts,
        reason,
    } = &error
    else {
        panic!("{error}");
    };
    // A program that does not exist will not appear: no retries.
    assert_eq!((program.as_str(), *attempts), ("/no/such/worker", 1));
    assert!(reason.contains("no such file"), "{reason}");
    assert_eq!(
        error.to_string().matches("/no/such/worker").count(),
        1,
        "{error}"
    );
    assert_eq!(pool.workers().alive, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_pool_holds_calls_and_times_are_counted() {
    let pool = WorkerPool::builder()
        .min_workers(1)
        .max_workers(1)
        .build(test_worker())
        .unwrap();
    hang_guard(pool.ready()).await.unwrap();
    pool.pause();
    let handles: Vec<_> = (0..3)
        .map(|i| pool.submit(Call::new("echo", i.to_string())))
        .collect();
    let stats = pool.stats();
    assert_eq!((stats.queued, stats.running, stats.paused), (3, 0, true));
    pool.resume();
    for (i, handle) in handles.into_iter().enumerate() {
        assert_eq!(hang_guard(handle).await.unwrap(), i.to_string());
    }
    let stats = pool.stats();
    assert!(!stats.paused);
    assert_eq!((stats.wait.count, stats.run.count), (3, 3));
    assert!(stats.run.p50 > Duration::ZERO && stats.run.p99 >= stats.run.p50);

    // A timed pause ends by itself.
    pool.pause_for(Duration::from_millis(100));
    let started = std::time::Instant::now();
    assert_eq!(hang_guard(pool.call("echo", "x")).await.unwrap(), "x");
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert!(pool.stats().wait.max >= Duration::from_millis(100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classified_error_is_retried_after_a_pause() {
    let limited = |error: &CallError| matches!(error, CallError::Failed { message, .. } if message.contains("rate limited"));
    let pool = WorkerPool::builder()
        .max_workers(1)
        .retry(RetryPolicy::attempts(4))
        .retry_when(limited)
        .pause_when(move |error| limited(error).then_some(Duration::from_millis(100)))
        .build(test_worker())
        .unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        hang_guard(pool.call("limited", "2")).await.unwrap(),
        "through"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "two pauses of 100 ms"
    );
    assert_eq!((pool.stats().retried, pool.workers().crashed), (2, 0));
    // A `no_retry` call is not sent again, whatever the classifier says.
    let once = hang_guard(pool.submit(Call::new("limited", "100").no_retry())).await;
    assert!(matches!(once, Err(CallError::Failed { .. })), "{once:?}");
    assert_eq!(pool.stats().retried, 2);
    // Other errors are not retried.
    assert!(matches!(
        pool.call("nope", "").await,
        Err(CallError::UnknownMethod { .. })
    ));
    assert_eq!(pool.stats().retried, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_calls_leave_no_timer_behind() {
    let pool = WorkerPool::builder()
        .max_workers(2)
        .timeout(Duration::from_secs(3600))
        .build(test_worker())
        .unwrap();
    let replies =
        hang_guard(pool.call_many((0..500).map(|i| Call::new("echo", i.to_string())))).await;
    assert!(replies.iter().all(Result::is_ok));
    // Each call had an hour-long timeout; none outlives its answer.
    let alive = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    assert!(alive < 50, "{alive} tasks alive after 500 answered calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_taking_fewer_calls_than_announced_gets_fewer() {
    // It announces 4 calls at once and takes 1: the other 3 are answered `overloaded`.
    let pool = WorkerPool::builder()
        .max_workers(1)
        .max_calls_per_worker(4)
        .retry(RetryPolicy::attempts(2))
        .build(python_worker().env("WORKER_ANNOUNCE", "4"))
        .unwrap();
    hang_guard(pool.ready()).await.unwrap();
    let replies = hang_guard(pool.call_many((0..4).map(|_| Call::new("sleep", "50")))).await;
    for reply in &replies {
        assert_eq!(reply.as_ref().unwrap(), "slept");
    }
    // Each refused call ran when sent again, one at a time from then on: an `overloaded`
    // answer is neither a retry nor a failure, and nothing crashed.
    let stats = pool.stats();
    assert_eq!((stats.succeeded, stats.retried, stats.failed), (4, 0, 0));
    assert_eq!(pool.workers().crashed, 0);
    assert_eq!(pool.workers().per_worker.len(), 1);
    pool.shutdown(Duration::from_secs(5)).await;
}

/// Defect 5: a worker's stderr is read with a bound: 256 MiB without a newline does not grow
/// the pool by 256 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_writing_stderr_without_newlines_costs_bounded_memory() {
    let pool = test_worker().pool(1).unwrap();
    hang_guard(pool.ready()).await.unwrap();
    let before = common::peak_rss_kib();
    assert_eq!(
        hang_guard(pool.call("spew", "256")).await.unwrap(),
        "spewed"
    );
    let grown_mib = (common::peak_rss_kib() - before) / 1024;
    assert!(grown_mib < 64, "the pool grew by {grown_mib} MiB");
    assert_eq!(pool.call("echo", "still").await.unwrap(), "still");
    pool.shutdown(Duration::from_secs(5)).await;
}

/// Defect 6: `max_tasks_per_worker(1)` with 4 calls at once per worker is a fresh process per
/// call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_tasks_per_worker_one_is_a_process_per_call() {
    let pool = WorkerPool::builder()
        .max_workers(2)
        .max_calls_per_worker(4)
        .max_tasks_per_worker(1)
        .build(test_worker().env("WORKER_CONCURRENCY", "4"))
        .unwrap();
    let replies = hang_guard(pool.call_many((0..8).map(|_| Call::new("pid", "")))).await;
    let pids: HashSet<String> = replies
        .into_iter()
        .map(|r| String::from_utf8(r.unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(pids.len(), 8, "{pids:?}");
    pool.shutdown(Duration::from_secs(5)).await;
}
