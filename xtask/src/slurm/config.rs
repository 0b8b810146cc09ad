//! The cluster's `slurm.conf`: written by `up` for N nodes on this host, and only if it differs.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

use super::*;

/// The configuration for `nodes` nodes on this host.
pub(super) fn config(host: &str, nodes: u32, cpus: u32, memory_mb: u64) -> String {
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
pub(super) fn write_config(host: &str, nodes: u32, force: bool) -> Result<bool> {
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
