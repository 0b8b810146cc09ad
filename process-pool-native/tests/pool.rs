//! The pool's promises checked with real processes: order, the worker limit as the jobs
//! themselves see it, resizing, cancel, shutdown, retries, hooks and bad input.

// Unix only: its jobs are `sh` scripts that meet at FIFOs (mkfifo); Windows has neither. Windows' counterparts
// of the behaviours that differ there are in `windows.rs`; the pool's own logic is the core's,
// tested on every platform.
#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Events, HANG, sh};
use process_pool_core::{
    Backoff, ConfigError, Job, JobError, Outcome, ProcessPool, RetryPolicy, job,
};
use process_pool_native::NativeSpawner;

/// A small xorshift generator: reproducible "random" delays without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_keep_input_order_under_random_completion_times() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let pool = NativeSpawner::pool(4).unwrap();
    let jobs = (0..40).map(|i| sh(&format!("sleep 0.0{}; echo {i}", rng.below(9))));
    let results = tokio::time::timeout(HANG, pool.run_all(jobs))
        .await
        .unwrap()
        .unwrap();
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result.index, i);
        assert_eq!(result.stdout_lossy().trim(), i.to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_seen_by_the_jobs_never_exceeds_max_workers() {
    for workers in [1, 3] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("running")).unwrap();
        let pool = NativeSpawner::pool(workers).unwrap();
        // Each job marks itself running, counts the marks it sees, and removes its own. A mark
        // lives only inside its process, so a count is at most the processes alive at once.
        let jobs = (0..24).map(|i| {
            sh(&format!(
                "touch running/{i}; ls running | wc -l; sleep 0.03; rm running/{i}"
            ))
            .cwd(dir.path())
        });
        let results = tokio::time::timeout(HANG, pool.run_all(jobs))
            .await
            .unwrap()
            .unwrap();
        let peak = results
            .iter()
            .map(|r| r.stdout_lossy().trim().parse::<usize>().unwrap())
            .max()
            .unwrap();
        assert!(
            peak <= workers,
            "{peak} jobs ran at once with max_workers = {workers}"
        );
        if workers > 1 {
            assert!(peak > 1, "the pool never ran jobs in parallel");
        }
    }
}

/// A job that marks itself running, reports the count of running marks on the events FIFO, then
/// waits until the test releases it.
fn gated(i: usize, events: &Events) -> Job {
    sh(&format!(
        "touch running/$1; echo \"start $1 $(ls running | wc -l)\" > '{events}'; \
         while [ ! -e release/$1 ]; do sleep 0.005; done; rm running/$1",
        events = events.path.display()
    ))
    .args(["sh", &i.to_string()])
}

