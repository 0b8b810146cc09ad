//! Measures what a job costs on Slurm, each way, on the same cluster and the same work: one job
//! per line of LINES, run as `PROGRAM [ARGS...] LINE`, through
//!
//! - the local native pool (no Slurm), at the machine's CPUs and at the agents' jobs in flight;
//! - agent mode: one agent per node, as many jobs in flight as the nodes have CPUs;
//! - one `srun` per job (step mode, each job a Slurm job of its own), as many in flight;
//! - the tasks of one `sbatch --array`, timed from the submit until Slurm has none left.
//!
//! Agents and pools are warmed up before they are timed. Prints one line per way on stdout,
//! tab-separated, for `cargo xtask bench` to read:
//! `result WAY JOBS IN_FLIGHT MS` (the median of the runs), or `skipped WAY REASON`.
//!
//! ```text
//! cargo run --release -p process-pool-slurm --example slurm_overhead -- \
//!     [--nodes N] [--runs R] [--step-jobs N] [--array-jobs N] LINES -- PROGRAM [ARGS...]
//! ```

use std::error::Error;
use std::process::Command;
use std::time::{Duration, Instant};

use process_pool_core::{Job, ProcessPool};
use process_pool_native::NativeSpawner;
use process_pool_slurm::{Allocation, SlurmSpawner, SlurmStepSpawner};

/// What to measure, from the command line.
struct Options {
    nodes: usize,
    runs: usize,
    step_jobs: usize,
    array_jobs: usize,
    lines: Vec<String>,
    lines_file: String,
    program: Vec<String>,
}

fn options() -> Result<Options, Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        nodes: 3,
        runs: 3,
        step_jobs: 200,
        array_jobs: 500,
        lines: Vec::new(),
        lines_file: String::new(),
        program: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, Box<dyn Error>> {
            let value = args.next().ok_or(format!("{name} takes a number"))?;
            Ok(value.parse()?)
        };
        match arg.as_str() {
            "--nodes" => options.nodes = number("--nodes")?,
            "--runs" => options.runs = number("--runs")?.max(1),
            "--step-jobs" => options.step_jobs = number("--step-jobs")?,
            "--array-jobs" => options.array_jobs = number("--array-jobs")?,
            "--" => {
                options.program = args.by_ref().collect();
                break;
            }
            file => options.lines_file = file.to_owned(),
        }
    }
    if options.lines_file.is_empty() || options.program.is_empty() {
        return Err(
            "usage: slurm_overhead [--nodes N] [--runs R] [--step-jobs N] \
                    [--array-jobs N] LINES -- PROGRAM [ARGS...]"
                .into(),
        );
    }
    options.lines = std::fs::read_to_string(&options.lines_file)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    Ok(options)
}

impl Options {
    fn job(&self, line: &str) -> Job {
        Job::new(&self.program[0])
            .args(&self.program[1..])
            .arg(line)
    }
}

/// Runs the first `jobs` lines through `pool` once; the wall time.
async fn run(pool: &ProcessPool, options: &Options, jobs: usize) -> Result<Duration, String> {
    let lines = &options.lines[..jobs.min(options.lines.len())];
    let started = Instant::now();
    let results = pool
        .map(lines.iter(), |line| options.job(line))
        .await
        .map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    if let Some(bad) = results.iter().find(|r| !r.success()) {
        return Err(format!(
            "a job failed: {} {}",
            bad.outcome,
            bad.stderr_lossy()
        ));
    }
    Ok(elapsed)
}

/// Warms `pool` up, then runs every line `runs` times; the median wall time in ms.
async fn median(pool: &ProcessPool, options: &Options, runs: usize) -> Result<f64, String> {
    run(pool, options, 200).await?;
    let mut times = Vec::new();
    for _ in 0..runs {
        times.push(run(pool, options, options.lines.len()).await?);
    }
    times.sort();
    Ok(times[times.len() / 2].as_secs_f64() * 1e3)
}

fn report(way: &str, jobs: usize, in_flight: usize, ms: Result<f64, String>) {
    match ms {
        Ok(ms) => println!("result\t{way}\t{jobs}\t{in_flight}\t{ms:.3}"),
        Err(why) => println!("skipped\t{way}\t{}", why.replace(['\t', '\n'], " ")),
    }
}

/// The tasks of one job array, each running its line: the wall time from the submit until
/// Slurm has none of them left.
async fn array(options: &Options, tasks: usize, name: &str) -> Result<f64, String> {
    let mut words: Vec<String> = options.program.iter().map(|a| quote(a)).collect();
    words.push(format!(
        "\"$(sed -n \"${{SLURM_ARRAY_TASK_ID}}p\" {})\"",
        quote(&options.lines_file)
    ));
    let started = Instant::now();
    let out = Command::new("sbatch")
        .args(["--parsable", "--output=/dev/null"])
        .arg(format!("--job-name={name}"))
        .arg(format!("--array=1-{tasks}"))
        .args(["--wrap", &format!("exec {}", words.join(" "))])
        .output()
        .map_err(|e| format!("cannot run sbatch: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "sbatch: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    loop {
        let left = Command::new("squeue")
            .args(["-h", "-n", name, "-o", "%i"])
            .output()
            .map_err(|e| format!("cannot run squeue: {e}"))?;
        if left.stdout.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(started.elapsed().as_secs_f64() * 1e3)
}

/// `arg` as one POSIX shell word.
fn quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+".contains(&b))
    {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let options = options()?;
    let jobs = options.lines.len();
    let tag = std::process::id();
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);

    let agents = SlurmSpawner::builder()
        .nodes(options.nodes)
        .job_name(format!("pp-bench-agents-{tag}"))
        .build()
        .await?;
    let slots = agents.capacity();
    for in_flight in [cpus, slots] {
        let local = ProcessPool::new(NativeSpawner::new(), in_flight)?;
        report(
            &format!("local/{in_flight}"),
            jobs,
            in_flight,
            median(&local, &options, options.runs).await,
        );
        if in_flight == slots {
            break;
        }
    }
    let through_agents = agents.clone().into_pool()?;
    report(
        "agents",
        jobs,
        slots,
        median(&through_agents, &options, options.runs).await,
    );
    drop(through_agents);
    agents.shutdown(Duration::from_secs(5)).await;

    let step_jobs = options.step_jobs.min(jobs);
    if step_jobs > 0 {
        let ms = async {
            let steps = SlurmStepSpawner::builder()
                .allocation(Allocation::Own)
                .job_name(format!("pp-bench-srun-{tag}"))
                .build()
                .await
                .map_err(|e| e.to_string())?;
            let pool = ProcessPool::new(steps, slots).map_err(|e| e.to_string())?;
            Ok(run(&pool, &options, step_jobs).await?.as_secs_f64() * 1e3)
        };
        report("srun", step_jobs, slots, ms.await);
    }

    // Slurm's default MaxArraySize is 1001.
    let array_jobs = options.array_jobs.min(jobs).min(1000);
    if array_jobs > 0 {
        let name = format!("pp-bench-array-{tag}");
        report(
            "sbatch_array",
            array_jobs,
            slots,
            array(&options, array_jobs, &name).await,
        );
    }
    Ok(())
}
