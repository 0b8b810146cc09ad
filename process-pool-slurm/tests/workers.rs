//! Warm workers on Slurm nodes beyond the conformance suite (`worker_conformance.rs`): a
//! `WorkerPool` whose workers (the protocol's Python example) run on every node of the `cargo
//! xtask slurm up` cluster, each in an allocation of its own, behind the agent's relay.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use common::{HANG, NODES, agent, assert_nothing_left, require_slurm, unique_name};
use process_pool_core::WorkerPool;
use process_pool_core::backend::WorkerSpawner;
use process_pool_slurm::{Resources, SlurmWorker};

fn python_worker() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../process-pool-protocol/examples/python_worker.py")
}

/// Python workers, each on a whole node of its own.
async fn spawner(name: &str) -> SlurmWorker {
    require_slurm();
    SlurmWorker::builder("python3")
        .arg(python_worker())
        .agent_program(agent())
        .job_name(name)
        .resources(Resources::new().arg("--exclusive"))
        .build()
        .await
        .expect("Slurm answers")
}

/// The value of `key` in the environment of `pid`.
fn env_of(pid: u32, key: &str) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{key}=");
    env.split(|&b| b == 0).find_map(|v| {
        v.strip_prefix(prefix.as_bytes())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    })
}

/// Calls reach workers on every node, any bytes survive the trip, and the pool's shutdown
/// leaves nothing.
async fn calls_span_the_nodes(spawner: impl WorkerSpawner, name: &str) {
    let pool = WorkerPool::builder()
        .min_workers(NODES)
        .max_workers(NODES)
        .build(spawner)
        .expect("a pool");
    tokio::time::timeout(HANG, pool.ready())
        .await
        .expect("no hang")
        .expect("workers start");
    let mut nodes = HashSet::new();
    for _ in 0..30 {
        let pid = pool.call("pid", "").await.expect("a pid");
        let pid: u32 = String::from_utf8_lossy(&pid).parse().expect("a number");
        nodes.insert(env_of(pid, "SLURMD_NODENAME").expect("a worker on a node"));
    }
    assert_eq!(nodes.len(), NODES, "workers on every node: {nodes:?}");
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let back = pool.call("echo", every_byte.clone()).await.expect("echoed");
    assert_eq!(back, every_byte);
    assert_eq!(pool.call("upper", "abc\n").await.expect("upper"), "ABC\n");
    pool.shutdown(Duration::from_secs(5)).await;
    assert_nothing_left(name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_calls_span_the_nodes_and_shutdown_leaves_nothing() {
    let name = unique_name("workers");
    calls_span_the_nodes(spawner(&name).await, &name).await;
}
