//! A module's start function is the job's own code, run while the module is instantiated: a
//! trap, fuel running out or an exit in it is the job's outcome, with what it wrote; a module
//! that cannot be instantiated or run is still a spawn failure, and its start function never
//! runs.

use std::path::PathBuf;
use std::time::Duration;

use process_pool_core::{Job, JobResult, Outcome, ProcessPool};
use process_pool_wasi::WasiSpawner;
use tempfile::TempDir;

const WASI: &str = "wasi_snapshot_preview1";
const HANG: Duration = Duration::from_secs(60);

/// A module whose start function writes `hi` to stdout, then runs `body`.
fn starting_with(body: &str, exports_start: bool) -> String {
    let entry = if exports_start {
        r#"(func (export "_start"))"#
    } else {
        ""
    };
    format!(
        r#"(module
  (import "{WASI}" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "{WASI}" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\10\00\00\00\02\00\00\00")
  (data (i32.const 16) "hi")
  (func $init
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    {body})
  (start $init)
  {entry})"#
    )
}

fn write(dir: &TempDir, name: &str, wat: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, wat).unwrap();
    path
}

async fn run_one(pool: &ProcessPool, path: &PathBuf) -> JobResult {
    tokio::time::timeout(HANG, pool.run_all([Job::new(path)]))
        .await
        .expect("no hang")
        .unwrap()
        .remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuel_running_out_in_a_start_function_is_a_trap_with_wasms_message() {
    let dir = tempfile::tempdir().unwrap();
    let spawner = WasiSpawner::builder().fuel(1_000_000).build().unwrap();
    let pool = ProcessPool::new(spawner, 1).unwrap();
    let spin = write(&dir, "spin.wat", &starting_with("(loop $l (br $l))", true));
    let result = run_one(&pool, &spin).await;
    let Outcome::Trapped(message) = &result.outcome else {
        panic!("expected out of fuel, got {}", result.outcome);
    };
    assert!(message.contains("all fuel consumed"), "{message}");
    assert_eq!(result.stdout_lossy(), "hi", "what it wrote first is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_or_an_exit_in_a_start_function_is_the_jobs_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let pool = WasiSpawner::pool(1).unwrap();

    let trap = write(&dir, "trap.wat", &starting_with("unreachable", true));
    let result = run_one(&pool, &trap).await;
    let Outcome::Trapped(message) = &result.outcome else {
        panic!("expected a trap, got {}", result.outcome);
    };
    assert!(message.contains("unreachable"), "{message}");
    assert_eq!(result.stdout_lossy(), "hi");

    let exit = write(
        &dir,
        "exit.wat",
        &starting_with("(call $exit (i32.const 3))", true),
    );
    let result = run_one(&pool, &exit).await;
    assert_eq!(result.exit_code(), Some(3), "{}", result.outcome);
    assert_eq!(result.stdout_lossy(), "hi");

    // Its start function returns: `_start` runs next, and the job succeeds.
    let fine = write(&dir, "fine.wat", &starting_with("", true));
    let result = run_one(&pool, &fine).await;
    assert!(result.success(), "{}", result.outcome);
    assert_eq!(result.stdout_lossy(), "hi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_without_start_is_refused_before_its_start_function_runs() {
    let dir = tempfile::tempdir().unwrap();
    let pool = WasiSpawner::pool(1).unwrap();
    let path = write(
        &dir,
        "no-start.wat",
        &starting_with("(loop $l (br $l))", false),
    );
    let result = run_one(&pool, &path).await;
    let Outcome::SpawnFailed(error) = &result.outcome else {
        panic!("expected a spawn failure, got {}", result.outcome);
    };
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData, "{error}");
    let message = error.to_string();
    assert!(message.contains("has no `_start`"), "{message}");
    assert!(message.contains(&*path.to_string_lossy()), "{message}");
}
