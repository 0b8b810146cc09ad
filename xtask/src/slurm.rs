//! `cargo xtask slurm up|down|status [--nodes N]`: a real Slurm cluster on this machine, for the
//! tests of `process-pool-slurm` and for trying it out.
//!
//! Debian builds Slurm with `MULTIPLE_SLURMD`, so one host can run several nodes: `n1..nN`,
//! each its own `slurmd -N nI` on ports 17001.., all on 127.0.0.1. The daemons are started by
//! hand (no systemd needed, as in a container): `munged`, `slurmctld`, then the `slurmd`s.
//! Everything is ours and marked so: the configuration carries [`MARK`], the pid files live in
//! [`RUN_DIR`], and `down` stops only what `up` started.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

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

// ------------------------------------------------------------------------------------- up

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

/// Fails with one line that says why and how, unless this runs as root.
fn require_root(what: &str) -> Result<()> {
    if !rustix::process::geteuid().is_root() {
        bail!(
            "`cargo xtask slurm {what}` needs root (it installs Debian packages and starts the \
             Slurm daemons): run it as root, e.g. `sudo -E env PATH=$PATH cargo xtask slurm {what}`"
        );
    }
    Ok(())
}

/// Installs the packages that are missing, keeping their scripts from starting any service.
fn install() -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|p| !package_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if which("apt-get").is_none() {
        bail!(
            "Slurm is not installed and there is no apt-get to install it: install {} \
             (Slurm 22.05 or later, built with MULTIPLE_SLURMD) and run `cargo xtask slurm up` again",
            missing.join(", ")
        );
    }
    eprintln!("==> installing {} (about 45 s)", missing.join(" "));
    let _policy = NoServiceStarts::install()?;
    let log = crate::target_dir().join("slurm-apt.log");
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let apt = |args: &[&str]| -> Result<()> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .status()
            .context("cannot run apt-get")?;
        if !status.success() {
            bail!(
                "`apt-get {}` failed ({status}); see {}",
                args.join(" "),
                log.display()
            );
        }
        Ok(())
    };
    apt(&["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&missing);
    apt(&args)
}

fn package_installed(name: &str) -> bool {
    run_ok(Command::new("dpkg-query").args(["-W", "-f=${Status}", name]))
        .is_some_and(|s| s.contains("install ok installed"))
}

/// A `policy-rc.d` that forbids package scripts to start services, removed when dropped (only
/// if it was ours).
struct NoServiceStarts(Option<PathBuf>);

impl NoServiceStarts {
    fn install() -> Result<Self> {
        let path = Path::new("/usr/sbin/policy-rc.d");
        if path.exists() {
            return Ok(Self(None));
        }
        std::fs::write(
            path,
            "#!/bin/sh\n# cargo xtask slurm up: start no service\nexit 101\n",
        )?;
        set_mode(path, 0o755)?;
        Ok(Self(Some(path.to_owned())))
    }
}

impl Drop for NoServiceStarts {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The user, the host name, the directories and the MUNGE key the daemons need. Returns the
/// host's short name.
fn prepare_host() -> Result<String> {
    if !user_exists("slurm") {
        run_checked(Command::new("useradd").args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "slurm",
        ]))?;
    }
    if !user_exists("munge") {
        bail!("the user `munge` is missing: is the munge package broken?");
    }
    let host = run_ok(Command::new("hostname").arg("-s"))
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .context("cannot read this host's name (`hostname -s`)")?;
    // slurmd finds itself by the host's short name: it must resolve.
    if run_ok(Command::new("getent").args(["hosts", &host])).is_none() {
        eprintln!("==> {host} does not resolve: adding it to /etc/hosts");
        let mut hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        if !hosts.ends_with('\n') && !hosts.is_empty() {
            hosts.push('\n');
        }
        let _ = writeln!(hosts, "127.0.0.1 {host} # cargo xtask slurm up");
        std::fs::write("/etc/hosts", hosts).context("cannot write /etc/hosts")?;
    }
    for dir in ["/run/munge", "/etc/munge", RUN_DIR, "/etc/slurm"] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {dir}"))?;
    }
    run_checked(Command::new("chown").args(["munge:munge", "/run/munge", "/etc/munge"]))?;
    set_mode(Path::new("/run/munge"), 0o755)?;
    set_mode(Path::new("/etc/munge"), 0o700)?;
    if std::fs::metadata(MUNGE_KEY).map_or(true, |m| m.len() == 0) {
        run_checked(Command::new("mungekey").args([
            "--create",
            "--force",
            "--keyfile",
            MUNGE_KEY,
        ]))?;
    }
    run_checked(Command::new("chown").args(["munge:munge", MUNGE_KEY]))?;
    set_mode(Path::new(MUNGE_KEY), 0o600)?;
    Ok(host)
}

