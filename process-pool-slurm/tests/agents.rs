//! Agent mode against the real Slurm of `cargo xtask slurm up` (3 nodes): many jobs over every
//! node, agents lost mid-run, timeouts and cancels, the pool's process killed, bad input.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{HANG, NODES, agent, assert_nothing_left, processes_of, require_slurm, unique_name};
use process_pool_core::{Job, Outcome, ProcessPool, RetryPolicy, job};
use process_pool_slurm::{Resources, SlurmError, SlurmSpawner};

async fn spawner(name: &str, nodes: usize) -> SlurmSpawner {
    require_slurm();
    SlurmSpawner::builder()
        .nodes(nodes)
        .agent_program(agent())
        .job_name(name)
        .build()
        .await
        .expect("the agents start")
}

/// The processes of the jobs of the pool named `name`: not its agents, nor the `srun`s that
/// started them.
fn job_processes(name: &str) -> Vec<u32> {
    let agent = agent().canonicalize().expect("the agent exists");
    processes_of(name)
        .into_iter()
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| {
                exe != agent
                    && !exe
                        .file_name()
                        .is_some_and(|n| n == "srun" || n == "salloc")
            })
        })
        .collect()
}

/// The pids of the agents of the pool named `name`, with their Slurm job ids.
fn agents_of(name: &str) -> Vec<(u32, String)> {
    let agent = agent().canonicalize().expect("the agent exists");
    processes_of(name)
        .into_iter()
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e == agent))
        .filter_map(|pid| {
            let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            let job = env
                .split(|&b| b == 0)
                .find_map(|v| v.strip_prefix(b"SLURM_JOB_ID="))?;
            Some((pid, String::from_utf8_lossy(job).into_owned()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_jobs_run_once_each_on_every_node_and_leave_nothing() {
    let name = unique_name("5000");
    let spawner = spawner(&name, NODES).await;
    let pool = spawner.clone().into_pool().expect("a pool");
    let jobs = 5000;
    let results = tokio::time::timeout(
        Duration::from_secs(300),
        pool.map(0..jobs, |i| {
            job(
                "sh",
                ["-c", "echo \"$1 $SLURMD_NODENAME\"", "sh", &i.to_string()],
            )
        }),
    )
    .await
    .expect("within the hang bound")
    .expect("accepted");
    let mut seen = HashSet::new();
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for (i, result) in results.iter().enumerate() {
        assert!(result.success(), "job {i}: {}", result.outcome);
        assert_eq!(result.attempts, 1);
        let out = result.stdout_lossy();
        let (index, node) = out.trim().split_once(' ').expect("index and node");
        assert_eq!(index, i.to_string(), "results in input order");
        assert!(seen.insert(index.to_owned()), "job {index} answered twice");
        *per_node.entry(node.to_owned()).or_default() += 1;
    }
    assert_eq!(seen.len(), jobs);
    assert_eq!(per_node.len(), NODES, "every node used: {per_node:?}");
    let agents = spawner.agents();
    assert_eq!(agents.crashed, 0);
    assert_eq!(spawner.calls().succeeded, jobs as u64);
    spawner.shutdown(Duration::from_secs(10)).await;
    drop(pool);
    assert_nothing_left(&name);
}

/// Runs 30 jobs of 0.4 s on 3 agents, does `lose` to one agent once jobs run, and checks every
/// job ran to success exactly once in the end.
async fn lose_an_agent_mid_run(tag: &str, lose: impl FnOnce(u32, &str)) {
    let name = unique_name(tag);
    let spawner = spawner(&name, NODES).await;
    let started = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&started);
    let pool = ProcessPool::builder()
        .max_workers(spawner.capacity())
        .on_start(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build(spawner.clone())
        .expect("a pool");
    let handles: Vec<_> = {
        let mut handles = Vec::new();
        for i in 0..30 {
            let job = job("sh", ["-c", "sleep 0.4; echo \"$1\"", "sh", &i.to_string()]);
            handles.push(pool.submit(job).await.expect("accepted"));
        }
        handles
    };
    common::wait_until(
        HANG,
        "jobs running",
        || started.load(Ordering::SeqCst),
        |&n| n >= 6,
    );
    let (pid, job_id) = agents_of(&name).pop().expect("an agent runs");
    lose(pid, &job_id);
    for (i, handle) in handles.into_iter().enumerate() {
        let result = tokio::time::timeout(HANG, handle).await.expect("no hang");
        assert!(
            result.success(),
            "job {i}: {} {}",
            result.outcome,
            result.stderr_lossy()
        );
        assert_eq!(result.stdout_lossy().trim(), i.to_string());
    }
    let agents = spawner.agents();
    assert!(
        agents.crashed >= 1,
        "the lost agent counts as crashed: {agents:?}"
    );
    let calls = spawner.calls();
    assert!(calls.retried >= 1, "its jobs ran again: {calls}");
    spawner.shutdown(Duration::from_secs(10)).await;
    drop(pool);
    assert_nothing_left(&name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_whose_allocation_is_cancelled_is_replaced_and_its_jobs_rerun() {
    lose_an_agent_mid_run("scancel", |_, job| {
        let status = Command::new("scancel")
            .arg(job)
            .status()
            .expect("scancel runs");
        assert!(status.success());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_by_sigkill_is_replaced_and_its_jobs_rerun() {
    lose_an_agent_mid_run("kill9", |pid, _| {
        let pid = rustix::process::Pid::from_raw(pid as i32).expect("a pid");
        rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("killed");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_must_not_run_twice_fails_typed_when_its_agent_is_lost() {
    let name = unique_name("noretry");
    let spawner = spawner(&name, 1).await;
    let pool = spawner.clone().into_pool().expect("a pool");
    let once = pool
        .submit(job("sleep", ["30"]).retry(RetryPolicy::none()))
        .await
        .expect("accepted");
    let again = pool
        .submit(job("sh", ["-c", "sleep 1; echo survived"]))
        .await
        .expect("accepted");
    common::wait_until(
        HANG,
        "both jobs running",
        || job_processes(&name).len(),
        |&n| n >= 2,
    );
    let (_, job_id) = agents_of(&name).pop().expect("an agent runs");
    assert!(
        Command::new("scancel")
            .arg(&job_id)
            .status()
            .expect("scancel")
            .success()
    );
    let once = tokio::time::timeout(HANG, once).await.expect("no hang");
    let Outcome::SpawnFailed(error) = &once.outcome else {
        panic!("expected a typed failure, got {}", once.outcome);
    };
    assert_eq!(
        error.kind(),
        std::io::ErrorKind::ConnectionAborted,
        "{error}"
    );
    assert!(error.to_string().contains("lost"), "{error}");
    let again = tokio::time::timeout(HANG, again).await.expect("no hang");
    assert!(again.success(), "{}", again.outcome);
    assert_eq!(again.stdout_lossy().trim(), "survived");
    spawner.shutdown(Duration::from_secs(10)).await;
    drop(pool);
    assert_nothing_left(&name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_and_cancel_leave_no_process_on_any_node() {
    let name = unique_name("stop");
    let spawner = spawner(&name, NODES).await;
    let pool = ProcessPool::builder()
        .max_workers(spawner.capacity())
        .kill_grace(Duration::from_millis(300))
        .build(spawner.clone())
        .expect("a pool");
    // A tree: the shell and two sleeps, one of them in the background.
    let tree = || Job::new("sh").args(["-c", "sleep 1000 & sleep 1000; wait"]);
    let timed = pool
        .submit(tree().timeout(Duration::from_millis(500)))
        .await
        .expect("accepted");
    let cancelled = pool.submit(tree()).await.expect("accepted");
    common::wait_until(
        HANG,
        "both trees running",
        || job_processes(&name).len(),
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
        Duration::from_secs(10),
        "job processes left on the nodes",
        || job_processes(&name),
        Vec::is_empty,
    );
    // The agents are still there and serve.
    let after = pool
        .run_all([job("true", [] as [&str; 0])])
        .await
        .expect("accepted");
    assert!(after[0].success());
    spawner.shutdown(Duration::from_secs(10)).await;
    drop(pool);
    assert_nothing_left(&name);
}

#[test]
fn the_pool_killed_by_sigkill_leaves_no_agent_job_or_allocation() {
    require_slurm();
    let name = unique_name("sigkill");
    // The example program: a pool of 3 agents running 10,000 jobs of 50 ms.
    let example = std::env::current_exe()
        .expect("this test's path")
        .parent()
        .and_then(|deps| deps.parent())
        .map(|debug| debug.join("examples/cluster"))
        .expect("the examples' directory");
    assert!(
        example.is_file(),
        "{} is built by cargo test",
        example.display()
    );
    let mut child = Command::new(&example)
        .args(["3", "10000", "0.05", &name])
        .env(
            "PATH",
            std::env::join_paths(
                std::iter::once(agent().parent().expect("a dir").to_owned()).chain(
                    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
                ),
            )
            .expect("a PATH"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the example starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = lines.next().expect("a line").expect("text");
    assert!(ready.contains("agents ready"), "{ready}");
    common::wait_until(
        HANG,
        "jobs running",
        || job_processes(&name).len(),
        |&n| n >= 3,
    );
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("killed");
    let killed = Instant::now();
    child.wait().expect("reaped");
    common::wait_until(
        Duration::from_secs(10),
        "agents and jobs left",
        || processes_of(&name),
        Vec::is_empty,
    );
    common::wait_until(
        Duration::from_secs(10),
        "allocations left",
        || common::slurm_jobs(&name),
        Vec::is_empty,
    );
    eprintln!("everything gone {:?} after the SIGKILL", killed.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slurm_not_reachable_is_a_typed_error() {
    let error = SlurmSpawner::builder()
        .agent_program(agent())
        .slurm_bin_dir("/nonexistent/slurm/bin")
        .build()
        .await
        .expect_err("no Slurm there");
    assert!(matches!(error, SlurmError::NotReachable { .. }), "{error}");
    assert!(error.to_string().contains("`sinfo` not found"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_partition_is_a_typed_error() {
    require_slurm();
    let error = SlurmSpawner::builder()
        .agent_program(agent())
        .partition("no-such-partition")
        .build()
        .await
        .expect_err("no such partition");
    let SlurmError::UnknownPartition { partition, known } = &error else {
        panic!("expected UnknownPartition, got {error}");
    };
    assert_eq!(partition, "no-such-partition");
    assert!(known.contains(&"debug".to_owned()), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_cpus_than_a_node_has_is_a_typed_error() {
    require_slurm();
    let error = SlurmSpawner::builder()
        .agent_program(agent())
        .resources(Resources::new().cpus(4096))
        .build()
        .await
        .expect_err("no node that big");
    assert!(
        matches!(error, SlurmError::TooManyCpus { asked: 4096, .. }),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allocation_pending_past_its_bound_is_cancelled_and_a_typed_error() {
    require_slurm();
    let name = unique_name("pending");
    let started = Instant::now();
    // --hold keeps the allocation pending for ever.
    let error = SlurmSpawner::builder()
        .agent_program(agent())
        .job_name(&name)
        .resources(Resources::new().arg("--hold"))
        .pending_timeout(Duration::from_secs(2))
        .start_retry(RetryPolicy::none())
        .build()
        .await
        .expect_err("held");
    let SlurmError::Pending {
        job: held, reason, ..
    } = &error
    else {
        panic!("expected Pending, got {error}");
    };
    assert!(held.is_some(), "{error}");
    assert!(reason.contains("Held"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_nothing_left(&name);
    // Slurm still serves this program: a good pool works after the bad ones.
    let name = unique_name("after");
    let pool = spawner(&name, 1).await.into_pool().expect("a pool");
    let results = pool
        .run_all([job("true", [] as [&str; 0])])
        .await
        .expect("accepted");
    assert!(results[0].success());
    drop(pool);
    assert_nothing_left(&name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_start_while_jobs_wait_and_idle_ones_give_their_allocation_back() {
    require_slurm();
    let name = unique_name("autoscale");
    let spawner = SlurmSpawner::builder()
        .nodes(2)
        .min_nodes(0)
        .idle_timeout(Duration::from_millis(500))
        .agent_program(agent())
        .job_name(&name)
        .build()
        .await
        .expect("Slurm answers");
    assert_eq!(spawner.agents().alive, 0, "no agent before any job");
    let pool = spawner.clone().into_pool().expect("a pool");
    let mut started_before = 0;
    for round in 0..2 {
        let results = pool
            .map(0..20, |_| job("sh", ["-c", "sleep 0.1"]))
            .await
            .expect("accepted");
        assert!(results.iter().all(|r| r.success()), "round {round}");
        // Agents were started for this round (the last round's went when idle).
        let started = spawner.agents().started;
        assert!(
            started > started_before,
            "round {round}: {started} started in all"
        );
        started_before = started;
        // Idle: the agents go, and their allocations with them, while the pool lives on.
        common::wait_until(HANG, "idle agents", || spawner.agents().alive, |&n| n == 0);
        common::wait_until(
            HANG,
            "idle allocations",
            || common::slurm_jobs(&name),
            Vec::is_empty,
        );
    }
    drop(pool);
    drop(spawner);
    assert_nothing_left(&name);
}
