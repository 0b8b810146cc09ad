//! An agent lost while it runs jobs, against the real Slurm of `cargo xtask slurm up`: its jobs
//! must be dead before they are answered or run again. A `no_retry` job is answered only once
//! its process is gone; a retried one runs exactly once at any moment.
//!
//! Each job is a shell that appends `start PID TAG` to a log as it starts (and `end PID TAG`
//! when it ends by itself or is stopped politely), then waits on a `sleep 300`; the test reads
//! the log and looks at each logged pid in `/proc` (a zombie counts as gone). Slurm's
//! `proctrack/linuxproc` (what `xtask slurm up` configures) tracks a step's processes by
//! parentage: a job whose agent was SIGKILLed is reparented to init and lost to it, so
//! nothing but the pool's own containment ends it.
//!
//! These checks take an agent's node (and its `slurmd`): they run one at a time.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{
    HANG, StoppedSlurmd, agent, agents_of, assert_nothing_left, env_of, require_slurm, unique_name,
};
use process_pool_core::{Job, JobResult, RetryPolicy, job};
use process_pool_slurm::SlurmSpawner;

/// One check at a time: each takes a node.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The job: logs its start, runs `sleep 300`, logs its end (also when it is sent SIGTERM,
/// SIGINT or SIGHUP, after stopping its `sleep`). SIGKILL leaves no end line: the pid says.
const SCRIPT: &str = r#"log=$1; tag=$2
echo "start $$ $tag" >> "$log"
trap 'kill $child 2>/dev/null; echo "end $$ $tag" >> "$log"; exit 143' TERM INT HUP
sleep 300 & child=$!
wait $child
echo "end $$ $tag" >> "$log""#;

fn logged_job(log: &Path, tag: &str) -> Job {
    job("sh", ["-c", SCRIPT, "sh", &log.to_string_lossy(), tag])
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    start: bool,
    pid: u32,
    tag: String,
}

fn read_log(log: &Path) -> Vec<Entry> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let start = match words.next()? {
                "start" => true,
                "end" => false,
                _ => return None,
            };
            Some(Entry {
                start,
                pid: words.next()?.parse().ok()?,
                tag: words.next()?.to_owned(),
            })
        })
        .collect()
}

/// The pids that started as `tag`, in order.
fn starts(log: &[Entry], tag: &str) -> Vec<u32> {
    log.iter()
        .filter(|e| e.start && e.tag == tag)
        .map(|e| e.pid)
        .collect()
}

/// Whether `pid` runs (a zombie does not: it is dead, only not reaped yet).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s.rsplit_once(')')?.1.split_whitespace().next()? != "Z"))
        .unwrap_or(false)
}

