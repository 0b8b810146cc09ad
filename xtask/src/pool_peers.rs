//! The peers of warm worker pools measured outside criterion: Python's `ProcessPoolExecutor`
//! (2 processes, one `submit` per task of a trivial function), against our pool's echo
//! throughput at 2 workers. procspawn, the Rust peer, is in the criterion benchmark itself.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::tools;

/// The Python script, run as `python3 py_pool.py TASKS`; prints microseconds per task.
const PY_POOL: &str = include_str!("peers/py_pool.py");
/// How many times more throughput our pool must have.
const TARGET: f64 = 5.0;

/// `ProcessPoolExecutor`'s cost per task in µs, or why it was not measured.
pub(crate) fn measure(target: &Path, tasks: usize) -> Result<f64, String> {
    let python = tools::find("python3", target).ok_or("no `python3`: skipped")?;
    tools::run_python(
        &python,
        target,
        "py_pool.py",
        PY_POOL,
        &[&tasks.to_string()],
    )
}

/// The Markdown section: the peer against our throughput at 2 workers (`ours`, µs/call).
pub(crate) fn markdown(peer: &Result<f64, String>, ours: Option<f64>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n## Warm-worker peers\n");
    let ours_text = ours.map_or_else(|| "not run".to_owned(), |us| format!("{us:.1} µs/call"));
    let _ = writeln!(
        out,
        "A trivial call on a pool of 2 processes, against our warm workers' echo at 2 workers \
         (`workers/throughput_pool/2`: {ours_text}). procspawn is in the targets above.\n"
    );
    let _ = writeln!(
        out,
        "| Peer | Per task | Ours is faster by | Target | Result |"
    );
    let _ = writeln!(out, "|---|--:|--:|---|---|");
    let (cost, ratio, result) = match (peer, ours) {
        (Ok(us), Some(o)) => {
            let ratio = us / o;
            let result = if ratio >= TARGET { "PASS" } else { "MISS" };
            (format!("{us:.1} µs"), format!("{ratio:.1}×"), result)
        }
        (Ok(us), None) => (format!("{us:.1} µs"), "—".to_owned(), "not run"),
        (Err(why), _) => (why.clone(), "—".to_owned(), "not run"),
    };
    let _ = writeln!(
        out,
        "| Python `ProcessPoolExecutor(2)`, one `submit` per task | {cost} | {ratio} | ≥ {TARGET:.0}× | {result} |"
    );
    out
}

/// The same as JSON.
pub(crate) fn json(peer: &Result<f64, String>) -> Value {
    json!({
        "peer": "Python ProcessPoolExecutor(2)",
        "us_per_task": peer.as_ref().ok(),
        "skipped": peer.as_ref().err(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_with_our_throughput() {
        let md = markdown(&Ok(110.0), Some(10.0));
        assert!(md.contains("| 110.0 µs | 11.0× | ≥ 5× | PASS |"), "{md}");
        let md = markdown(&Ok(40.0), Some(10.0));
        assert!(md.contains("| 4.0× | ≥ 5× | MISS |"), "{md}");
        let md = markdown(&Err("no `python3`: skipped".into()), Some(10.0));
        assert!(md.contains("| no `python3`: skipped | — |"), "{md}");
        assert_eq!(json(&Ok(1.5))["us_per_task"], 1.5);
    }
}
