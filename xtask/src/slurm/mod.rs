//! `cargo xtask slurm up|down|status [--nodes N]`: a real Slurm cluster on this machine, for the
//! tests of `process-pool-slurm` and for trying it out.
//!
//! Debian builds Slurm with `MULTIPLE_SLURMD`, so one host can run several nodes: `n1..nN`,
//! each its own `slurmd -N nI` on ports 17001.., all on 127.0.0.1. The daemons are started by
//! hand (no systemd needed, as in a container): `munged`, `slurmctld`, then the `slurmd`s.
//! Everything is ours and marked so: the configuration carries [`MARK`], the pid files live in
//! [`RUN_DIR`], and `down` stops only what `up` started.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

mod config;
mod daemons;
mod host;
mod nodes;

use self::config::*;
use self::daemons::*;
use self::host::*;
use self::nodes::*;
pub(crate) use self::nodes::{node_states, node_usable};

/// Where the pid files of the daemons we start live.
const RUN_DIR: &str = "/run/process-pool-slurm";
/// The configuration every Slurm command reads.
const CONF: &str = "/etc/slurm/slurm.conf";
/// The first line of a configuration written here.
const MARK: &str =
    "# Written by `cargo xtask slurm up` (process-pool); `down` stops what it started.";
/// Controller and node state.
const SPOOL: &str = "/var/spool/process-pool-slurm";
/// Daemon logs.
const LOG_DIR: &str = "/var/log/process-pool-slurm";
const MUNGE_KEY: &str = "/etc/munge/munge.key";
/// Debian's packages: the daemons and the commands (srun, salloc, sbatch, squeue, scancel...).
const PACKAGES: [&str; 4] = ["munge", "slurmctld", "slurmd", "slurm-client"];
/// The first node's port; node `nI` listens on `FIRST_PORT + I - 1`.
const FIRST_PORT: u16 = 17001;
/// The nodes `up` starts unless told otherwise (the tests want 3).
const DEFAULT_NODES: u32 = 3;
/// How long a daemon has to come up.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(60);

const USAGE: &str = "usage: cargo xtask slurm up [--nodes N] [--force] | down | status";

/// Runs `cargo xtask slurm <command>`.
pub(crate) fn slurm(args: &[String]) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        bail!("{USAGE}");
    };
    let mut nodes = DEFAULT_NODES;
    let mut force = false;
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--nodes" | "-N" if command == "up" => {
                let value = rest.next().context("--nodes needs a number")?;
                nodes = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .with_context(|| format!("--nodes takes 1 to 64, got `{value}`"))?;
            }
            "--force" if command == "up" => force = true,
            other => bail!("unexpected argument `{other}`; {USAGE}"),
        }
    }
    match command.as_str() {
        "up" => up(nodes, force),
        "down" => down(),
        "status" => status(),
        other => bail!("unknown slurm command `{other}`; {USAGE}"),
    }
}

/// For `cargo xtask test`: a Slurm of at least [`DEFAULT_NODES`] usable nodes for the tests of
/// `process-pool-slurm`. One that answers already is used as it is; otherwise, as root, ours
/// is started (`up`); without root, one line says that the Slurm tests will fail and how to
/// start it, and the tests run all the same.
pub(crate) fn ensure_up() -> Result<()> {
    let usable = node_states()
        .iter()
        .filter(|(_, state)| node_usable(state))
        .count();
    if usable >= DEFAULT_NODES as usize {
        eprintln!("==> Slurm answers with {usable} usable node(s): the Slurm tests use it");
        return Ok(());
    }
    if rustix::process::geteuid().is_root() {
        eprintln!("==> Slurm: starting {DEFAULT_NODES} nodes on this machine for the Slurm tests");
        return up(DEFAULT_NODES, false);
    }
    eprintln!(
        "==> no Slurm of {DEFAULT_NODES} usable nodes answers and this is not root: the Slurm \
         tests will fail, each with one line; start one with \
         `sudo -E env PATH=$PATH cargo xtask slurm up`"
    );
    Ok(())
}

fn up(nodes: u32, force: bool) -> Result<()> {
    let started = Instant::now();
    require_root("up")?;
    install()?;
    let host = prepare_host()?;
    let changed = write_config(&host, nodes, force)?;
    start_munged()?;
    if changed {
        // A new node list or new settings: start the controller and the nodes afresh, with
        // no state from the old configuration.
        // Job ids start again at 1: a node's saved state (revoked credentials) must go too.
        stop_slurm_daemons();
        let _ = std::fs::remove_dir_all(SPOOL);
        prepare_dirs(nodes)?;
    }
    start_slurmctld()?;
    stop_nodes_above(nodes);
    let launched = start_slurmds(nodes)?;
    wait_for_nodes(nodes, !launched.is_empty() || changed)?;
    if !launched.is_empty() || changed {
        smoke(nodes)?;
    }
    let summary =
        run_ok(Command::new("sinfo").args(["-h", "-o", "%P %a %D %t %N"])).unwrap_or_default();
    eprintln!(
        "==> Slurm is up in {:.1} s: {nodes} node(s), partition {}",
        started.elapsed().as_secs_f64(),
        summary.trim()
    );
    Ok(())
}

