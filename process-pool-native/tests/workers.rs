//! Warm worker pools on real worker processes: the Rust test worker (`examples/test_worker.rs`)
//! and the Python one (`process-pool-protocol/examples/python_worker.py`).

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use common::HANG;
use process_pool_core::{Call, CallError, ExitStatus, WorkerEvent, WorkerPool, WorkerPoolBuilder};
use process_pool_native::NativeWorker;
use tokio::sync::mpsc;

/// The Rust test worker, built once per test binary (`cargo test --test workers` does not
/// build the package's examples by itself), beside this binary in `target/<profile>/`.
fn test_worker() -> NativeWorker {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let path = BUILT.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target/<profile>/deps");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = std::process::Command::new(cargo);
        build.args([
            "build",
            "-p",
            "process-pool-native",
            "--example",
            "test_worker",
        ]);
        build.env("CARGO_TARGET_DIR", profile_dir.parent().expect("target/"));
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo can be started");
        assert!(
            status.success(),
            "building the test worker failed ({status})"
        );
        profile_dir.join("examples/test_worker")
    });
    NativeWorker::new(path)
}

/// The Python worker, if `python3` is there (it is on every machine this project runs on).
fn python_worker() -> NativeWorker {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../process-pool-protocol/examples/python_worker.py");
    NativeWorker::new("python3").arg(script)
}

async fn hang_guard<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG, future).await.expect("no hang")
}

/// The pid a worker reports.
async fn pid(pool: &WorkerPool) -> u32 {
    let reply = pool.call("pid", "").await.expect("pid");
    std::str::from_utf8(&reply).unwrap().parse().unwrap()
}

/// Every pid ever seen is gone from `/proc`: exited and reaped.
fn all_gone(pids: &HashSet<u32>) {
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} is still there (alive or a zombie)"
        );
    }
}

/// Pids of live processes whose environment holds `marker` (`KEY=value`): the workers one
/// test started, told apart from those of the tests running beside it.
fn marked_processes(marker: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == marker.as_bytes()))
        })
        .collect()
}

