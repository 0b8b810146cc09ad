//! Per-job accounting and memory limits on Linux, from the job's cgroup: CPU time and peak
//! memory count every descendant, a job over its memory limit is killed by the kernel and says
//! so while its siblings run on, and a limit that cannot be enforced is refused, never ignored.

// Linux only: the cgroups are Linux's; elsewhere `max_memory` is refused (tests below too).
#![cfg(target_os = "linux")]

use std::time::Duration;

use process_pool_core::{ConfigError, Job, JobError, Outcome, ProcessPool};
use process_pool_native::{Containment, NativeSpawner};

const MIB: u64 = 1 << 20;

/// Whether this machine runs jobs in cgroups with a memory controller (root, as in CI); the
/// tests say what they found otherwise.
fn limits_enforced() -> bool {
    let spawner = NativeSpawner::new();
    let pool = ProcessPool::builder()
        .max_memory_per_job(64 * MIB)
        .build(spawner.clone());
    match (spawner.containment(), pool) {
        (Containment::Cgroup { .. }, Ok(_)) => true,
        (Containment::Cgroup { .. }, Err(error)) => {
            panic!("cgroups are in force but memory limits are refused: {error}")
        }
        (mode, _) => {
            // Not root, nor delegated: the refusal is tested below.
            eprintln!("no cgroup per job here ({mode:?}): limits are refused instead");
            false
        }
    }
}

fn pool(workers: usize) -> ProcessPool {
    ProcessPool::builder()
        .max_workers(workers)
        .build(NativeSpawner::new())
        .unwrap()
}

fn sh(script: &str) -> Job {
    Job::new("sh").args(["-c", script])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_over_its_memory_limit_is_killed_and_says_so_while_its_siblings_run_on() {
    if !limits_enforced() {
        return;
    }
    let pool = pool(3);
    // `dd` fills a 256 MiB buffer from /dev/zero: every page of it touched.
    let hungry = Job::new("dd")
        .args(["if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"])
        .max_memory(64 * MIB);
    let results = pool
        .run_all([
            sh("sleep 0.2; echo one"),
            hungry,
            sh("sleep 0.2; echo two").max_memory(64 * MIB),
        ])
        .await
        .unwrap();
    assert!(
        matches!(results[1].outcome, Outcome::OutOfMemory { limit } if limit == 64 * MIB),
        "{:?}",
        results[1]
    );
    let error = results[1].error().expect("a failure").to_string();
    assert!(
        error.contains("`dd`") && error.contains("memory limit of 64 MiB"),
        "{error}"
    );
    assert!(matches!(
        results[1].error(),
        Some(JobError::OutOfMemory { .. })
    ));
    for (i, text) in [(0, "one\n"), (2, "two\n")] {
        assert!(results[i].success(), "{:?}", results[i]);
        assert_eq!(results[i].stdout_lossy(), text);
    }
    // The same job under a limit it fits in, in the same (reused) cgroups, succeeds.
    let fits = Job::new("dd")
        .args(["if=/dev/zero", "of=/dev/null", "bs=16M", "count=1"])
        .max_memory(64 * MIB);
    let result = pool.run_all([fits]).await.unwrap().remove(0);
    assert!(result.success(), "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_s_peak_memory_counts_its_four_children_of_50_mib_each() {
    if !limits_enforced() {
        return;
    }
    // Four `tail`s each hold 50 MiB until their input ends, 2 s after it was written: their
    // 200 MiB are held at once, by the job's grandchildren, not by its first process. (A limit,
    // far above: where the memory controller is on cgroup v1, as here, only a job with a limit
    // is measured.)
    let script = r#"
        for i in 1 2 3 4; do
            { head -c 50M /dev/zero; sleep 2; } | tail -c 50M > /dev/null &
        done
        wait
    "#;
    let job = sh(script).max_memory(1 << 30);
    let result = pool(1).run_all([job]).await.unwrap().remove(0);
    assert!(result.success(), "{result:?}");
    let peak = result
        .usage
        .peak_memory
        .expect("a peak where memory is limited");
    assert!(peak >= 200 * MIB, "peak {} MiB", peak / MIB);
    assert!(result.usage.cpu_time.is_some(), "{:?}", result.usage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_s_cpu_time_counts_the_children_that_left_its_group() {
    if !matches!(
        NativeSpawner::new().containment(),
        Containment::Cgroup { .. }
    ) {
        eprintln!("no cgroup per job here: no CPU time");
        return;
    }
    // Two busy children, one of which leaves the job's process group, each for 0.6 s of
    // wall time; the job's own shell only waits.
    let script = r#"
        busy='end=$(($(date +%s%N) + 600000000)); while [ $(date +%s%N) -lt $end ]; do :; done'
        sh -c "$busy" &
        setsid sh -c "$busy" &
        wait
    "#;
    let result = pool(1).run_all([sh(script)]).await.unwrap().remove(0);
    assert!(result.success(), "{result:?}");
    let cpu = result.usage.cpu_time.expect("CPU time in a cgroup");
    // At least some of both children's 1.2 s of work, on a busy machine; never more than two
    // CPUs' worth of the job's wall time.
    assert!(cpu >= Duration::from_millis(300), "{cpu:?}");
    assert!(
        cpu <= result.duration * 2 + Duration::from_millis(100),
        "{cpu:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_limit_without_cgroups_is_refused_naming_why() {
    let spawner = NativeSpawner::new().without_cgroups();
    let error = ProcessPool::builder()
        .max_memory_per_job(64 * MIB)
        .build(spawner.clone())
        .unwrap_err();
    assert!(
        matches!(&error, ConfigError::Unenforceable { name: "max_memory_per_job", reason } if reason.contains("without_cgroups")),
        "{error}"
    );
    // A job's own limit: it fails to start, saying why; the pool and its other jobs go on.
    let pool = ProcessPool::builder().build(spawner).unwrap();
    let results = pool
        .run_all([Job::new("true").max_memory(64 * MIB), Job::new("true")])
        .await
        .unwrap();
    let Outcome::SpawnFailed(error) = &results[0].outcome else {
        panic!("{:?}", results[0]);
    };
    assert_eq!(error.kind(), std::io::ErrorKind::Unsupported);
    let text = error.to_string();
    assert!(
        text.contains("memory limit of 64 MiB") && text.contains("without_cgroups"),
        "{text}"
    );
    assert!(results[1].success());
    assert_eq!(results[1].usage.cpu_time, None, "no cgroup, no accounting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_limit_of_zero_is_refused() {
    let error = ProcessPool::builder()
        .max_memory_per_job(0)
        .build(NativeSpawner::new())
        .unwrap_err();
    assert!(
        matches!(
            error,
            ConfigError::Invalid {
                name: "max_memory_per_job",
                ..
            }
        ),
        "{error}"
    );
    let error = pool(1)
        .submit(Job::new("true").max_memory(0))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("memory limit of `true` is zero"),
        "{error}"
    );
}
