//! The nodes as Slurm sees them: waiting for them to take work, their states, a smoke test.

use anyhow::{Context, Result, bail};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// Waits until every node is up and idle (or busy); nodes left down or drained by an earlier
/// unclean stop are resumed.
pub(super) fn wait_for_nodes(nodes: u32, fresh: bool) -> Result<()> {
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
pub(super) fn smoke(nodes: u32) -> Result<()> {
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