/// Hooks that send each event to a channel the test awaits.
fn with_events(
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

async fn next_event(
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

async fn echo_10k(pool: &WorkerPool) {
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
    assert_eq!((stats.calls_done, stats.calls_failed), (10_000, 0));
    assert_eq!(stats.crashed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_worker_answers_10k_calls_each_to_its_caller() {
    let pool = test_worker().pool(2).unwrap();
    echo_10k(&pool).await;
    assert_eq!(pool.stats().started, 2);
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
        matches!(&error, CallError::Failed { code, message, .. } if code == "failed" && message.contains("TypeError")),
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
        matches!(&error, CallError::Failed { code, .. } if code == "bad_request"),
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
    assert_eq!(pool.stats().started, 1);
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
        .retries(0)
        .build(test_worker())
        .unwrap();
    let error = strict.call("echo", vec![b'y'; 2000]).await.unwrap_err();
    assert!(
        matches!(&error, CallError::ProtocolError { reason, .. } if reason.contains("exceeds the limit of 1024 bytes")),
        "{error}"
    );
    assert_eq!(strict.call("echo", "small").await.unwrap(), "small");
    assert_eq!(strict.stats().crashed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_program_fails_the_calls_after_bounded_attempts() {
    let pool = WorkerPool::builder()
        .startup_retries(2, Duration::from_millis(5))
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
    assert_eq!((program.as_str(), *attempts), ("/no/such/worker", 3));
    assert!(reason.contains("no such file"), "{reason}");
    assert_eq!(pool.stats().workers, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_exits_at_start_is_retried_with_backoff_then_given_up() {
    let (builder, mut events) = with_events(WorkerPool::builder().min_workers(1));
    let pool = builder
        .startup_retries(3, Duration::from_millis(10))
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
    let stats = pool.stats();
    assert_eq!(
        (stats.workers, stats.started, stats.start_failures),
        (0, 0, 1)
    );
    // A call asks again, and fails the same way.
    let again = hang_guard(pool.call("echo", "")).await.unwrap_err();
    assert!(matches!(again, CallError::WorkerStart { attempts: 4, .. }));
    assert!(events.try_recv().is_err(), "no worker ever started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_workers_are_replaced_and_every_call_answered_once() {
    let (builder, _events) = with_events(WorkerPool::builder().max_workers(2).retries(3));
    let pool = builder.build(test_worker()).unwrap();
    let mut pids = HashSet::new();

    // Exits on every 7th call: all 200 calls still succeed, on replacements.
    let calls = (0..200).map(|i| Call::new("flaky", i.to_string()));
    let replies = hang_guard(pool.call_many(calls)).await;
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.unwrap(), i.to_string());
    }
    let stats = pool.stats();
    assert!(stats.crashed >= 200 / 7 / 2, "{stats:?}");
    assert!(stats.calls_retried >= stats.crashed, "{stats:?}");
    assert_eq!(stats.calls_done, 200);

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
    let crashed = pool.stats().crashed;

    // Through all of it the pool kept serving.
    let replies =
        hang_guard(pool.call_many((0..50).map(|i| Call::new("echo", i.to_string())))).await;
    assert!(replies.iter().all(Result::is_ok));
    assert_eq!(
        pool.stats().crashed,
        crashed,
        "the hung call's worker was not killed"
    );
    for w in pool.stats().per_worker {
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
            .cancel_grace(Duration::from_millis(200)),
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
    let stats = pool.stats();
    assert_eq!((stats.crashed, stats.calls_retried), (1, 1));
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
    let pool = WorkerPool::builder()
        .max_workers(1)
        .max_tasks_per_worker(5)
        .build(test_worker())
        .unwrap();
    let mut pids = Vec::new();
    for _ in 0..20 {
        pids.push(pid(&pool).await);
    }
    let distinct: HashSet<u32> = pids.iter().copied().collect();
    assert_eq!(distinct.len(), 4, "a new worker every 5 calls: {pids:?}");
    assert!(pids.chunks(5).all(|c| c.iter().all(|p| *p == c[0])));
    assert!(pool.stats().recycled >= 3);
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
    assert_eq!(pool.stats().recycled, 1);
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
    assert_eq!(pool.stats().workers, 1);
    let replies = hang_guard(pool.call_many((0..6).map(|_| Call::new("sleep", "200")))).await;
    assert!(replies.iter().all(Result::is_ok));
    assert_eq!(pool.stats().started, 3, "scaled up to max under load");
    for _ in 0..2 {
        let stop = next_event(&mut events, "stop").await;
        assert_eq!(stop.reason, "idle");
    }
    assert_eq!(pool.stats().workers, 1, "down to min_workers");
    assert_eq!(pool.stats().stopped, 2);
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
    while pool.stats().in_flight < 2 {
        tokio::task::yield_now().await;
    }
    // Hold the queue still, so that what shutdown finds queued is known (on a slow machine a
    // worker may have finished a call, and taken the next, before this line).
    pool.pause();
    let stats = pool.stats();
    assert!(stats.queued >= 1 && stats.in_flight >= 1, "{stats:?}");
    for w in stats.per_worker {
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
    while pool.stats().in_flight < 1 {
        tokio::task::yield_now().await;
    }
    hang_guard(pool.shutdown(Duration::from_millis(200))).await;
    assert!(matches!(stubborn.await, Err(CallError::Cancelled { .. })));
    all_gone(&HashSet::from([first]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_pool_kills_its_workers() {
    let pool = test_worker().pool(1).unwrap();
    let first = pid(&pool).await;
    let pending = pool.submit(Call::new("hang", ""));
    drop(pool);
    assert!(matches!(
        hang_guard(pending).await,
        Err(CallError::PoolClosed)
    ));
    // Killed at once; reaped by its task soon after.
    hang_guard(async {
        while std::path::Path::new(&format!("/proc/{first}")).exists() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
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
    assert_eq!((stats.queued, stats.in_flight, stats.paused), (3, 0, true));
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
    let pool = WorkerPool::builder()
        .max_workers(1)
        .retries(3)
        .retry_when(|error| match error {
            CallError::Failed { message, .. } if message.contains("rate limited") => {
                process_pool_core::Retry::AfterPause(Duration::from_millis(100))
            }
            _ => process_pool_core::Retry::No,
        })
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
    let stats = pool.stats();
    assert_eq!((stats.calls_retried, stats.crashed), (2, 0));
    // A `no_retry` call is not sent again, whatever the classifier says.
    let once = hang_guard(pool.submit(Call::new("limited", "100").no_retry())).await;
    assert!(matches!(once, Err(CallError::Failed { .. })), "{once:?}");
    assert_eq!(pool.stats().calls_retried, 2);
    // Other errors are not retried.
    assert!(matches!(
        pool.call("nope", "").await,
        Err(CallError::UnknownMethod { .. })
    ));
    assert_eq!(pool.stats().calls_retried, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_dying_right_after_its_hello_is_not_restarted_in_a_loop() {
    let (builder, mut events) = with_events(
        WorkerPool::builder()
            .min_workers(2)
            .max_workers(2)
            .retries(1),
    );
    let pool = builder
        .build(test_worker().env("WORKER_EXIT_AFTER_HELLO", "1"))
        .unwrap();
    // Whether `ready` saw them both up for a moment or not, it returns.
    let _ = hang_guard(pool.ready()).await;
    for _ in 0..2 {
        next_event(&mut events, "crash").await;
    }
    // Absence can only be watched for: a window in which nothing more may start.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = pool.stats();
    assert_eq!((stats.workers, stats.started, stats.crashed), (0, 2, 2));
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
        .cancel_grace(Duration::from_secs(20))
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
    assert_eq!(marked_processes(marker), Vec::<u32>::new());
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
    assert!(pool.stats().per_worker.iter().any(|w| w.pid != Some(first)));
    pool.resize(2, 2).unwrap();
    hang_guard(pool.ready()).await.unwrap();
    assert!(pool.stats().workers >= 2);
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
    let stats = pool.stats();
    assert_eq!(
        (stats.started, stats.stopped),
        (2, 0),
        "no worker retired and replaced"
    );
    pool.resume();
    for (i, handle) in waiting.into_iter().enumerate() {
        assert_eq!(hang_guard(handle).await.unwrap(), i.to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_calls_leave_no_timer_behind() {
    let pool = WorkerPool::builder()
        .max_workers(2)
        .call_timeout(Duration::from_secs(3600))
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
        .retries(1)
        .build(python_worker().env("WORKER_ANNOUNCE", "4"))
        .unwrap();
    hang_guard(pool.ready()).await.unwrap();
    let replies = hang_guard(pool.call_many((0..4).map(|_| Call::new("sleep", "50")))).await;
    for reply in &replies {
        assert_eq!(reply.as_ref().unwrap(), "slept");
    }
    let stats = pool.stats();
    // Each refused call ran on its second attempt, one at a time from then on.
    assert_eq!((stats.calls_retried, stats.crashed), (3, 0));
    assert_eq!(stats.per_worker.len(), 1);
    pool.shutdown(Duration::from_secs(5)).await;
}