fn down() -> Result<()> {
    require_root("down")?;
    if controller_up() && daemon_alive(&Path::new(RUN_DIR).join("slurmctld.pid"), "slurmctld") {
        cancel_all_jobs();
    }
    stop_slurm_daemons();
    stop_daemon(&Path::new(RUN_DIR).join("munged.pid"), "munged");
    eprintln!("==> Slurm is down");
    Ok(())
}

/// Cancels every job and waits (up to 30 s) until none is left.
fn cancel_all_jobs() {
    let jobs = run_ok(Command::new("squeue").args(["-h", "-o", "%A"])).unwrap_or_default();
    let ids: Vec<&str> = jobs.split_whitespace().collect();
    if ids.is_empty() {
        return;
    }
    eprintln!("==> cancelling jobs {}", ids.join(" "));
    let _ = run_ok(Command::new("scancel").args(&ids));
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline
        && run_ok(Command::new("squeue").args(["-h", "-o", "%A"]))
            .is_some_and(|s| !s.trim().is_empty())
    {
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Stops the `slurmd`s and the `slurmctld` this task started.
fn stop_slurm_daemons() {
    for (_, pid_file) in slurmd_pid_files() {
        stop_daemon(&pid_file, "slurmd");
    }
    stop_daemon(&Path::new(RUN_DIR).join("slurmctld.pid"), "slurmctld");
}

fn status() -> Result<()> {
    let mut all_up = true;
    let mut line = |name: &str, pid_file: &Path, exe: &str| {
        let alive = daemon_alive(pid_file, exe);
        all_up &= alive;
        match read_pid(pid_file) {
            Some(pid) if alive => println!("{name}: running (pid {pid})"),
            _ => println!("{name}: not running"),
        }
    };
    let run = Path::new(RUN_DIR);
    if run.join("munged.pid").exists() {
        line("munged", &run.join("munged.pid"), "munged");
    } else {
        println!(
            "munged: {}",
            if munge_works() {
                "running (not started here)"
            } else {
                "not running"
            }
        );
    }
    line("slurmctld", &run.join("slurmctld.pid"), "slurmctld");
    let slurmds = slurmd_pid_files();
    for (node, pid_file) in &slurmds {
        line(&format!("slurmd {node}"), pid_file, "slurmd");
    }
    if slurmds.is_empty() {
        println!("slurmd: none");
        all_up = false;
    }
    // Without a controller sinfo would wait seconds for it.
    if controller_up()
        && let Some(table) = run_ok(Command::new("sinfo").args(["-N", "-o", "%N %P %t %c %m"]))
    {
        print!("{table}");
    }
    // What matters to its users: a controller that answers and nodes that take work (a
    // user who is not root cannot see the daemons' executables).
    let states = if controller_up() {
        node_states()
    } else {
        Vec::new()
    };
    let usable = !states.is_empty() && states.iter().all(|(_, s)| node_usable(s));
    if !(usable && (all_up || !rustix::process::geteuid().is_root())) {
        bail!("Slurm is not up: run `cargo xtask slurm up` (as root)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_describes_n_nodes_on_consecutive_ports() {
        let text = config("vm", 3, 2, 9000);
        assert!(text.starts_with(MARK));
        assert!(text.contains("NodeName=n[1-3] NodeHostname=vm NodeAddr=127.0.0.1 Port=[17001-17003] CPUs=2 RealMemory=3000"));
        assert!(text.contains("Epilog=/bin/true"));
        assert!(text.contains("SchedulerParameters=batch_sched_delay=0"));
        assert!(text.contains("SlurmdTimeout=30"));
        assert!(text.contains("SlurmctldHost=vm(127.0.0.1)"));
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(slurm(&[]).is_err());
        assert!(slurm(&["sideways".to_owned()]).is_err());
        let bad = ["up", "--nodes", "0"].map(str::to_owned);
        assert!(slurm(&bad).unwrap_err().to_string().contains("1 to 64"));
        let bad = ["status", "--nodes", "2"].map(str::to_owned);
        assert!(slurm(&bad).is_err());
    }

    #[test]
    fn usable_states() {
        assert!(node_usable("idle"));
        assert!(node_usable("mix"));
        assert!(!node_usable("idle*"));
        assert!(!node_usable("down*"));
        assert!(!node_usable("drain"));
    }
}