fn parse_start(line: &str) -> (usize, usize) {
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("start"), "{line}");
    let job = words.next().unwrap().parse().unwrap();
    let count = words.next().unwrap().parse().unwrap();
    (job, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_max_workers_up_and_down_on_a_busy_pool() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["running", "release"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    let mut events = Events::new(dir.path());
    let release = |i: usize| std::fs::write(dir.path().join(format!("release/{i}")), "").unwrap();
    let pool = NativeSpawner::pool(1).unwrap();
    let jobs: Vec<Job> = (0..6).map(|i| gated(i, &events).cwd(dir.path())).collect();
    let results = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.run_all(jobs).await })
    };

    assert_eq!(parse_start(&events.next().await), (0, 1));
    assert_eq!(pool.queue_len(), 5);

    // Up: two queued jobs start at once, while job 0 still runs.
    pool.set_max_workers(3).unwrap();
    let mut started = vec![
        parse_start(&events.next().await),
        parse_start(&events.next().await),
    ];
    started.sort();
    assert_eq!(started.iter().map(|s| s.0).collect::<Vec<_>>(), [1, 2]);
    assert!(started.iter().all(|s| s.1 <= 3), "{started:?}");
    assert_eq!(pool.stats().running, 3);

    // Down: nobody is killed; the next job waits until all three have ended.
    pool.set_max_workers(1).unwrap();
    assert_eq!(
        pool.stats().running,
        3,
        "shrinking never stops running jobs"
    );
    for i in 0..3 {
        release(i);
    }
    assert_eq!(
        parse_start(&events.next().await),
        (3, 1),
        "one at a time again"
    );
    for i in 3..6 {
        release(i);
        if i < 5 {
            assert_eq!(parse_start(&events.next().await), (i + 1, 1));
        }
    }
    let results = tokio::time::timeout(HANG, results)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(results.iter().all(|r| r.success()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_a_queued_job_and_a_running_job() {
    let started = Arc::new(tokio::sync::Notify::new());
    let signal = Arc::clone(&started);
    let pool = ProcessPool::builder()
        .max_workers(1)
        .on_start(move |_| signal.notify_one())
        .build(NativeSpawner::new())
        .unwrap();
    let running = pool.submit(job("sleep", ["100"])).await.unwrap();
    started.notified().await;
    let queued = pool.submit(job("sleep", ["100"])).await.unwrap();
    assert_eq!(pool.queue_len(), 1);

    queued.cancel();
    let result = tokio::time::timeout(HANG, queued).await.unwrap();
    assert!(result.cancelled());
    assert_eq!(result.attempts, 0, "a queued job never started");
    assert_eq!(pool.queue_len(), 0);

    running.cancel();
    let result = tokio::time::timeout(HANG, running).await.unwrap();
    assert!(result.cancelled());
    assert_eq!(result.attempts, 1);
    let stats = pool.stats();
    assert_eq!((stats.cancelled, stats.running), (2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_short_jobs_finish_and_cancels_the_rest() {
    let pool = NativeSpawner::pool(2).unwrap();
    let jobs = [
        job("sleep", ["0.05"]),
        job("sleep", ["1000"]),
        job("sleep", ["0.05"]),
        job("sleep", ["1000"]),
        job("true", [] as [&str; 0]),
    ];
    let mut handles = Vec::new();
    for j in jobs {
        handles.push(pool.submit(j).await.unwrap());
    }
    let stats = tokio::time::timeout(HANG, pool.shutdown(Duration::from_millis(500)))
        .await
        .unwrap();
    assert_eq!(stats.submitted, 5);
    assert_eq!(stats.completed(), 5, "{stats:?}");
    assert_eq!((stats.running, stats.queued), (0, 0));
    let mut outcomes = Vec::new();
    for handle in handles {
        outcomes.push(tokio::time::timeout(HANG, handle).await.unwrap());
    }
    let ok: Vec<bool> = outcomes.iter().map(|r| r.success()).collect();
    assert_eq!(ok, [true, false, true, false, false]);
    assert!(outcomes[1].cancelled() && outcomes[3].cancelled());
    assert!(
        outcomes[4].cancelled() && outcomes[4].attempts == 0,
        "never started"
    );
    assert!(matches!(
        pool.submit(job("true", [] as [&str; 0])).await,
        Err(JobError::PoolClosed)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_fails_twice_then_succeeds_reports_three_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let backoff = Duration::from_millis(50);
    let pool = ProcessPool::builder()
        .max_workers(2)
        .retry(
            RetryPolicy::attempts(5).backoff(Backoff::exponential(backoff, Duration::from_secs(1))),
        )
        .build(NativeSpawner::new())
        .unwrap();
    let counter =
        sh("n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 3 ]")
            .cwd(dir.path());
    let started = Instant::now();
    let results = tokio::time::timeout(HANG, pool.run_all([counter]))
        .await
        .unwrap()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(results[0].success(), "{}", results[0].outcome);
    assert_eq!(results[0].attempts, 3);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("count"))
            .unwrap()
            .trim(),
        "3"
    );
    assert!(
        elapsed >= backoff * 3,
        "50 ms then 100 ms of backoff, got {elapsed:?}"
    );
    assert_eq!(pool.stats().retried, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_hooks_lose_no_result() {
    let completed = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&completed);
    let pool = ProcessPool::builder()
        .max_workers(2)
        .on_start(|_| panic!("on_start hook fails"))
        .on_complete(move |_| {
            seen.fetch_add(1, Ordering::Relaxed);
            panic!("on_complete hook fails");
        })
        .on_error(|_| panic!("on_error hook fails"))
        .build(NativeSpawner::new())
        .unwrap();
    let jobs = (0..20).map(|i| {
        if i % 5 == 0 {
            job("false", [] as [&str; 0])
        } else {
            job("echo", [i.to_string()])
        }
    });
    let results = tokio::time::timeout(HANG, pool.run_all(jobs))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(results.len(), 20);
    assert_eq!(results.iter().filter(|r| r.success()).count(), 16);
    assert_eq!(completed.load(Ordering::Relaxed), 20);
    let again = pool.run_all([job("echo", ["still here"])]).await.unwrap();
    assert_eq!(again[0].stdout_lossy(), "still here\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_typed_errors_and_the_pool_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let pool = ProcessPool::builder()
        .max_workers(1)
        .queue_capacity(1)
        .build(NativeSpawner::new())
        .unwrap();

    // A working directory that does not exist: named as such, not as a missing program.
    let missing_dir = dir.path().join("no-such-dir");
    let r = pool
        .run_all([job("true", [] as [&str; 0]).cwd(&missing_dir)])
        .await
        .unwrap();
    let error = r[0].error().expect("a spawn failure");
    let JobError::SpawnFailed { cwd, source, .. } = &error else {
        panic!("{error}")
    };
    assert_eq!(cwd.as_deref(), Some(missing_dir.as_path()));
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    assert!(error.to_string().contains("working directory"), "{error}");

    // A file that is not executable.
    let script = dir.path().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = pool.run_all([Job::new(&script)]).await.unwrap();
    let Outcome::SpawnFailed(source) = &r[0].outcome else {
        panic!("{}", r[0].outcome)
    };
    assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(
        r[0].error()
            .unwrap()
            .to_string()
            .contains("not-executable.sh")
    );

    // A missing program, given as a path.
    let r = pool
        .run_all([Job::new(dir.path().join("nope"))])
        .await
        .unwrap();
    assert!(
        r[0].error().unwrap().to_string().contains("no such file"),
        "{:?}",
        r[0].outcome
    );

    // An empty program name: refused before anything starts, naming the job.
    let err = pool
        .run_all([job("true", [] as [&str; 0]), Job::new("")])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, JobError::InvalidJob { reason } if reason.contains("job 1")),
        "{err}"
    );
    assert!(matches!(
        pool.submit(Job::new("")).await,
        Err(JobError::InvalidJob { .. })
    ));

    // Zero workers.
    assert_eq!(
        NativeSpawner::pool(0).unwrap_err(),
        ConfigError::ZeroWorkers
    );
    assert_eq!(pool.set_max_workers(0), Err(ConfigError::ZeroWorkers));

    // A full bounded queue: one running, one queued, the third refused.
    let running = pool.submit(job("sleep", ["100"])).await.unwrap();
    let queued = pool.submit(job("sleep", ["100"])).await.unwrap();
    let refused = pool.try_submit(job("true", [] as [&str; 0]));
    assert!(
        matches!(refused, Err(JobError::QueueFull { capacity: 1 })),
        "{refused:?}"
    );
    queued.cancel();
    running.cancel();
    assert!(running.await.cancelled() && queued.await.cancelled());

    // Still usable.
    let r = pool.run_all([job("echo", ["fine"])]).await.unwrap();
    assert_eq!(r[0].stdout_lossy(), "fine\n");
}

/// A job's output lines arrive while it runs, not when it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_lines_arrive_while_the_job_runs() {
    let pool = NativeSpawner::pool(1).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let handle = pool
        .submit(common::sh("echo first; sleep 30").output_lines(tx))
        .await
        .unwrap();
    let first = tokio::time::timeout(common::HANG, rx.recv())
        .await
        .expect("a line while the job runs")
        .expect("a line");
    assert_eq!(&first.bytes[..], b"first\n");
    handle.cancel();
    assert!(handle.await.cancelled(), "it was still running");
}