/// The state and log directories of the controller and of nodes `n1..n{nodes}`.
fn prepare_dirs(nodes: u32) -> Result<()> {
    let ctld = Path::new(SPOOL).join("ctld");
    for dir in [ctld.as_path(), Path::new(LOG_DIR)] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        run_checked(Command::new("chown").arg("slurm:slurm").arg(dir))?;
    }
    for i in 1..=nodes {
        let dir = Path::new(SPOOL).join(format!("d-n{i}"));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    Ok(())
}

/// The configuration for `nodes` nodes on this host.
fn config(host: &str, nodes: u32, cpus: u32, memory_mb: u64) -> String {
    let last_port = FIRST_PORT + u16::try_from(nodes - 1).unwrap_or(0);
    let memory = memory_mb / u64::from(nodes);
    format!(
        "{MARK}
ClusterName=process-pool
SlurmctldHost={host}(127.0.0.1)
SlurmUser=slurm
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={SPOOL}/ctld
SlurmdSpoolDir={SPOOL}/d-%n
SlurmctldPidFile={RUN_DIR}/slurmctld.pid
SlurmdPidFile={RUN_DIR}/slurmd-%n.pid
SlurmctldLogFile={LOG_DIR}/slurmctld.log
SlurmdLogFile={LOG_DIR}/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# Back-to-back jobs wait 1-3 s each without these two: a job submitted while the previous one
# is completing waits for the next scheduler pass; an epilog makes slurmd report the end at
# once, which starts a pass.
Epilog=/bin/true
SchedulerParameters=batch_sched_delay=0
# A stopped job gets SIGKILL 2 s after SIGTERM (the default, 30 s, slows the fault tests).
KillWait=2
# A node whose slurmd stops is marked not responding after a missed ping (every third of
# this) and down after this long (the default, 300 s, slows the fault tests).
SlurmdTimeout=30
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=n[1-{nodes}] NodeHostname={host} NodeAddr=127.0.0.1 Port=[{FIRST_PORT}-{last_port}] CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"
    )
}

/// Writes the configuration if it differs; returns whether it did.
fn write_config(host: &str, nodes: u32, force: bool) -> Result<bool> {
    // Each node gets the host's CPUs, and a share of 90% of its memory, so that no node ever
    // registers with less than configured.
    let hardware = run_ok(Command::new("slurmd").arg("-C")).unwrap_or_default();
    let field = |name: &str| -> Option<u64> {
        let start = hardware.find(&format!(" {name}="))? + name.len() + 2;
        hardware[start..].split_whitespace().next()?.parse().ok()
    };
    let cpus = field("CPUs")
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    let memory = field("RealMemory").unwrap_or(1024) * 9 / 10;
    let wanted = config(host, nodes, cpus, memory);
    let current = std::fs::read_to_string(CONF).ok();
    if let Some(current) = &current {
        if current == &wanted {
            return Ok(false);
        }
        if !current.starts_with(MARK) && !force {
            bail!(
                "{CONF} exists and was not written by `cargo xtask slurm up`: move it away, or \
                 run `cargo xtask slurm up --force` to replace it"
            );
        }
    }
    std::fs::write(CONF, wanted).with_context(|| format!("cannot write {CONF}"))?;
    set_mode(Path::new(CONF), 0o644)?;
    prepare_dirs(nodes)?;
    eprintln!("==> wrote {CONF} ({nodes} node(s) of {cpus} CPUs)");
    Ok(true)
}

