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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_timeout_and_cancel_leave_no_process() {
    require_slurm();
    let name = unique_name("steps");
    let spawner = SlurmStepSpawner::builder()
        .allocation(Allocation::Own)
        .job_name(&name)
        .build()
        .await
        .expect("Slurm answers");
    let pool = ProcessPool::builder()
        .max_workers(4)
        .kill_grace(Duration::from_millis(300))
        .build(spawner)
        .expect("a pool");
    let tree = || Job::new("sh").args(["-c", "sleep 1000 & sleep 1000; wait"]);
    let timed = pool
        .submit(tree().timeout(Duration::from_secs(2)))
        .await
        .expect("accepted");
    let cancelled = pool.submit(tree()).await.expect("accepted");
    common::wait_until(
        HANG,
        "both trees running",
        || processes_named(&name).len(),
        |&n| n >= 6,
    );
    cancelled.cancel();
    let cancelled = tokio::time::timeout(HANG, cancelled)
        .await
        .expect("no hang");
    assert!(cancelled.cancelled(), "{}", cancelled.outcome);
    let timed = tokio::time::timeout(HANG, timed).await.expect("no hang");
    assert!(timed.timed_out(), "{}", timed.outcome);
    common::wait_until(
        Duration::from_secs(15),
        "processes left",
        || processes_named(&name),
        Vec::is_empty,
    );
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
