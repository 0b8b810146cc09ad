//! Step mode beyond the conformance suite: no process left after a timeout or a cancel, and
//! typed errors for what Slurm cannot give.

mod common;

use std::time::Duration;

use common::{HANG, require_slurm, unique_name};
use process_pool_core::{Job, ProcessPool};
use process_pool_slurm::{Allocation, Resources, SlurmError, SlurmStepSpawner};

/// Processes whose Slurm job name starts with `prefix` (each step job is `prefix-N`).
fn processes_named(prefix: &str) -> Vec<u32> {
    let needle = format!("SLURM_JOB_NAME={prefix}-");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
                && std::fs::read_link(format!("/proc/{pid}/exe"))
                    .is_ok_and(|exe| !exe.ends_with("srun"))
        })
        .collect()
}

/// A pool of `workers` running each job as a Slurm job of its own named `name-PID-N`.
async fn step_pool(name: &str, workers: usize, kill_grace: Duration) -> ProcessPool {
    require_slurm();
    let spawner = SlurmStepSpawner::builder()
        .allocation(Allocation::Own)
        .job_name(name)
        .build()
        .await
        .expect("Slurm answers");
    ProcessPool::builder()
        .max_workers(workers)
        .kill_grace(kill_grace)
        .build(spawner)
        .expect("a pool")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_timeout_and_cancel_leave_no_process() {
    let name = unique_name("steps");
    let pool = step_pool(&name, 4, Duration::from_millis(300)).await;
    let tree = || Job::new("sh").args(["-c", "sleep 1000 & sleep 1000; wait"]);
    let running = |n: usize| {
        common::wait_until(
            HANG,
            "the tree running",
            || processes_named(&name).len(),
            |&m| m >= n,
        )
    };
    let gone = || {
        common::wait_until(
            Duration::from_secs(15),
            "processes left",
            || processes_named(&name),
            Vec::is_empty,
        )
    };

    let cancelled = pool.submit(tree()).await.expect("accepted");
    running(3);
    cancelled.cancel();
    let cancelled = tokio::time::timeout(HANG, cancelled)
        .await
        .expect("no hang");
    assert!(cancelled.cancelled(), "{}", cancelled.outcome);
    gone();

    // Long enough for `srun` to start the tree on a loaded machine before the limit.
    let timed = pool
        .submit(tree().timeout(Duration::from_secs(5)))
        .await
        .expect("accepted");
    running(3);
    let timed = tokio::time::timeout(HANG, timed).await.expect("no hang");
    assert!(timed.timed_out(), "{}", timed.outcome);
    gone();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_asking_more_cpus_than_a_node_has_is_a_typed_error() {
    require_slurm();
    let error = SlurmStepSpawner::builder()
        .resources(Resources::new().cpus(4096))
        .build()
        .await
        .expect_err("no node that big");
    assert!(
        matches!(error, SlurmError::TooManyCpus { asked: 4096, most, .. } if most >= 1),
        "{error}"
    );
    let error = SlurmStepSpawner::builder()
        .allocation(Allocation::Own)
        .resources(Resources::new().partition("no-such-partition"))
        .build()
        .await
        .expect_err("no such partition");
    assert!(
        matches!(error, SlurmError::UnknownPartition { .. }),
        "{error}"
    );
}

/// The Slurm jobs whose name starts with `prefix` (step jobs are `prefix-PID-N`), as
/// `ID NAME STATE`.
fn slurm_jobs_named(prefix: &str) -> Vec<String> {
    let out = std::process::Command::new("squeue")
        .args(["-h", "-o", "%i %j %T"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("squeue runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| {
            line.split_whitespace()
                .nth(1)
                .is_some_and(|job| job.starts_with(&format!("{prefix}-")))
        })
        .map(str::to_owned)
        .collect()
}

/// A timeout or a cancel that lands while `srun` is still getting its job (before Slurm knows
/// the job, so a cancel by name finds nothing) leaves no job behind: neither in Slurm's queue
/// nor on a node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_at_any_moment_of_a_step_start_leaves_no_slurm_job() {
    let name = unique_name("early-stop");
    let pool = step_pool(&name, 8, Duration::from_millis(100)).await;
    // Timeouts from the first millisecond to well after the start, and cancels at once.
    let mut handles = Vec::new();
    for ms in [1, 5, 10, 20, 30, 45, 60, 90, 120, 200] {
        let job = Job::new("sleep")
            .arg("1000")
            .timeout(Duration::from_millis(ms));
        handles.push(pool.submit(job).await.expect("accepted"));
    }
    let cancelled: Vec<_> = cancelled_at_once(&pool, 6).await;
    for handle in handles {
        let result = tokio::time::timeout(HANG, handle).await.expect("no hang");
        assert!(result.timed_out(), "{}", result.outcome);
    }
    for result in cancelled {
        assert!(result.cancelled(), "{}", result.outcome);
    }
    common::wait_until(
        Duration::from_secs(15),
        "Slurm jobs left",
        || slurm_jobs_named(&name),
        Vec::is_empty,
    );
    common::wait_until(
        Duration::from_secs(15),
        "processes left",
        || processes_named(&name),
        Vec::is_empty,
    );
}

/// Submits `n` endless jobs and cancels each at once, returning their results.
async fn cancelled_at_once(pool: &ProcessPool, n: usize) -> Vec<process_pool_core::JobResult> {
    let mut results = Vec::new();
    for _ in 0..n {
        let handle = pool
            .submit(Job::new("sleep").arg("1000"))
            .await
            .expect("accepted");
        tokio::task::yield_now().await;
        handle.cancel();
        results.push(tokio::time::timeout(HANG, handle).await.expect("no hang"));
    }
    results
}
