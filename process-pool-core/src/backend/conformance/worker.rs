//! The conformance suite every [`WorkerSpawner`] must pass: calls answered each to its caller,
//! typed errors, a crashing worker replaced and its calls retried (or failed typed), a program
//! that cannot start, a wedged worker found by pings, timeouts and cancels, and nothing left
//! running after a shutdown or a drop, a worker still starting included.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;

use super::HANG_BOUND;
use crate::backend::WorkerSpawner;
use crate::{Call, CallError, ErrorCode, RetryPolicy, WorkerPool, WorkerPoolBuilder};

/// How a backend expresses the behaviours the suite checks.
pub trait WorkerFixtures: Send + Sync + 'static {
    /// The backend under test.
    type Spawner: WorkerSpawner;

    /// Workers that serve `echo` (the payload back) and `fail` (an error answer, code
    /// `failed`), one call at a time, plus the calls below.
    fn workers(&self) -> Self::Spawner;
    /// Workers whose program does not exist.
    fn missing(&self) -> Self::Spawner;
    /// A call that makes its worker die (exit, abort or trap) before answering.
    fn crash(&self) -> Call;
    /// A call after which its worker answers nothing more, pings and cancels included, while
    /// it stays alive (it may or may not answer this call itself).
    fn wedge(&self) -> Call;
}

fn builder() -> WorkerPoolBuilder {
    WorkerPool::builder()
        .max_workers(1)
        .kill_grace(Duration::from_millis(200))
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG_BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not end within {HANG_BOUND:?}"))
}

