//! Compiling is the spawner's shared work, not a job's: compiled ahead, a module slow to
//! compile runs its first job within a timeout shorter than its compile; a compile past the
//! spawner's limit fails typed, naming the file; a job cancelled while its module compiles is
//! answered at once and leaves the compile to the next job; jobs of a file being compiled wait
//! for that one compile.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use process_pool_core::{Job, Outcome, ProcessPool};
use process_pool_wasi::WasiSpawner;
use tempfile::TempDir;
use tokio::sync::Notify;

/// Generous: only catches a hang.
const HANG: Duration = Duration::from_secs(60);
const KILL_GRACE: Duration = Duration::from_millis(100);

/// How long the slow module takes to compile, at least.
const SLOW: Duration = Duration::from_millis(200);

/// A module of many branchy functions whose `_start` does nothing, that takes at least
/// [`SLOW`] to compile on a spawner of its own (30 functions, about 1 s, in a debug build; more
/// where wasmtime is built optimised), and how long it took.
async fn slow_module(dir: &TempDir) -> (PathBuf, Duration) {
    let path = dir.path().join("slow.wat");
    for functions in [30, 120, 480, 1920] {
        std::fs::write(&path, branchy(functions)).unwrap();
        let spawner = WasiSpawner::builder().build().unwrap();
        let began = Instant::now();
        within(spawner.compile(&path)).await.unwrap();
        let compiled_in = began.elapsed();
        if compiled_in >= SLOW {
            return (path, compiled_in);
        }
    }
    panic!("no module compiles slowly enough to test with")
}

/// `functions` functions of 60 additions and branches each, and an empty `_start`.
fn branchy(functions: usize) -> String {
    let mut wat = String::from("(module (memory (export \"memory\") 1)\n");
    for f in 0..functions {
        wat.push_str(&format!(
            "(func $f{f} (export \"f{f}\") (param $x i32) (result i32) (local $y i32)\n"
        ));
        for i in 0..60 {
            wat.push_str(&format!(
                "(local.set $y (i32.add (i32.mul (local.get $x) (i32.const {i})) (local.get $y)))\n\
                 (if (i32.gt_u (local.get $y) (i32.const {f}))\n\
                   (then (local.set $x (i32.xor (local.get $x) (local.get $y)))))\n"
            ));
        }
        wat.push_str("(local.get $y))\n");
    }
    wat.push_str("(func (export \"_start\")))\n");
    wat
}

async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG, future).await.expect("no hang")
}

fn pool(spawner: &WasiSpawner) -> ProcessPool {
    ProcessPool::builder()
        .max_workers(1)
        .kill_grace(KILL_GRACE)
        .build(spawner.clone())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_ahead_the_first_job_of_a_slow_module_runs_within_a_shorter_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (slow, _) = slow_module(&dir).await;
    let spawner = WasiSpawner::builder().build().unwrap();
    let began = Instant::now();
    within(spawner.compile(&slow)).await.unwrap();
    let compiled_in = began.elapsed();
    let timeout = compiled_in / 2;
    eprintln!(
        "the slow module compiles in {compiled_in:.1?}; its first job's timeout: {timeout:.1?}"
    );
    assert!(
        timeout >= Duration::from_millis(50),
        "the module compiles too fast ({compiled_in:?}) to tell its compile from its run"
    );
    assert!(compiled_in > timeout);

    let pool = pool(&spawner);
    let result = within(pool.run_all([Job::new(&slow).timeout(timeout)]))
        .await
        .unwrap()
        .remove(0);
    assert!(result.success(), "{}", result.outcome);
    eprintln!("its first job ran in {:.1?}", result.duration);
    assert_eq!(spawner.modules_compiled(), 1, "compiled once, ahead");
}

