//! The conformance suite every [`Spawner`] must pass: exit codes, stdout and stderr, stdin,
//! environment, working directory, timeout, cancel, huge output, a missing program, and the
//! same refusal of invalid jobs.

use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::backend::Spawner;
use crate::{Job, JobError, Outcome, ProcessPool, Stream};

use super::HANG_BOUND;

/// How a backend expresses the behaviours the suite checks.
pub trait Fixtures: Send + Sync + 'static {
    /// The backend under test.
    type Spawner: Spawner;

    /// A fresh spawner.
    fn spawner(&self) -> Self::Spawner;
    /// A job that exits with `code` (0..=255) and writes nothing.
    fn exit_with(&self, code: i32) -> Job;
    /// A job that writes `out` to stdout and `err` to stderr, then exits 0.
    fn print(&self, out: &str, err: &str) -> Job;
    /// A job that copies its stdin to its stdout.
    fn cat(&self) -> Job;
    /// A job that prints the value of the environment variable `key`, or nothing if unset.
    fn print_env(&self, key: &str) -> Job;
    /// A job that prints the content of the file `name`, named relative to its working
    /// directory, which is set to `dir`.
    fn read_relative(&self, dir: &Path, name: &str) -> Job;
    /// A job that runs until it is stopped.
    fn forever(&self) -> Job;
    /// A job that writes `bytes` bytes to stdout, then exits 0.
    fn flood(&self, bytes: usize) -> Job;
    /// A job whose program does not exist.
    fn missing_program(&self) -> Job;
}

fn pool<F: Fixtures>(fixtures: &F, workers: usize) -> ProcessPool {
    ProcessPool::builder()
        .max_workers(workers)
        .kill_grace(Duration::from_secs(2))
        .build(fixtures.spawner())
        .expect("a valid pool")
}

async fn run_one<F: Fixtures>(fixtures: &F, job: Job) -> crate::JobResult {
    let pool = pool(fixtures, 1);
    let mut results = tokio::time::timeout(HANG_BOUND, pool.run_all([job]))
        .await
        .expect("the job ended within the hang bound")
        .expect("the job was accepted");
    results.pop().expect("one result per job")
}

/// Exit codes come back as they were given, 0 only counting as success.
pub async fn exit_codes<F: Fixtures>(fixtures: &F) {
    let codes = [0, 1, 2, 42, 125, 126, 127, 255];
    let pool = pool(fixtures, 2);
    let results = pool
        .run_all(codes.iter().map(|&c| fixtures.exit_with(c)))
        .await
        .expect("accepted");
    for (code, result) in codes.iter().zip(&results) {
        assert!(
            matches!(result.outcome, Outcome::Exited(c) if c == *code),
            "expected exit {code}, got {}",
            result.outcome
        );
        assert_eq!(result.success(), *code == 0);
        assert_eq!(result.attempts, 1);
    }
}

/// stdout and stderr are captured apart and whole.
pub async fn stdout_and_stderr<F: Fixtures>(fixtures: &F) {
    let result = run_one(fixtures, fixtures.print("to out\n", "to err\n")).await;
    assert!(result.success(), "{}", result.outcome);
    assert_eq!(result.stdout_lossy(), "to out\n");
    assert_eq!(result.stderr_lossy(), "to err\n");
    assert!(!result.stdout_truncated && !result.stderr_truncated);
}

/// stdin is fed from the job's bytes and then closed; without bytes it is empty, not inherited.
pub async fn stdin_is_fed_then_closed<F: Fixtures>(fixtures: &F) {
    let text = "line one\nline two\n".repeat(1000);
    let result = run_one(fixtures, fixtures.cat().stdin(text.clone())).await;
    assert!(result.success(), "{}", result.outcome);
    assert_eq!(result.stdout_lossy(), text);

    let result = run_one(fixtures, fixtures.cat()).await;
    assert!(result.success(), "{}", result.outcome);
    assert!(result.stdout.is_empty());
}

/// A job that ignores its stdin still succeeds: no broken pipe reaches it or the pool.
pub async fn unread_stdin_is_harmless<F: Fixtures>(fixtures: &F) {
    let big = vec![b'x'; 4 << 20];
    let result = run_one(fixtures, fixtures.print("ok", "").stdin(big)).await;
    assert!(result.success(), "{}", result.outcome);
    assert_eq!(result.stdout_lossy(), "ok");
}

/// The job's environment settings reach it; a removed variable is not seen.
pub async fn env_is_passed<F: Fixtures>(fixtures: &F) {
    let key = "PROCESS_POOL_CONFORMANCE";
    let result = run_one(fixtures, fixtures.print_env(key).env(key, "sentinel-42")).await;
    assert!(result.success(), "{}", result.outcome);
    assert_eq!(result.stdout_lossy().trim(), "sentinel-42");

    let job = fixtures.print_env(key).env(key, "x").env_remove(key);
    let result = run_one(fixtures, job).await;
    assert!(result.success(), "{}", result.outcome);
    assert_eq!(result.stdout_lossy().trim(), "");
}

