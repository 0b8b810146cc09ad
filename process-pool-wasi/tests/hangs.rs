//! A WASI job never hangs its pool: a guest stuck in its module's start function or in `_start`
//! (spinning, asleep in `poll_oneoff`, yielding in a loop, reading its stdin in a loop) is
//! stopped by its timeout, by a cancel and by a shutdown, and its worker slot then runs the
//! next job; so is a guest blocked opening a FIFO in its directory.
//!
//! Each test prints the time from the stop (timeout, cancel, end of the shutdown's grace) to
//! the answer.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use process_pool_core::{Job, JobResult, Outcome, ProcessPool};
use process_pool_wasi::WasiSpawner;
use tempfile::TempDir;

const WASI: &str = "wasi_snapshot_preview1";
const TIMEOUT: Duration = Duration::from_millis(200);
const KILL_GRACE: Duration = Duration::from_millis(100);
/// Generous: only catches a guest that is not stopped at all.
const MARGIN: Duration = Duration::from_secs(5);
const HANG: Duration = Duration::from_secs(60);

/// Where a guest gets stuck.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// The module's start function, run while it is instantiated.
    StartFunction,
    /// `_start`, its entry point.
    Entry,
}

/// How it is stuck.
#[derive(Debug, Clone, Copy)]
enum Stuck {
    /// A loop without a host call.
    Spin,
    /// `poll_oneoff` on a clock an hour away, again and again.
    Sleep,
    /// `sched_yield` in a loop.
    Yield,
    /// `fd_read` of stdin in a loop (a job's stdin is its bytes, then the end: reads return).
    Read,
}

const CASES: [(Phase, Stuck); 8] = [
    (Phase::StartFunction, Stuck::Spin),
    (Phase::StartFunction, Stuck::Sleep),
    (Phase::StartFunction, Stuck::Yield),
    (Phase::StartFunction, Stuck::Read),
    (Phase::Entry, Stuck::Spin),
    (Phase::Entry, Stuck::Sleep),
    (Phase::Entry, Stuck::Yield),
    (Phase::Entry, Stuck::Read),
];

/// A module that creates the file `started` in its first preopened directory (the job's
/// working directory), then is stuck `how` in `phase`.
fn stuck(phase: Phase, how: Stuck) -> String {
    let body = match how {
        Stuck::Spin => "(loop $l (br $l))",
        Stuck::Sleep => {
            "(loop $l (drop (call $poll (i32.const 64) (i32.const 128) (i32.const 1) \
             (i32.const 192))) (br $l))"
        }
        Stuck::Yield => "(loop $l (drop (call $yield)) (br $l))",
        Stuck::Read => {
            "(loop $l (drop (call $read (i32.const 0) (i32.const 32) (i32.const 1) \
             (i32.const 48))) (br $l))"
        }
    };
    let (start, entry) = match phase {
        Phase::StartFunction => ("(start $stuck)", ""),
        Phase::Entry => ("", "(call $stuck)"),
    };
    format!(
        r#"(module
  (import "{WASI}" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "{WASI}" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "{WASI}" "sched_yield" (func $yield (result i32)))
  (import "{WASI}" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "started")
  ;; One iovec at 32: 64 bytes at 256.
  (data (i32.const 32) "\00\01\00\00\40\00\00\00")
  ;; One subscription at 64: a monotonic clock (id 1 at +16), an hour away (at +24).
  (data (i32.const 80) "\01")
  (data (i32.const 88) "\00\f0\0a\61\46\03\00\00")
  (func $stuck
    ;; path_open(fd 3, "started", O_CREAT, FD_WRITE) -> fd at 16
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 7) (i32.const 1)
      (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 16)))
    {body})
  {start}
  (func (export "_start") {entry}))"#
    )
}

/// A stuck guest in a directory of its own, which it marks when it gets stuck.
struct Case {
    name: String,
    dir: TempDir,
    module: PathBuf,
}

impl Case {
    /// The case, compiled ahead by `spawner`: the time measured is the stop's, not the
    /// compile's.
    async fn new(spawner: &WasiSpawner, phase: Phase, how: Stuck) -> Case {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("stuck.wat");
        std::fs::write(&module, stuck(phase, how)).unwrap();
        spawner.compile(&module).await.unwrap();
        Case {
            name: format!("{how:?} in {phase:?}"),
            dir,
            module,
        }
    }

    fn job(&self) -> Job {
        Job::new(&self.module)
            .cwd(self.dir.path())
            .stdin(b"some bytes, then the end".to_vec())
    }