/// Whether process `pid` is alive (not a zombie), from `/proc`.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// Waits until none of `pids` is alive, failing past the hang bound.
async fn all_gone(pids: &HashSet<u32>) {
    within("the workers' exit", async {
        while pids.iter().any(|&pid| alive(pid)) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

fn pids(pool: &WorkerPool) -> HashSet<u32> {
    pool.workers()
        .per_worker
        .iter()
        .filter_map(|w| w.pid)
        .collect()
}

/// Every call is answered, each with its own reply, across several workers.
pub async fn calls_are_answered_each_to_its_caller<F: WorkerFixtures>(fixtures: &F) {
    let pool = builder()
        .max_workers(2)
        .build(fixtures.workers())
        .expect("a pool");
    let calls = (0..500).map(|i| Call::new("echo", format!("payload {i}")));
    let replies = within("500 calls", pool.call_many(calls)).await;
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.expect("a reply"), Bytes::from(format!("payload {i}")));
    }
    let stats = within("the shutdown", pool.shutdown(Duration::from_secs(5))).await;
    assert_eq!(
        (stats.submitted, stats.succeeded, stats.failed),
        (500, 500, 0)
    );
}

/// An error answer and an unknown method are typed errors, and the worker lives on.
pub async fn errors_are_typed<F: WorkerFixtures>(fixtures: &F) {
    let pool = builder().build(fixtures.workers()).expect("a pool");
    let error = within("a failing call", pool.call("fail", "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CallError::Failed { code: ErrorCode::Failed, method, .. } if method == "fail"),
        "{error:?}"
    );
    let error = within("an unknown method", pool.call("no_such_method", "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, CallError::UnknownMethod { .. }),
        "{error:?}"
    );
    assert_eq!(
        within("an echo", pool.call("echo", "still here"))
            .await
            .unwrap(),
        "still here"
    );
    assert_eq!(pool.workers().crashed, 0);
}

/// A worker that dies under a call is replaced; the call is retried under the policy, a
/// `no_retry` one fails typed at once, and the pool goes on. The crash hook has run for each
/// crash by the time a call that failed for it is answered.
pub async fn a_crashed_worker_is_replaced<F: WorkerFixtures>(fixtures: &F) {
    let crashes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&crashes);
    let pool = builder()
        .on_worker_crash(move |_| {
            // A slow hook: the call's answer must still wait for it.
            std::thread::sleep(Duration::from_millis(20));
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
        .build(fixtures.workers())
        .expect("a pool");
    let error = within("a crash", pool.submit(fixtures.crash().no_retry()))
        .await
        .unwrap_err();
    assert!(
        matches!(error, CallError::WorkerCrashed { attempts: 1, .. }),
        "{error:?}"
    );
    assert_eq!(
        crashes.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the crash hook ran before the call was answered"
    );
    let twice = fixtures.crash().retry(RetryPolicy::attempts(2));
    let error = within("a crash retried", pool.submit(twice))
        .await
        .unwrap_err();
    assert!(
        matches!(error, CallError::WorkerCrashed { attempts: 2, .. }),
        "{error:?}"
    );
    assert_eq!(
        within("an echo", pool.call("echo", "after")).await.unwrap(),
        "after"
    );
    assert!(pool.workers().crashed >= 3, "{:?}", pool.workers());
    assert_eq!(pool.stats().failed, 2);
}

/// A program that cannot be started fails typed, after one attempt (a retry would not mend it).
pub async fn a_missing_program_fails_typed<F: WorkerFixtures>(fixtures: &F) {
    let pool = builder().build(fixtures.missing()).expect("a pool");
    let error = within("a start", pool.ready()).await.unwrap_err();
    assert!(
        matches!(error, CallError::WorkerStart { attempts: 1, .. }),
        "{error:?}"
    );
    let error = within("a call", pool.call("echo", "x")).await.unwrap_err();
    assert!(matches!(error, CallError::WorkerStart { .. }), "{error:?}");
}

/// A worker that stops answering while it holds calls is found by the health check's pings,
/// killed and replaced, and the calls it held are retried.
pub async fn a_wedged_worker_is_found_and_replaced<F: WorkerFixtures>(fixtures: &F) {
    let pool = builder()
        .max_calls_per_worker(2)
        .health_check(Duration::from_millis(50), Duration::from_millis(300))
        .build(fixtures.workers())
        .expect("a pool");
    let wedge = pool.submit(fixtures.wedge().no_retry());
    let after = pool.submit(Call::new("echo", "found"));
    assert_eq!(
        within("a call behind a wedged worker", after)
            .await
            .unwrap(),
        "found"
    );
    let _ = within("the wedging call", wedge).await;
    assert!(pool.workers().crashed >= 1, "{:?}", pool.workers());
}

/// A call past its time limit is answered `TimedOut`; its worker, which ignores the cancel, is
/// killed after the kill grace; a cancelled call is answered `Cancelled`; the pool goes on.
pub async fn timeouts_and_cancels_are_answered<F: WorkerFixtures>(fixtures: &F) {
    let pool = builder().build(fixtures.workers()).expect("a pool");
    let limit = Duration::from_millis(100);
    let error = within(
        "a timeout",
        pool.submit(fixtures.wedge().no_retry().timeout(limit)),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, CallError::TimedOut { .. }), "{error:?}");
    let handle = pool.submit(fixtures.wedge().no_retry());
    handle.cancel();
    let error = within("a cancel", handle).await.unwrap_err();
    assert!(matches!(error, CallError::Cancelled { .. }), "{error:?}");
    assert_eq!(
        within("an echo", pool.call("echo", "on")).await.unwrap(),
        "on"
    );
    let stats = pool.stats();
    assert_eq!((stats.timed_out, stats.cancelled), (1, 1), "{stats}");
}

/// A shutdown answers every call, stops every worker, and leaves no process behind.
pub async fn shutdown_leaves_nothing<F: WorkerFixtures>(fixtures: &F) {
    let pool = builder()
        .min_workers(2)
        .max_workers(2)
        .build(fixtures.workers())
        .expect("a pool");
    within("two workers", pool.ready()).await.expect("ready");
    let pids = pids(&pool);
    let held = pool.submit(fixtures.wedge().no_retry());
    let stats = within("the shutdown", pool.shutdown(Duration::from_millis(100))).await;
    assert!(matches!(held.await, Err(CallError::Cancelled { .. })));
    assert_eq!(stats.completed(), stats.submitted, "{stats}");
    assert_eq!(pool.workers().alive, 0);
    all_gone(&pids).await;
    assert!(matches!(
        pool.call("echo", "x").await,
        Err(CallError::PoolClosed)
    ));
}

/// A shutdown while a worker is still starting returns at once, the worker killed.
pub async fn shutdown_while_starting_is_prompt<F: WorkerFixtures>(fixtures: &F) {
    let pool = builder()
        .min_workers(1)
        .build(fixtures.workers())
        .expect("a pool");
    let started = std::time::Instant::now();
    within("the shutdown", pool.shutdown(Duration::ZERO)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(pool.workers().alive, 0);
}

/// Dropping the last handle closes the pool and stops its idle workers.
pub async fn dropping_the_pool_stops_its_workers<F: WorkerFixtures>(fixtures: &F) {
    let pool = builder()
        .min_workers(1)
        .build(fixtures.workers())
        .expect("a pool");
    within("a worker", pool.ready()).await.expect("ready");
    let pids = pids(&pool);
    let call = pool.submit(Call::new("echo", "answered after the drop"));
    drop(pool);
    assert_eq!(
        within("a call", call).await.unwrap(),
        "answered after the drop"
    );
    all_gone(&pids).await;
}

/// Generates one `#[tokio::test]` per worker conformance check, for the fixtures `$fixtures`.
///
/// The calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a dev-dependency.
#[macro_export]
macro_rules! worker_conformance_tests {
    ($fixtures:expr) => {
        $crate::worker_conformance_tests!(@each $fixtures;
            calls_are_answered_each_to_its_caller,
            errors_are_typed,
            a_crashed_worker_is_replaced,
            a_missing_program_fails_typed,
            a_wedged_worker_is_found_and_replaced,
            timeouts_and_cancels_are_answered,
            shutdown_leaves_nothing,
            shutdown_while_starting_is_prompt,
            dropping_the_pool_stops_its_workers,
        );
    };
    (@each $fixtures:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::backend::conformance::worker::$check(&$fixtures).await;
            }
        )*
    };
}
