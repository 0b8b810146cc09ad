//! Measures what a job costs on Slurm, each way, on the same cluster: `true` run many times
//! through the local native pool, through agents (agent mode), as one `srun` each (step mode),
//! and as the tasks of one `sbatch --array`. Prints one line per way, per job, and ratios.
//!
//! ```text
//! cargo run --release -p process-pool-slurm --example slurm_overhead -- [JOBS] [NODES]
//! ```

use std::error::Error;
use std::process::Command;
use std::time::{Duration, Instant};

use process_pool_core::{ProcessPool, job};
use process_pool_native::NativeSpawner;
use process_pool_slurm::{Allocation, SlurmSpawner, SlurmStepSpawner};

async fn run(pool: &ProcessPool, jobs: usize) -> Result<Duration, Box<dyn Error>> {
    let started = Instant::now();
    let results = pool.map(0..jobs, |_| job("true", [] as [&str; 0])).await?;
    let elapsed = started.elapsed();
    if let Some(bad) = results.iter().find(|r| !r.success()) {
        return Err(format!("a job failed: {} {}", bad.outcome, bad.stderr_lossy()).into());
    }
    Ok(elapsed)
}

fn per_job(elapsed: Duration, jobs: usize) -> f64 {
    elapsed.as_secs_f64() * 1e3 / jobs as f64
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let jobs: usize = args.first().map_or(Ok(2000), |a| a.parse())?;
    let nodes: usize = args.get(1).map_or(Ok(3), |a| a.parse())?;

    let agents = SlurmSpawner::builder()
        .nodes(nodes)
        .job_name("overhead-agents")
        .build()
        .await?;
    let slots = agents.capacity();
    let local = ProcessPool::new(NativeSpawner::new(), slots)?;
    let through_agents = agents.clone().into_pool()?;
    // Warm both (first spawns, page cache), then measure each twice and keep the better.
    run(&local, 200).await?;
    run(&through_agents, 200).await?;
    let mut local_ms = f64::MAX;
    let mut agent_ms = f64::MAX;
    for _ in 0..2 {
        local_ms = local_ms.min(per_job(run(&local, jobs).await?, jobs));
        agent_ms = agent_ms.min(per_job(run(&through_agents, jobs).await?, jobs));
    }
    println!("local native pool, {slots} at once: {local_ms:.3} ms/job");
    println!(
        "agent mode, {nodes} agents ({slots} at once): {agent_ms:.3} ms/job (+{:.3} ms over local)",
        agent_ms - local_ms
    );
    agents.shutdown(Duration::from_secs(5)).await;

    // One srun per job is 40-60 ms: fewer jobs, the same number at once.
    let step_jobs = (jobs / 10).max(slots);
    let steps = SlurmStepSpawner::builder()
        .allocation(Allocation::Own)
        .job_name("overhead-steps")
        .build()
        .await?;
    let step_pool = ProcessPool::new(steps, slots)?;
    let step_ms = per_job(run(&step_pool, step_jobs).await?, step_jobs);
    println!("srun per job ({step_jobs} jobs, {slots} at once): {step_ms:.3} ms/job");

    // A job array: submitted at once, timed until Slurm has none of it left.
    let array_jobs = jobs.min(1000);
    let started = Instant::now();
    let out = Command::new("sbatch")
        .args([
            "--parsable",
            "--job-name=overhead-array",
            "--output=/dev/null",
        ])
        .arg(format!("--array=1-{array_jobs}"))
        .args(["--wrap", "true"])
        .output()?;
    if !out.status.success() {
        return Err(format!("sbatch: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    loop {
        let left = Command::new("squeue")
            .args(["-h", "-n", "overhead-array", "-o", "%i"])
            .output()?;
        if left.stdout.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let array_ms = per_job(started.elapsed(), array_jobs);
    println!("sbatch --array ({array_jobs} tasks): {array_ms:.3} ms/job");
    println!(
        "ratios: srun per job / agent mode = {:.0}x, sbatch --array / agent mode = {:.0}x, agent mode / local = {:.2}x",
        step_ms / agent_ms,
        array_ms / agent_ms,
        agent_ms / local_ms
    );
    Ok(())
}
