//! What the Slurm tests share: the check that Slurm is there, names, and looks at what is
//! left running.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Nodes the tests need (`cargo xtask slurm up` starts 3).
pub const NODES: usize = 3;
/// A bound that only catches a hang.
pub const HANG: Duration = Duration::from_secs(60);

/// Fails the test with one line unless a Slurm with at least [`NODES`] usable nodes answers.
pub fn require_slurm() {
    let nodes = Command::new("sinfo")
        .args(["-h", "-N", "-o", "%N %t"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let reason = match nodes {
        Err(e) => format!("cannot run `sinfo`: {e}"),
        Ok(out) if !out.status.success() => format!(
            "`sinfo` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            // Busy nodes count (other tests hold some); down, drained or silent ones do not.
            let usable = text
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1))
                .filter(|s| {
                    !s.ends_with('*')
                        && !["down", "drain", "fail", "unk"]
                            .iter()
                            .any(|b| s.starts_with(b))
                })
                .count();
            if usable >= NODES {
                return;
            }
            format!(
                "{usable} usable node(s), {NODES} needed: {}",
                text.trim().replace('\n', ", ")
            )
        }
    };
    panic!(
        "Slurm is not reachable ({reason}): start the test cluster with `cargo xtask slurm up` (as root), then run `cargo xtask test`"
    );
}

/// The agent program this crate builds.
pub fn agent() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_process-pool-agent"))
}

/// A Slurm job name no other test uses.
pub fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    format!(
        "pp-test-{}-{tag}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The ids of the jobs named `name` that Slurm still has (pending, running, completing).
pub fn slurm_jobs(name: &str) -> Vec<String> {
    let out = Command::new("squeue")
        .args(["-h", "-n", name, "-o", "%i %T"])
        .stdin(Stdio::null())
        .output()
        .expect("squeue runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The processes (on every node: they share this machine) whose environment holds
/// `SLURM_JOB_NAME=name`: the agents, and the jobs they started.
pub fn processes_of(name: &str) -> Vec<u32> {
    let needle = format!("SLURM_JOB_NAME={name}\0");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let live = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| Some(s.rsplit_once(')')?.1.split_whitespace().next()? != "Z"))
                .unwrap_or(false);
            live && std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .collect()
}

/// Waits (polling, up to `bound`) until `done` holds; fails with `what` and the last value.
pub fn wait_until<T: std::fmt::Debug>(
    bound: Duration,
    what: &str,
    mut probe: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let value = probe();
        if done(&value) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < bound,
            "{what}: still {value:?} after {bound:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Fails unless, within a few seconds, nothing of the jobs named `name` is left: no process
/// on any node, no job in Slurm's queue.
pub fn assert_nothing_left(name: &str) {
    wait_until(
        Duration::from_secs(15),
        "processes left",
        || processes_of(name),
        Vec::is_empty,
    );
    wait_until(
        Duration::from_secs(15),
        "Slurm jobs left",
        || slurm_jobs(name),
        Vec::is_empty,
    );
}

/// Where `cargo xtask slurm up` keeps the daemons' pid files.
pub const RUN_DIR: &str = "/run/process-pool-slurm";

/// The value of `key` in the environment of `pid`.
pub fn env_of(pid: u32, key: &str) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{key}=");
    env.split(|&b| b == 0).find_map(|v| {
        v.strip_prefix(prefix.as_bytes())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    })
}

/// The pids of the agents of the pool named `name`.
pub fn agents_of(name: &str) -> Vec<u32> {
    let agent = agent().canonicalize().expect("the agent exists");
    processes_of(name)
        .into_iter()
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e == agent))
        .collect()
}

/// The state of `node` as `sinfo` shows it (`idle`, `mix*`, `down*`...).
pub fn node_state(node: &str) -> String {
    let out = Command::new("sinfo")
        .args(["-h", "-n", node, "-o", "%t"])
        .output()
        .expect("sinfo runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A node's `slurmd`, stopped; started again when dropped (a failed check included), which
/// ends what Slurm no longer counts as running there, and waited for until the node takes
/// work again: the cluster is left as it was.
pub struct StoppedSlurmd {
    node: String,
}

impl StoppedSlurmd {
    pub fn stop(node: &str) -> StoppedSlurmd {
        let pid_file = Path::new(RUN_DIR).join(format!("slurmd-{node}.pid"));
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .expect("the slurmd pid file of `cargo xtask slurm up`")
            .trim()
            .parse()
            .expect("a pid");
        let pid = rustix::process::Pid::from_raw(pid).expect("a pid");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("stopped");
        wait_until(
            Duration::from_secs(15),
            "the slurmd to exit",
            || rustix::process::test_kill_process(pid).is_ok(),
            |alive| !alive,
        );
        StoppedSlurmd {
            node: node.to_owned(),
        }
    }
}

impl Drop for StoppedSlurmd {
    fn drop(&mut self) {
        let status = Command::new("/usr/sbin/slurmd")
            .args(["-N", &self.node])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status();
        assert!(status.is_ok_and(|s| s.success()), "slurmd restarts");
        wait_until(
            HANG,
            "the node to take work again",
            || node_state(&self.node),
            |s| ["idle", "mix", "alloc"].contains(&s.as_str()),
        );
    }
}