fn munge_works() -> bool {
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

fn start_munged() -> Result<()> {
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

fn controller_up() -> bool {
    run_ok(Command::new("scontrol").arg("ping")).is_some_and(|out| out.contains("is UP"))
}

fn start_slurmctld() -> Result<()> {
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
fn start_slurmds(nodes: u32) -> Result<Vec<String>> {
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
fn stop_nodes_above(nodes: u32) {
    for (node, pid_file) in slurmd_pid_files() {
        let index: u32 = node.trim_start_matches('n').parse().unwrap_or(0);
        if index > nodes {
            stop_daemon(&pid_file, "slurmd");
        }
    }
}

/// Waits until every node is up and idle (or busy); nodes left down or drained by an earlier
/// unclean stop are resumed.
fn wait_for_nodes(nodes: u32, fresh: bool) -> Result<()> {
    let deadline = Instant::now() + DAEMON_TIMEOUT;
    let mut resumed = false;
    let started = Instant::now();
    loop {
        let states = node_states();
        let ready = (1..=nodes).all(|i| {
            states
                .iter()
                .any(|(n, s)| *n == format!("n{i}") && node_usable(s))
        });
        if ready && (!fresh || states.len() >= nodes as usize) {
            return Ok(());
        }
        if !resumed && started.elapsed() > Duration::from_secs(3) {
            for (node, state) in &states {
                if state.starts_with("down") || state.starts_with("drain") {
                    let _ = run_ok(Command::new("scontrol").args([
                        "update",
                        &format!("nodename={node}"),
                        "state=resume",
                    ]));
                }
            }
            resumed = true;
        }
        if Instant::now() > deadline {
            bail!(
                "the nodes did not come up within {DAEMON_TIMEOUT:?}: {states:?}; see {LOG_DIR}/slurmd-n*.log"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Each node's name and state, as `sinfo` shows them (`idle`, `mix`, `alloc`, `down*`...).
pub(crate) fn node_states() -> Vec<(String, String)> {
    run_ok(Command::new("sinfo").args(["-h", "-N", "-o", "%N %t"]))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (node, state) = line.split_once(' ')?;
            Some((node.to_owned(), state.trim().to_owned()))
        })
        .collect()
}

/// Whether a node in this state takes work: up and responding (no `*`), not drained.
pub(crate) fn node_usable(state: &str) -> bool {
    matches!(state, "idle" | "mix" | "alloc" | "comp")
}

/// One task on each node, as a last check that jobs start.
fn smoke(nodes: u32) -> Result<()> {
    let output = Command::new("timeout")
        .args([
            "60",
            "srun",
            "-N",
            &nodes.to_string(),
            "--ntasks-per-node=1",
        ])
        .args([
            "--job-name=xtask-slurm-smoke",
            "printenv",
            "SLURMD_NODENAME",
        ])
        .stdin(Stdio::null())
        .output()
        .context("cannot run srun")?;
    let mut seen: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    seen.sort();
    let expected: Vec<String> = (1..=nodes).map(|i| format!("n{i}")).collect();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    if !output.status.success() || seen != expected_sorted {
        bail!(
            "smoke test `srun -N{nodes} --ntasks-per-node=1 printenv SLURMD_NODENAME` failed \
             ({}; ran on {seen:?}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

// ----------------------------------------------------------------------------------- down

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

// --------------------------------------------------------------------------------- status

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

// -------------------------------------------------------------------------------- helpers

fn slurmd_pid_file(node: &str) -> PathBuf {
    Path::new(RUN_DIR).join(format!("slurmd-{node}.pid"))
}

/// The nodes with a pid file in [`RUN_DIR`], sorted by number.
fn slurmd_pid_files() -> Vec<(String, PathBuf)> {
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

fn read_pid(pid_file: &Path) -> Option<i32> {
    std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

/// Whether the pid file names a live process running `/usr/sbin/<exe>` (not a zombie, whose
/// `exe` link is gone, nor a recycled pid).
fn daemon_alive(pid_file: &Path, exe: &str) -> bool {
    // Debian installs `/usr/sbin/slurmctld` as a link to `slurmctld-wlm`: compare real paths.
    let Ok(expected) = std::fs::canonicalize(Path::new("/usr/sbin").join(exe)) else {
        return false;
    };
    read_pid(pid_file).is_some_and(|pid| {
        std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|path| path == expected)
    })
}

/// SIGTERM, up to 10 s to exit, then SIGKILL; removes the pid file.
fn stop_daemon(pid_file: &Path, exe: &str) {
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
fn run_daemon(command: &mut Command, log: &Path) -> Result<()> {
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

fn wait_until(what: &str, ready: impl Fn() -> bool) -> Result<()> {
    let deadline = Instant::now() + DAEMON_TIMEOUT;
    while !ready() {
        if Instant::now() > deadline {
            bail!("{what} did not come up within {DAEMON_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn user_exists(name: &str) -> bool {
    run_ok(Command::new("getent").args(["passwd", name])).is_some()
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))
}

fn which(program: &str) -> Option<PathBuf> {
    crate::tools::find(program, &crate::target_dir())
}

/// The command's stdout if it ran and succeeded.
fn run_ok(command: &mut Command) -> Option<String> {
    let output: Output = command.stdin(Stdio::null()).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs the command, failing with its stderr if it fails.
fn run_checked(command: &mut Command) -> Result<()> {
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
