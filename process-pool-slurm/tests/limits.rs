//! A job's memory limit and its usage on an agent, against the real Slurm of `cargo xtask
//! slurm up`: the agent's native spawner holds the job to its limit on the node, and the pool
//! reads back how it ended and what it used.

mod common;

use std::time::Duration;

use common::{HANG, agent, assert_nothing_left, require_slurm, unique_name};
use process_pool_core::{Job, Outcome};
use process_pool_slurm::SlurmSpawner;

const MIB: u64 = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_holds_a_job_to_its_memory_limit_and_reports_its_usage() {
    require_slurm();
    let name = unique_name("limits");
    let spawner = SlurmSpawner::builder()
        .nodes(1)
        .agent_program(agent())
        .job_name(&name)
        .build()
        .await
        .expect("an agent starts");
    let pool = spawner.clone().into_pool().expect("a pool");
    let hungry = Job::new("dd")
        .args(["if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"])
        .max_memory(64 * MIB);
    let fits = Job::new("dd")
        .args(["if=/dev/zero", "of=/dev/null", "bs=16M", "count=1"])
        .max_memory(64 * MIB);
    let results = tokio::time::timeout(HANG, pool.run_all([hungry, fits]))
        .await
        .expect("no hang")
        .expect("accepted");
    assert!(
        matches!(results[0].outcome, Outcome::OutOfMemory { limit } if limit == 64 * MIB),
        "{:?}",
        results[0]
    );
    assert!(results[1].success(), "{:?}", results[1]);
    let usage = results[1].usage;
    assert!(usage.cpu_time.is_some(), "{usage:?}");
    assert!(
        usage.peak_memory.is_some_and(|peak| peak >= 16 * MIB),
        "{usage:?}"
    );
    spawner.shutdown(Duration::from_secs(10)).await;
    drop(pool);
    assert_nothing_left(&name);
}
