//! The WASI peers on the same jobs as our WASI pool: `xargs -P 2 wasmtime run` when a
//! `wasmtime` CLI is on the PATH or in `target/tools/bin`, and what a Python user writes in-process (PyPI `wasmtime`:
//! compile once, instantiate per job), installed by this task into a virtual environment under
//! `target/peers/` when `python3` is present. Each is skipped with a line saying why otherwise.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::{compare, tools};

/// The Python loop, run as `python py_wasi.py MODULE JOBS`; prints microseconds per job.
const PY_WASI: &str = include_str!("peers/py_wasi.py");

/// How many times cheaper per job our pool must be: (peer, target).
const TARGETS: [(&str, f64); 2] = [("wasmtime CLI", 300.0), ("Python wasmtime", 10.0)];

/// One peer's cost per job, or why it was not measured.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Peer {
    pub(crate) name: &'static str,
    pub(crate) how: String,
    pub(crate) us_per_job: Result<f64, String>,
}

/// Measures both peers on `module` (the `hello` guest), `jobs` jobs each.
pub(crate) fn measure(target: &Path, module: &Path, jobs: usize) -> Vec<Peer> {
    vec![
        wasmtime_cli(target, module, jobs),
        python(target, module, jobs),
    ]
}

fn wasmtime_cli(target: &Path, module: &Path, jobs: usize) -> Peer {
    let how = format!(
        "xargs -P 2 -n 1 wasmtime run {} (× {jobs})",
        module.display()
    );
    let us_per_job = (|| {
        let Some(wasmtime) = tools::find("wasmtime", target) else {
            return Err(
                "no `wasmtime` on the PATH or in target/tools (`cargo xtask tools`): skipped"
                    .to_owned(),
            );
        };
        let input = target.join("peers/lines");
        let lines: String = (0..jobs).map(|i| format!("{i}\n")).collect();
        std::fs::create_dir_all(target.join("peers")).map_err(|e| e.to_string())?;
        std::fs::write(&input, lines).map_err(|e| e.to_string())?;
        let module = crate::cmd::quote(&module.to_string_lossy());
        let wasmtime = crate::cmd::quote(&wasmtime.to_string_lossy());
        let command = format!("xargs -P 2 -n 1 {wasmtime} run {module}");
        let (_, median) = compare::time(&command, &input, 3).map_err(|e| format!("{e:#}"))?;
        Ok(median * 1e3 / jobs as f64)
    })();
    Peer {
        name: "wasmtime CLI",
        how,
        us_per_job,
    }
}

fn python(target: &Path, module: &Path, jobs: usize) -> Peer {
    let how = "PyPI wasmtime in one Python process: compile once, a store and instance per job"
        .to_owned();
    let us_per_job = (|| {
        let python = tools::python_with(target, "wasmtime", "wasmtime")?;
        let module = module.to_string_lossy();
        tools::run_python(
            &python,
            target,
            "py_wasi.py",
            PY_WASI,
            &[&module, &jobs.to_string()],
        )
    })();
    Peer {
        name: "Python wasmtime",
        how,
        us_per_job,
    }
}

/// The Markdown section: each peer against our pool's `hello` at 2 workers (`ours`, µs/job).
pub(crate) fn markdown(peers: &[Peer], ours: Option<f64>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n## WASI peers\n");
    let ours_text = ours.map_or_else(|| "not run".to_owned(), |us| format!("{us:.1} µs/job"));
    let _ = writeln!(
        out,
        "The `hello` guest (WASIp1) run by each peer, against our WASI pool at 2 workers \
         (`wasi_instantiate/pool_hello_p1/2`: {ours_text}).\n"
    );
    let _ = writeln!(
        out,
        "| Peer | How | Per job | Ours is cheaper by | Target | Result |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|---|---|");
    for peer in peers {
        let target = TARGETS
            .iter()
            .find(|(name, _)| *name == peer.name)
            .map_or(0.0, |(_, t)| *t);
        let (per_job, ratio, result) = match (&peer.us_per_job, ours) {
            (Ok(us), Some(o)) => {
                let ratio = us / o;
                let result = if ratio >= target { "PASS" } else { "MISS" };
                (format!("{us:.1} µs"), format!("{ratio:.0}×"), result)
            }
            (Ok(us), None) => (format!("{us:.1} µs"), "—".to_owned(), "not run"),
            (Err(why), _) => (why.clone(), "—".to_owned(), "not run"),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {per_job} | {ratio} | ≥ {target:.0}× | {result} |",
            peer.name, peer.how
        );
    }
    out
}

/// The same as JSON.
pub(crate) fn json(peers: &[Peer]) -> Value {
    Value::Array(
        peers
            .iter()
            .map(|p| {
                json!({
                    "peer": p.name,
                    "how": p.how,
                    "us_per_job": p.us_per_job.as_ref().ok(),
                    "skipped": p.us_per_job.as_ref().err(),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_each_peer_with_our_pool() {
        let peers = [
            Peer {
                name: "wasmtime CLI",
                how: "cli".into(),
                us_per_job: Err("no `wasmtime` on the PATH: skipped".into()),
            },
            Peer {
                name: "Python wasmtime",
                how: "py".into(),
                us_per_job: Ok(130.0),
            },
        ];
        let md = markdown(&peers, Some(5.0));
        assert!(
            md.contains("| Python wasmtime | py | 130.0 µs | 26× | ≥ 10× | PASS |"),
            "{md}"
        );
        assert!(md.contains("| wasmtime CLI | cli | no `wasmtime` on the PATH: skipped | — |"));
        let md = markdown(&peers, Some(20.0));
        assert!(md.contains("| 6× | ≥ 10× | MISS |"), "{md}");
        assert_eq!(json(&peers)[1]["us_per_job"], 130.0);
    }
}
