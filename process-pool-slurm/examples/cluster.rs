//! Runs many short jobs on a Slurm cluster through agents, and says how many ran on each node.
//!
//! ```text
//! cargo run -p process-pool-slurm --example cluster -- [NODES] [JOBS] [SECONDS_PER_JOB] [JOB_NAME]
//! ```
//!
//! Build the agent first (`cargo build -p process-pool-slurm`): it is found beside this
//! program's directory.

use std::collections::BTreeMap;
use std::error::Error;
use std::io::Write;
use std::time::{Duration, Instant};

use process_pool_core::job;
use process_pool_slurm::SlurmSpawner;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let nodes: usize = args.first().map_or(Ok(3), |a| a.parse())?;
    let jobs: usize = args.get(1).map_or(Ok(1000), |a| a.parse())?;
    let seconds = args.get(2).cloned().unwrap_or_else(|| "0".to_owned());
    let name = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| "process-pool-example".to_owned());

    let started = Instant::now();
    // One agent per node, each in a one-node allocation of its own (or on the nodes of the
    // allocation this runs in).
    let spawner = SlurmSpawner::builder()
        .nodes(nodes)
        .time_limit(Duration::from_secs(3600))
        .job_name(name)
        .build()
        .await?;
    println!(
        "{nodes} agents ready in {:.2} s, {} jobs at once",
        started.elapsed().as_secs_f64(),
        spawner.capacity()
    );
    std::io::stdout().flush()?;

    // From here on, the same ProcessPool as on one machine.
    let pool = spawner.clone().into_pool()?;
    let started = Instant::now();
    let results = pool
        .map(0..jobs, |_| {
            job(
                "sh",
                [
                    "-c",
                    "sleep \"$1\"; echo \"$SLURMD_NODENAME\"",
                    "sh",
                    &seconds,
                ],
            )
        })
        .await?;
    let elapsed = started.elapsed();
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for result in &results {
        *per_node
            .entry(result.stdout_lossy().trim().to_owned())
            .or_default() += 1;
    }
    println!(
        "{jobs} jobs in {:.2} s ({:.1} µs each): {per_node:?}",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / jobs.max(1) as f64
    );
    spawner.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