    /// Waits until the guest has reached the place where it gets stuck.
    async fn stuck(&self) {
        let marker = self.dir.path().join("started");
        tokio::time::timeout(HANG, async {
            while !marker.exists() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{}: the guest never got stuck", self.name));
    }
}

fn spawner() -> WasiSpawner {
    WasiSpawner::builder().max_instances(2).build().unwrap()
}

/// One worker slot, so that the job after a stuck one runs where it ran.
fn pool(spawner: &WasiSpawner) -> ProcessPool {
    ProcessPool::builder()
        .max_workers(1)
        .kill_grace(KILL_GRACE)
        .build(spawner.clone())
        .unwrap()
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: hung"))
}

/// A normal job runs on the slot the stuck one held.
async fn slot_is_free(pool: &ProcessPool, case: &Case) {
    let ok = case.dir.path().join("ok.wat");
    std::fs::write(
        &ok,
        r#"(module (memory (export "memory") 1) (func (export "_start")))"#,
    )
    .unwrap();
    let result = within(&case.name, pool.run_all([Job::new(&ok)])).await;
    let result = result.unwrap().remove(0);
    assert!(result.success(), "{}: then {}", case.name, result.outcome);
}

fn answered(case: &Case, what: &str, stopped_to_answer: Duration, result: &JobResult) {
    eprintln!(
        "{}: {what} to answer {stopped_to_answer:.1?} ({})",
        case.name, result.outcome
    );
    assert!(
        stopped_to_answer < KILL_GRACE + MARGIN,
        "{}: {what} answered after {stopped_to_answer:?}",
        case.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_guest_times_out_and_frees_its_slot() {
    let spawner = spawner();
    let pool = pool(&spawner);
    for (phase, how) in CASES {
        let case = Case::new(&spawner, phase, how).await;
        let job = case.job().timeout(TIMEOUT);
        let began = Instant::now();
        let result = within(&case.name, pool.run_all([job])).await;
        let elapsed = began.elapsed();
        let result = result.unwrap().remove(0);
        assert!(result.timed_out(), "{}: {}", case.name, result.outcome);
        answered(&case, "timeout", elapsed.saturating_sub(TIMEOUT), &result);
        slot_is_free(&pool, &case).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_guest_is_cancelled_and_frees_its_slot() {
    let spawner = spawner();
    let pool = pool(&spawner);
    for (phase, how) in CASES {
        let case = Case::new(&spawner, phase, how).await;
        let handle = pool.submit(case.job()).await.unwrap();
        case.stuck().await;
        let cancelled = Instant::now();
        handle.cancel();
        let result = within(&case.name, handle).await;
        let elapsed = cancelled.elapsed();
        assert!(
            matches!(result.outcome, Outcome::Cancelled),
            "{}: {}",
            case.name,
            result.outcome
        );
        answered(&case, "cancel", elapsed, &result);
        slot_is_free(&pool, &case).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_guest_is_stopped_by_a_shutdown() {
    let spawner = spawner();
    let grace = Duration::from_millis(100);
    for (phase, how) in CASES {
        let pool = pool(&spawner);
        let case = Case::new(&spawner, phase, how).await;
        let handle = pool.submit(case.job()).await.unwrap();
        case.stuck().await;
        let began = Instant::now();
        within(&case.name, pool.shutdown(grace)).await;
        let elapsed = began.elapsed();
        let result = within(&case.name, handle).await;
        assert!(
            matches!(result.outcome, Outcome::Cancelled),
            "{}: {}",
            case.name,
            result.outcome
        );
        answered(
            &case,
            "shutdown's grace over",
            elapsed.saturating_sub(grace),
            &result,
        );
    }
}

/// A guest opening a FIFO that nobody writes to waits in a host call that wasmtime-wasi runs
/// on one of tokio's blocking threads: the job is still answered on time, and its slot runs the
/// next job, though that thread stays blocked until the FIFO is opened for writing (which this
/// test does at its end; the runtime waits for its blocking threads when it is dropped).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_blocked_opening_a_fifo_is_answered_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success(), "mkfifo");
    let module = dir.path().join("fifo.wat");
    std::fs::write(
        &module,
        format!(
            r#"(module
  (import "{WASI}" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "{WASI}" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "fifo")
  (data (i32.const 32) "\00\01\00\00\40\00\00\00")
  (func (export "_start")
    ;; path_open(fd 3, "fifo", FD_READ) -> fd at 16, then read it.
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 0)
      (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 16)))
    (drop (call $read (i32.load (i32.const 16)) (i32.const 32) (i32.const 1) (i32.const 48)))))"#
        ),
    )
    .unwrap();
    let spawner = spawner();
    spawner.compile(&module).await.unwrap();
    let pool = pool(&spawner);
    let case = Case {
        name: "blocked on a FIFO".into(),
        dir,
        module,
    };
    let began = Instant::now();
    let result = within(&case.name, pool.run_all([case.job().timeout(TIMEOUT)])).await;
    let elapsed = began.elapsed();
    let result = result.unwrap().remove(0);
    assert!(result.timed_out(), "{}", result.outcome);
    answered(&case, "timeout", elapsed.saturating_sub(TIMEOUT), &result);
    slot_is_free(&pool, &case).await;
    // Lets the blocked thread go: a writer opens the FIFO (on a thread of its own, as the
    // open waits for the reader), and the directory stays until it has.
    let (opened, writer) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || opened.send(std::fs::OpenOptions::new().write(true).open(fifo)));
    within("the FIFO's writer", writer).await.unwrap().unwrap();
}