/// The job runs in its working directory.
pub async fn cwd_is_applied<F: Fixtures>(fixtures: &F) {
    let dir = std::env::temp_dir().join(format!(
        "process-pool-conformance-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    std::fs::write(dir.join("marker.txt"), "found me").expect("write the marker");
    let result = run_one(fixtures, fixtures.read_relative(&dir, "marker.txt")).await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        result.success(),
        "{}: {}",
        result.outcome,
        result.stderr_lossy()
    );
    assert_eq!(result.stdout_lossy().trim(), "found me");
}

/// A job past its time limit is stopped and reported as timed out, promptly.
pub async fn timeout_stops_the_job<F: Fixtures>(fixtures: &F) {
    let limit = Duration::from_millis(200);
    let result = run_one(fixtures, fixtures.forever().timeout(limit)).await;
    assert!(result.timed_out(), "{}", result.outcome);
    assert_eq!(result.time_limit, Some(limit));
    assert!(
        result.duration >= limit,
        "stopped early: {:?}",
        result.duration
    );
    assert!(
        matches!(result.clone().into_checked(), Err(JobError::TimedOut { limit: l, .. }) if l == limit)
    );
}

/// Cancelling a running job stops it and answers `Cancelled`.
pub async fn cancel_stops_the_job<F: Fixtures>(fixtures: &F) {
    let started = Arc::new(Notify::new());
    let signal = Arc::clone(&started);
    let pool = ProcessPool::builder()
        .max_workers(1)
        .on_start(move |_| signal.notify_one())
        .build(fixtures.spawner())
        .expect("a valid pool");
    let handle = pool.submit(fixtures.forever()).await.expect("accepted");
    started.notified().await;
    handle.cancel();
    let result = tokio::time::timeout(HANG_BOUND, handle)
        .await
        .expect("a cancelled job ends within the hang bound");
    assert!(result.cancelled(), "{}", result.outcome);
    // The pool is still usable.
    let after = run_one(fixtures, fixtures.exit_with(0)).await;
    assert!(after.success());
}

/// Output past the limit is drained, not kept, and the result says it was truncated.
pub async fn huge_output_is_truncated<F: Fixtures>(fixtures: &F) {
    let limit = 64 << 10;
    let job = fixtures.flood(8 << 20).output_limit(limit);
    let result = run_one(fixtures, job).await;
    assert!(result.success(), "{}", result.outcome);
    assert_eq!(result.stdout.len(), limit);
    assert!(result.stdout_truncated);
    assert!(!result.stderr_truncated);
}

/// A missing program is a spawn failure of that job only, named in the error.
pub async fn missing_program_fails_to_spawn<F: Fixtures>(fixtures: &F) {
    let pool = pool(fixtures, 2);
    let missing = fixtures.missing_program();
    let program = missing.program_lossy();
    let results = pool
        .run_all([fixtures.exit_with(0), missing, fixtures.exit_with(0)])
        .await
        .expect("accepted");
    assert!(results[0].success() && results[2].success());
    let Outcome::SpawnFailed(source) = &results[1].outcome else {
        panic!("expected a spawn failure, got {}", results[1].outcome);
    };
    assert_eq!(source.kind(), ErrorKind::NotFound, "{source}");
    let error = results[1].error().expect("a failure");
    assert!(matches!(error, JobError::SpawnFailed { .. }));
    assert!(error.to_string().contains(&program), "{error}");
}

/// Every line a job writes reaches its `output_lines` channel, in order per stream, marked
/// with its attempt; the output limit holds for the lines as for the capture.
pub async fn output_lines_arrive_in_order_within_the_limit<F: Fixtures>(fixtures: &F) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let job = fixtures.print("one\ntwo\n", "err\n").output_lines(tx);
    let reading = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(line) = rx.recv().await {
            lines.push(line);
        }
        lines
    });
    let result = run_one(fixtures, job).await;
    assert!(result.success(), "{}", result.outcome);
    assert_eq!(result.stdout_lossy(), "one\ntwo\n", "still captured");
    let lines = tokio::time::timeout(HANG_BOUND, reading)
        .await
        .expect("the channel closes with the job")
        .expect("no panic");
    let of = |stream| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.stream == stream)
            .map(|l| String::from_utf8_lossy(&l.bytes).into_owned())
            .collect()
    };
    assert_eq!(of(Stream::Stdout), ["one\n", "two\n"]);
    assert_eq!(of(Stream::Stderr), ["err\n"]);
    assert!(
        lines
            .iter()
            .all(|l| l.complete && !l.truncated && l.attempt == 1)
    );

    let limit = 64 << 10;
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let job = fixtures.flood(4 << 20).output_limit(limit).output_lines(tx);
    let reading = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(line) = rx.recv().await {
            lines.push(line);
        }
        lines
    });
    let result = run_one(fixtures, job).await;
    assert!(
        result.success() && result.stdout_truncated,
        "{}",
        result.outcome
    );
    let lines = reading.await.expect("no panic");
    let delivered: usize = lines.iter().map(|l| l.bytes.len()).sum();
    assert_eq!(delivered, limit);
    assert!(
        lines.last().is_some_and(|l| l.truncated),
        "the last line says it was cut"
    );
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// Generates one `#[tokio::test]` per conformance check, for the fixtures `$fixtures`.
///
/// The calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a dev-dependency.
#[macro_export]
macro_rules! conformance_tests {
    ($fixtures:expr) => {
        $crate::conformance_tests!(@each $fixtures;
            exit_codes,
            stdout_and_stderr,
            stdin_is_fed_then_closed,
            unread_stdin_is_harmless,
            env_is_passed,
            cwd_is_applied,
            timeout_stops_the_job,
            cancel_stops_the_job,
            huge_output_is_truncated,
            missing_program_fails_to_spawn,
            output_lines_arrive_in_order_within_the_limit,
        );
    };
    (@each $fixtures:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::backend::conformance::spawner::$check(&$fixtures).await;
            }
        )*
    };
}
