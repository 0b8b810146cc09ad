//! Agent mode when Slurm takes nodes or allocations away, against the real Slurm of `cargo
//! xtask slurm up` (3 nodes, `SlurmdTimeout=30`): a node whose `slurmd` stops, allocations
//! lost again and again, allocations that stay pending while the cluster is full.
//!
//! These checks take the whole cluster (a node down, every node held): they run one at a time.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{
    HANG, NODES, StoppedSlurmd, agent, agents_of, assert_nothing_left, env_of, node_state,
    processes_of, require_slurm, unique_name,
};
use process_pool_core::{Backoff, Job, Outcome, RetryOn, RetryPolicy, job};
use process_pool_slurm::SlurmSpawner;

/// One check at a time: each takes the whole cluster.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A job that waits for `flag` to exist, then prints `i`.
fn waits_for(flag: &Path, i: usize) -> Job {
    let script = "while [ ! -e \"$1\" ]; do sleep 0.1; done; echo \"$2\"";
    job(
        "sh",
        ["-c", script, "sh", &flag.to_string_lossy(), &i.to_string()],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_slurmd_stops_is_noticed_and_its_jobs_run_elsewhere() {
    let _serial = SERIAL.lock().await;
    require_slurm();
    let name = unique_name("slurmd");
    let flag = std::env::temp_dir().join(format!("{name}.go"));
    let spawner = SlurmSpawner::builder()
        .nodes(NODES)
        .agent_program(agent())
        .job_name(&name)
        .node_check(Duration::from_secs(1))
        .build()
        .await
        .expect("the agents start");
    let pool = spawner.clone().into_pool().expect("a pool");
    // Every agent's CPUs busy; every other job must not run twice.
    let capacity = spawner.capacity();
    let mut handles = Vec::new();
    for i in 0..capacity {
        let mut job = waits_for(&flag, i);
        if i % 2 == 1 {
            job = job.retry(RetryPolicy::none());
        }
        handles.push(pool.submit(job).await.expect("accepted"));
    }
    common::wait_until(
        HANG,
        "every job running",
        || spawner.calls().running,
        |&n| n == capacity,
    );
    let pid = *agents_of(&name).first().expect("an agent runs");
    let node = env_of(pid, "SLURMD_NODENAME").expect("the agent's node");
    let stopped_at = Instant::now();
    let slurmd = StoppedSlurmd::stop(&node);
    // Slurm marks the node not responding at its next ping, and down after SlurmdTimeout
    // (30 s); the pool notices either at its next look.
    common::wait_until(
        Duration::from_secs(120),
        "the pool to lose the agent",
        || spawner.agents().crashed,
        |&n| n >= 1,
    );
    eprintln!(
        "the agent on {node} was lost {:?} after its slurmd stopped (node {})",
        stopped_at.elapsed(),
        node_state(&node)
    );
    std::fs::write(&flag, "").expect("the flag");
    let mut typed = 0;
    for (i, handle) in handles.into_iter().enumerate() {
        let result = tokio::time::timeout(HANG, handle).await.expect("no hang");
        if i % 2 == 1
            && let Outcome::SpawnFailed(error) = &result.outcome
        {
            assert_eq!(
                error.kind(),
                std::io::ErrorKind::ConnectionAborted,
                "{error}"
            );
            typed += 1;
            continue;
        }
        assert!(result.success(), "job {i}: {}", result.outcome);
        assert_eq!(result.stdout_lossy().trim(), i.to_string(), "job {i}");
    }
    let retried = spawner.calls().retried;
    assert!(
        retried + typed >= 1,
        "the lost agent's jobs ran again or failed typed"
    );
    drop(slurmd);
    spawner.shutdown(Duration::from_secs(10)).await;
    drop(pool);
    let _ = std::fs::remove_file(&flag);
    assert_nothing_left(&name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocations_lost_again_and_again_fail_the_job_clearly_and_the_pool_goes_on() {
    let _serial = SERIAL.lock().await;
    require_slurm();
    let name = unique_name("lost");
    let crashes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&crashes);
    let spawner = SlurmSpawner::builder()
        .nodes(1)
        .agent_program(agent())
        .job_name(&name)
        .lost_job_retry(
            RetryPolicy::attempts(2)
                .on(RetryOn::CRASH)
                .backoff(Backoff::fixed(Duration::from_millis(300))),
        )
        .on_agent_crash(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .await
        .expect("an agent starts");
    let pool = spawner.clone().into_pool().expect("a pool");
    let doomed = pool.submit(job("sleep", ["1000"])).await.expect("accepted");
    // Each attempt's allocation is cancelled under it, as a time limit or a preemption would.
    let mut cancelled = HashSet::new();
    for attempt in 1..=2 {
        let mut found = None;
        common::wait_until(
            HANG,
            "the job running on a new allocation",
            || {
                found = allocation_running_sleep(&name, &cancelled);
                found.clone()
            },
            Option::is_some,
        );
        let id = found.expect("an allocation");
        assert!(
            Command::new("scancel")
                .arg(&id)
                .status()
                .expect("scancel")
                .success(),
            "attempt {attempt}"
        );
        cancelled.insert(id);
    }
    let result = tokio::time::timeout(HANG, doomed).await.expect("no hang");
    let Outcome::SpawnFailed(error) = &result.outcome else {
        panic!("expected a typed failure, got {}", result.outcome);
    };
    assert_eq!(
        error.kind(),
        std::io::ErrorKind::ConnectionAborted,
        "{error}"
    );
    assert!(error.to_string().contains("lost"), "{error}");
    assert!(crashes.load(Ordering::SeqCst) >= 2, "each loss reported");
    assert_eq!(spawner.calls().retried, 1, "{}", spawner.calls());
    // A new allocation serves the next job: the pool goes on.
    let after = pool
        .run_all([job("echo", ["after"])])
        .await
        .expect("accepted");
    assert!(after[0].success(), "{}", after[0].outcome);
    assert!(spawner.agents().started >= 3, "{:?}", spawner.agents());
    spawner.shutdown(Duration::from_secs(10)).await;
    drop(pool);
    assert_nothing_left(&name);
}

/// The allocation (not one of `cancelled`) in which a `sleep` of the pool named `name` runs.
fn allocation_running_sleep(name: &str, cancelled: &HashSet<String>) -> Option<String> {
    processes_of(name).into_iter().find_map(|pid| {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        if exe.file_name()? != "sleep" {
            return None;
        }
        env_of(pid, "SLURM_JOB_ID").filter(|job| !cancelled.contains(job))
    })
}

/// Holds every node of the cluster (`salloc -N3 --exclusive`) until dropped.
struct FullCluster {
    salloc: Child,
    name: String,
}

impl FullCluster {
    fn hold(name: &str) -> FullCluster {
        let salloc = Command::new("salloc")
            .args(["--exclusive", &format!("--nodes={NODES}")])
            .arg(format!("--job-name={name}"))
            .args(["--no-shell", "--time=10"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("salloc runs");
        let held = FullCluster {
            salloc,
            name: name.to_owned(),
        };
        common::wait_until(
            HANG,
            "every node held",
            || common::slurm_jobs(name),
            |jobs| jobs.iter().any(|j| j.ends_with("RUNNING")),
        );
        held
    }
}

impl Drop for FullCluster {
    fn drop(&mut self) {
        let _ = Command::new("scancel")
            .arg(format!("--name={}", self.name))
            .status();
        // `--no-shell`: salloc ended once granted; the allocation lives until cancelled.
        let _ = self.salloc.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocations_pending_while_the_cluster_is_full_are_reported_and_retried() {
    let _serial = SERIAL.lock().await;
    require_slurm();
    let name = unique_name("full");
    let full = FullCluster::hold(&format!("{name}-holder"));
    let reported = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&reported);
    let spawner = SlurmSpawner::builder()
        .nodes(1)
        .min_nodes(0)
        .agent_program(agent())
        .job_name(&name)
        .pending_timeout(Duration::from_secs(2))
        .start_retry(RetryPolicy::attempts(30).backoff(Backoff::fixed(Duration::from_millis(500))))
        .on_start_failure(move |error| {
            assert!(
                matches!(error, process_pool_slurm::SlurmError::Pending { .. }),
                "{error}"
            );
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .await
        .expect("Slurm answers");
    let pool = spawner.clone().into_pool().expect("a pool");
    let waiting = pool
        .submit(job("echo", ["served"]))
        .await
        .expect("accepted");
    common::wait_until(
        HANG,
        "two pending allocations given up",
        || reported.load(Ordering::SeqCst),
        |&n| n >= 2,
    );
    assert!(spawner.failed_starts() >= 2);
    drop(full);
    let result = tokio::time::timeout(HANG, waiting).await.expect("no hang");
    assert!(result.success(), "{}", result.outcome);
    assert_eq!(result.stdout_lossy(), "served\n");
    spawner.shutdown(Duration::from_secs(10)).await;
    drop(pool);
    assert_nothing_left(&name);
}

/// With every node held by someone else and no retry of the start, every job waiting for an
/// agent fails with the typed reason (`SlurmError::Pending`), not only the first one to ask.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_job_waiting_on_a_pending_allocation_fails_with_the_typed_reason() {
    let _serial = SERIAL.lock().await;
    require_slurm();
    let name = unique_name("full-typed");
    let _full = FullCluster::hold(&format!("{name}-holder"));
    let spawner = SlurmSpawner::builder()
        .nodes(1)
        .min_nodes(0)
        .agent_program(agent())
        .job_name(&name)
        .pending_timeout(Duration::from_secs(1))
        .start_retry(RetryPolicy::attempts(1))
        .build()
        .await
        .expect("Slurm answers");
    let pool = spawner.clone().into_pool().expect("a pool");
    let jobs = (0..4).map(|i| job("echo", [i.to_string()]));
    let results = tokio::time::timeout(HANG, pool.run_all(jobs))
        .await
        .expect("no hang")
        .expect("accepted");
    for result in &results {
        let Outcome::SpawnFailed(error) = &result.outcome else {
            panic!("job {}: {}", result.index, result.outcome);
        };
        let typed = error
            .get_ref()
            .and_then(|e| e.downcast_ref::<process_pool_slurm::SlurmError>());
        assert!(
            matches!(typed, Some(process_pool_slurm::SlurmError::Pending { .. })),
            "job {}: {error} ({:?})",
            result.index,
            error.kind()
        );
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut, "{error}");
    }
    spawner.shutdown(Duration::from_secs(10)).await;
    drop(pool);
    assert_nothing_left(&name);
}