/// `pid`'s parent, as `/proc` says.
fn parent(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()?
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Ends whatever a failed check leaves of the jobs it logged (by pid: a lost job is nobody's
/// child), so that the next check finds the cluster as it was.
struct KillLogged(PathBuf);

impl Drop for KillLogged {
    fn drop(&mut self) {
        for entry in read_log(&self.0) {
            if let Some(pid) = i32::try_from(entry.pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                // Its group too: the `sleep` under it.
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        let _ = std::fs::remove_file(&self.0);
    }
}

/// How the agent is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loss {
    /// `kill -9` of the agent.
    Killed,
    /// Its node's `slurmd` stopped, then `kill -9` of the agent.
    KilledWithSlurmdStopped,
}

/// Runs a `no_retry` job and a retried one on one agent, loses the agent as `loss` says, and
/// checks that the first is answered only once its process is gone and that the second never
/// runs twice at once. Every breach is gathered and reported together.
async fn lose_an_agent(loss: Loss) {
    let _serial = SERIAL.lock().await;
    require_slurm();
    let name = unique_name("agent-loss");
    let log = std::env::temp_dir().join(format!("{name}.log"));
    let _ = std::fs::remove_file(&log);
    let _cleanup = KillLogged(log.clone());
    // One agent at first (2 CPUs: both jobs on it); the retry gets a second one.
    let spawner = SlurmSpawner::builder()
        .nodes(2)
        .min_nodes(1)
        .agent_program(agent())
        .job_name(&name)
        .node_check(Duration::from_secs(1))
        .build()
        .await
        .expect("the agents start");
    let pool = spawner.clone().into_pool().expect("a pool");
    let once = pool
        .submit(logged_job(&log, "once").retry(RetryPolicy::none()))
        .await
        .expect("accepted");
    let retried = pool
        .submit(logged_job(&log, "retried"))
        .await
        .expect("accepted");
    common::wait_until(
        HANG,
        "both jobs started",
        || read_log(&log),
        |log| !starts(log, "once").is_empty() && !starts(log, "retried").is_empty(),
    );
    let entries = read_log(&log);
    let once_pid = starts(&entries, "once")[0];
    let first_retried = starts(&entries, "retried")[0];
    let agents = agents_of(&name);
    let [agent_pid] = agents[..] else {
        panic!("one agent expected, found {agents:?}");
    };
    let node = env_of(agent_pid, "SLURMD_NODENAME").expect("the agent's node");
    let slurmd = (loss == Loss::KilledWithSlurmdStopped).then(|| StoppedSlurmd::stop(&node));
    let pid = rustix::process::Pid::from_raw(agent_pid as i32).expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("the agent killed");
    let killed = Instant::now();

    let mut breaches = Vec::new();
    // The `no_retry` job: answered only once its process is gone.
    let once_result: JobResult = tokio::time::timeout(HANG, once)
        .await
        .expect("the no_retry job is answered");
    let answered = killed.elapsed();
    if alive(once_pid) {
        breaches.push(format!(
            "the no_retry job was answered ({}) {answered:?} after its agent was lost, while its \
             process {once_pid} still ran (parent {:?})",
            once_result.outcome,
            parent(once_pid)
        ));
    }
    // The retried job: when it starts again, the first run must be gone.
    common::wait_until(
        HANG,
        "the retried job started again",
        || read_log(&log),
        |log| starts(log, "retried").len() >= 2,
    );
    let again = killed.elapsed();
    if alive(first_retried) {
        breaches.push(format!(
            "the retried job started again {again:?} after its agent was lost, while its first \
             run {first_retried} still ran (parent {:?}): two at once",
            parent(first_retried)
        ));
    }
    let runs = starts(&read_log(&log), "retried");
    let running: Vec<u32> = runs.iter().copied().filter(|&p| alive(p)).collect();
    if running.len() > 1 {
        breaches.push(format!(
            "the retried job runs {} times at once: {running:?}",
            running.len()
        ));
    }
    eprintln!(
        "{loss:?}: no_retry answered after {answered:?} ({}), retried job started again after \
         {again:?}; log: {:?}",
        once_result.outcome,
        read_log(&log)
    );
    spawner.shutdown(Duration::from_secs(2)).await;
    let retried_result = tokio::time::timeout(HANG, retried)
        .await
        .expect("the retried job is answered");
    drop(pool);
    drop(slurmd);
    assert!(
        breaches.is_empty(),
        "{loss:?} (node {node}):\n- {}",
        breaches.join("\n- ")
    );
    // Stopped by the shutdown, on the second agent.
    assert!(!retried_result.success(), "{}", retried_result.outcome);
    assert_nothing_left(&name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agents_jobs_are_gone_before_they_are_answered_or_run_again() {
    lose_an_agent(Loss::Killed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_with_the_agents_slurmd_stopped() {
    lose_an_agent(Loss::KilledWithSlurmdStopped).await;
}

/// A `SlurmWorker`'s relay SIGKILLed: its worker, and a child the worker started outside its
/// process group (`setsid`), are dead (checked by pid) by the time the pool hears of the loss,
/// which is its crash hook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_relays_worker_and_its_escaped_child_are_gone_before_the_pool_hears() {
    let _serial = SERIAL.lock().await;
    common::require_slurm();
    let name = unique_name("relay-loss");
    let dir = tempfile::tempdir().unwrap();
    let escaped_pid = dir.path().join("escaped");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../process-pool-protocol/examples/python_worker.py");
    let worker = process_pool_slurm::SlurmWorker::builder("sh")
        .args([
            "-c".as_ref(),
            r#"setsid sleep 300 & echo $! > "$1"; exec python3 "$2""#.as_ref(),
            "sh".as_ref(),
            escaped_pid.as_os_str(),
            script.as_os_str(),
        ])
        .agent_program(agent())
        .job_name(&name)
        .build()
        .await
        .expect("Slurm answers");
    let (heard, hear) = std::sync::mpsc::channel();
    let pool = process_pool_core::WorkerPool::builder()
        .max_workers(1)
        .on_worker_crash(move |event| {
            let _ = heard.send(event.reason.clone());
        })
        .build(worker)
        .expect("a pool");
    tokio::time::timeout(HANG, pool.ready())
        .await
        .expect("no hang")
        .expect("a worker starts");
    let mut escaped = None;
    common::wait_until(
        HANG,
        "the worker's escaped child",
        || {
            escaped = std::fs::read_to_string(&escaped_pid)
                .ok()
                .and_then(|pid| pid.trim().parse::<u32>().ok());
            escaped
        },
        Option::is_some,
    );
    let escaped = escaped.expect("a pid");
    let _cleanup = KillPid(escaped);
    assert!(alive(escaped), "the escaped child runs");
    let relays = agents_of(&name);
    assert_eq!(relays.len(), 1, "one relay: {relays:?}");
    let relay = rustix::process::Pid::from_raw(relays[0] as i32).expect("a pid");
    rustix::process::kill_process(relay, rustix::process::Signal::KILL).expect("kill -9");
    let reason = tokio::task::spawn_blocking(move || hear.recv_timeout(HANG))
        .await
        .unwrap()
        .expect("the pool hears of the loss");
    assert!(
        !alive(escaped),
        "the worker's escaped child {escaped} still runs when the pool hears of the loss ({reason})"
    );
    pool.shutdown(Duration::from_secs(10)).await;
    assert_nothing_left(&name);
}

/// Kills a pid a failed check left running.
struct KillPid(u32);

impl Drop for KillPid {
    fn drop(&mut self) {
        if let Some(pid) = i32::try_from(self.0)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}