/// A compile is the spawner's work, not the job's: the first job of a module that takes longer
/// to compile than the job's timeout still succeeds (its timeout is held while it waits for the
/// compile), and the job after it finds the module ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_job_of_a_module_slower_to_compile_than_its_timeout_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let (slow, compiled_in) = slow_module(&dir).await;
    let timeout = compiled_in / 2;
    assert!(timeout >= SLOW / 2, "{compiled_in:?}");
    let spawner = WasiSpawner::builder().build().unwrap();
    let pool = pool(&spawner);
    let began = Instant::now();
    let result = within(pool.run_all([Job::new(&slow).timeout(timeout)]))
        .await
        .unwrap()
        .remove(0);
    let took = began.elapsed();
    eprintln!("compile {compiled_in:.1?}, timeout {timeout:.1?}: the first job took {took:.1?}");
    assert!(result.success(), "{}", result.outcome);
    assert_eq!(spawner.modules_compiled(), 1);
    // The timeout still holds for the job's own run.
    let spin = dir.path().join("spin.wat");
    std::fs::write(
        &spin,
        "(module (memory (export \"memory\") 1) (func (export \"_start\") (loop $l (br $l))))",
    )
    .unwrap();
    let result = within(pool.run_all([Job::new(&spin).timeout(Duration::from_millis(100))]))
        .await
        .unwrap()
        .remove(0);
    assert!(result.timed_out(), "{}", result.outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_past_the_spawners_limit_fails_typed_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (slow, compiled_in) = slow_module(&dir).await;
    let limit = compiled_in / 4;
    let spawner = WasiSpawner::builder()
        .compile_timeout(limit)
        .build()
        .unwrap();

    let began = Instant::now();
    let error = within(spawner.compile(&slow)).await.unwrap_err();
    eprintln!(
        "a {compiled_in:.1?} compile failed the limit after {:.1?}: {error}",
        began.elapsed()
    );
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut, "{error}");
    let message = error.to_string();
    assert!(message.contains(&*slow.to_string_lossy()), "{message}");
    assert!(message.contains(&format!("{limit:?}")), "{message}");
    assert!(message.contains("compile_timeout"), "{message}");

    // A job of the file fails the same way, as a spawn failure.
    let pool = pool(&spawner);
    let result = within(pool.run_all([Job::new(&slow)]))
        .await
        .unwrap()
        .remove(0);
    let Outcome::SpawnFailed(error) = &result.outcome else {
        panic!("expected a spawn failure, got {}", result.outcome);
    };
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut, "{error}");

    // The compile cannot be interrupted: it ends in the background, and the jobs after it
    // use its module rather than compile again.
    within(async {
        while spawner.modules_compiled() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let result = within(pool.run_all([Job::new(&slow)]))
        .await
        .unwrap()
        .remove(0);
    assert!(result.success(), "{}", result.outcome);
    assert_eq!(spawner.modules_compiled(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_while_its_module_compiles_is_answered_and_the_compile_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (slow, _) = slow_module(&dir).await;
    let spawner = WasiSpawner::builder().build().unwrap();
    let started = Arc::new(Notify::new());
    let pool = {
        let started = Arc::clone(&started);
        ProcessPool::builder()
            .max_workers(1)
            .kill_grace(KILL_GRACE)
            .on_start(move |_| started.notify_one())
            .build(spawner.clone())
            .unwrap()
    };
    let handle = pool.submit(Job::new(&slow)).await.unwrap();
    within(started.notified()).await;
    assert_eq!(spawner.modules_compiled(), 0, "cancelled while it compiles");
    let cancelled = Instant::now();
    handle.cancel();
    let result = within(handle).await;
    let answered_in = cancelled.elapsed();
    eprintln!("cancelled while its module compiles: answered in {answered_in:.1?}");
    assert!(
        matches!(result.outcome, Outcome::Cancelled),
        "{}",
        result.outcome
    );
    assert_eq!(
        spawner.modules_compiled(),
        0,
        "answered before the compile ended"
    );
    assert!(answered_in < KILL_GRACE + Duration::from_secs(5));

    // The compile went on: the next job of the file waits for it rather than compile again.
    let result = within(pool.run_all([Job::new(&slow)]))
        .await
        .unwrap()
        .remove(0);
    assert!(result.success(), "{}", result.outcome);
    assert_eq!(spawner.modules_compiled(), 1, "one compile for both jobs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_a_file_being_compiled_share_its_compile() {
    let dir = tempfile::tempdir().unwrap();
    let (slow, _) = slow_module(&dir).await;
    let spawner = WasiSpawner::builder().max_instances(4).build().unwrap();
    let pool = ProcessPool::new(spawner.clone(), 4).unwrap();
    let ahead = spawner.compile(&slow);
    let jobs = pool.run_all((0..4).map(|_| Job::new(&slow)));
    let (ahead, results) = within(async { tokio::join!(ahead, jobs) }).await;
    ahead.unwrap();
    for result in results.unwrap() {
        assert!(result.success(), "{}", result.outcome);
    }
    assert_eq!(spawner.modules_compiled(), 1, "five waited for one compile");
}

#[test]
fn a_zero_compile_timeout_is_refused() {
    let error = WasiSpawner::builder()
        .compile_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("compile_timeout"), "{error}");
}
