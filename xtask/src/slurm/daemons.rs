//! The daemons `up` starts and `down` stops: `munged`, `slurmctld` and one `slurmd` per node, by
//! pid file, and the commands run on the way.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::*;

pub(super) fn munge_works() -> bool {
    let Ok(mut credential) = Command::new("munge")
        .arg("-n")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let Some(stdout) = credential.stdout.take() else {
        return false;
    };
    let decoded = Command::new("unmunge")
        .stdin(stdout)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = credential.wait();
    decoded.is_ok_and(|s| s.success())
}

pub(super) fn start_munged() -> Result<()> {
    if munge_works() {
        return Ok(());
    }
    run_checked(Command::new("start-stop-daemon").args([
        "--start",
        "--quiet",
        "--chuid",
        "munge:munge",
        "--pidfile",
        "/run/munge/munged.pid",
        "--exec",
        "/usr/sbin/munged",
    ]))?;
    wait_until("munged", munge_works)?;
    // Remembered as ours, so that `down` stops it.
    std::fs::copy(
        "/run/munge/munged.pid",
        Path::new(RUN_DIR).join("munged.pid"),
    )?;
    Ok(())
}

pub(super) fn controller_up() -> bool {
    run_ok(Command::new("scontrol").arg("ping")).is_some_and(|out| out.contains("is UP"))
}

pub(super) fn start_slurmctld() -> Result<()> {
    let pid_file = Path::new(RUN_DIR).join("slurmctld.pid");
    if !daemon_alive(&pid_file, "slurmctld") {
        if controller_up() {
            bail!(
                "a slurmctld not started by `cargo xtask slurm up` answers on this host: stop it first"
            );
        }
        // It daemonizes: the command returns once it has forked.
        let log = Path::new(LOG_DIR).join("slurmctld.stderr");
        run_daemon(&mut Command::new("/usr/sbin/slurmctld"), &log)?;
    }
    wait_until("slurmctld", controller_up).map_err(|e| {
        e.context(format!(
            "see {}",
            Path::new(LOG_DIR).join("slurmctld.log").display()
        ))
    })
}

/// Starts the `slurmd` of each node that is not running; returns the nodes it started.
pub(super) fn start_slurmds(nodes: u32) -> Result<Vec<String>> {
    let mut launched = Vec::new();
    for i in 1..=nodes {
        let node = format!("n{i}");
        if daemon_alive(&slurmd_pid_file(&node), "slurmd") {
            continue;
        }
        let log = Path::new(LOG_DIR).join(format!("slurmd-{node}.stderr"));
        let mut command = Command::new("/usr/sbin/slurmd");
        command.args(["-N", &node]);
        run_daemon(&mut command, &log)?;
        launched.push(node);
    }
    Ok(launched)
}

/// Stops the `slurmd`s of nodes past `nodes`, left from an `up` with more.
pub(super) fn stop_nodes_above(nodes: u32) {
    for (node, pid_file) in slurmd_pid_files() {
        let index: u32 = node.trim_start_matches('n').parse().unwrap_or(0);
        if index > nodes {
            stop_daemon(&pid_file, "slurmd");
        }
    }
}

pub(super) fn slurmd_pid_file(node: &str) -> PathBuf {
    Path::new(RUN_DIR).join(format!("slurmd-{node}.pid"))
}

/// The nodes with a pid file in [`RUN_DIR`], sorted by number.
pub(super) fn slurmd_pid_files() -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(RUN_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let node = name
                .strip_prefix("slurmd-")?
                .strip_suffix(".pid")?
                .to_owned();
            Some((node, entry.path()))
        })
        .collect();
    found.sort_by_key(|(node, _)| node.trim_start_matches('n').parse::<u32>().unwrap_or(0));
    found
}

pub(super) fn read_pid(pid_file: &Path) -> Option<i32> {
    std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

/// Whether the pid file names a live process running `/usr/sbin/<exe>` (not a zombie, whose
/// `exe` link is gone, nor a recycled pid).
pub(super) fn daemon_alive(pid_file: &Path, exe: &str) -> bool {
    // Debian installs `/usr/sbin/slurmctld` as a link to `slurmctld-wlm`: compare real paths.
    let Ok(expected) = std::fs::canonicalize(Path::new("/usr/sbin").join(exe)) else {
        return false;
    };
    read_pid(pid_file).is_some_and(|pid| {
        std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|path| path == expected)
    })
}

/// SIGTERM, up to 10 s to exit, then SIGKILL; removes the pid file.
pub(super) fn stop_daemon(pid_file: &Path, exe: &str) {
    if daemon_alive(pid_file, exe)
        && let Some(pid) = read_pid(pid_file).and_then(rustix::process::Pid::from_raw)
    {
        let name = pid_file
            .file_stem()
            .map_or_else(|| exe.to_owned(), |s| s.to_string_lossy().into_owned());
        eprintln!("==> stopping {name} (pid {})", pid.as_raw_nonzero());
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while daemon_alive(pid_file, exe) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if daemon_alive(pid_file, exe) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
    let _ = std::fs::remove_file(pid_file);
}

/// Runs a daemon that forks itself into the background, its early errors appended to `log`.
pub(super) fn run_daemon(command: &mut Command, log: &Path) -> Result<()> {
    let errors = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(errors)
        .status()
        .with_context(|| format!("cannot start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status}); see {}", log.display());
    }
    Ok(())
}

pub(super) fn wait_until(what: &str, ready: impl Fn() -> bool) -> Result<()> {
    let deadline = Instant::now() + DAEMON_TIMEOUT;
    while !ready() {
        if Instant::now() > deadline {
            bail!("{what} did not come up within {DAEMON_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The command's stdout if it ran and succeeded.
pub(super) fn run_ok(command: &mut Command) -> Option<String> {
    let output: Output = command.stdin(Stdio::null()).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs the command, failing with its stderr if it fails.
pub(super) fn run_checked(command: &mut Command) -> Result<()> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
