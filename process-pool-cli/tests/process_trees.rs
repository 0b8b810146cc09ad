//! Nothing is left behind: a timeout ends the job's whole process tree, `--halt now` ends and
//! reaps every running job, and so do Ctrl-C (once with its grace, twice at once) and SIGTERM,
//! each in a real terminal where a terminal is what matters.

// Unix only: the trees are `sh` jobs with background children, read back by pid and killed with
// Unix signals in a tmux terminal. Windows' tree stop is checked in `windows.rs` (--timeout).
#![cfg(unix)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Tmux, assert_all_gone, count_files, ppool, text, wait_for};

/// A job that records its own pid and a background grandchild's, then waits for a file named
/// `release` (or 60 s).
const TREE: &str = "sleep 60 & echo $$ $! > pid.{}; \
                    while [ ! -e release ]; do sleep 0.02; done; echo done {}";

#[test]
fn a_timeout_ends_the_job_and_its_grandchildren() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = ppool();
    command.current_dir(dir.path()).args([
        "-j",
        "2",
        "--timeout",
        "300ms",
        "--kill-grace",
        "200ms",
        TREE,
        ":::",
        "1",
        "2",
    ]);
    let start = Instant::now();
    let out = common::run_with(command, b"");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "the timeout stopped the jobs"
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr.matches("timed out after 300ms").count(),
        2,
        "{stderr}"
    );
    assert_eq!(
        common::pids_in(dir.path()).len(),
        4,
        "two jobs, two grandchildren"
    );
    assert_all_gone(dir.path());
}

#[test]
fn halt_now_ends_and_reaps_every_running_job() {
    let dir = tempfile::tempdir().unwrap();
    // Job 1 fails once the three others have started; they would otherwise wait 60 s.
    let script = format!(
        "if [ {{}} = 1 ]; then while [ $(ls | grep -c pid) -lt 3 ]; do sleep 0.02; done; exit 5; \
         else {TREE}; fi"
    );
    let mut command = ppool();
    command.current_dir(dir.path()).args([
        "-j",
        "4",
        "--halt",
        "now,fail=1",
        &script,
        ":::",
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
    ]);
    let out = common::run_with(command, b"");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("done"), "no job ran to its end");
    assert_eq!(
        count_files(dir.path(), "pid."),
        3,
        "jobs 5 and 6 never started"
    );
    assert_all_gone(dir.path());
}

#[test]
fn sigterm_ends_every_job_tree_at_once() {
    ends_every_job_tree_at_once(rustix::process::Signal::TERM, 143);
}

#[test]
fn sighup_ends_every_job_tree_at_once() {
    ends_every_job_tree_at_once(rustix::process::Signal::HUP, 129);
}

fn ends_every_job_tree_at_once(signal: rustix::process::Signal, status: i32) {
    let dir = tempfile::tempdir().unwrap();
    let child = ppool()
        .current_dir(dir.path())
        .args(["-j", "3", TREE, ":::", "1", "2", "3", "4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("three jobs to start", Duration::from_secs(20), || {
        count_files(dir.path(), "pid.") == 3
    });
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, signal).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(status), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("done"));
    assert_eq!(count_files(dir.path(), "pid."), 3, "job 4 never started");
    assert_all_gone(dir.path());
}

/// Runs `ppool` in a terminal with a job per value that waits for `release`; returns the
/// terminal once every job has started.
fn in_terminal(dir: &std::path::Path, options: &str, jobs: usize) -> Tmux {
    let command = format!(
        "cd {dir} && {ppool} {options} -j {jobs} '{TREE}' ::: {values} > out 2> err; echo $? > status",
        dir = dir.display(),
        ppool = env!("CARGO_BIN_EXE_ppool"),
        values = (1..=jobs + 2)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" "),
    );
    let tmux = Tmux::start(&command);
    wait_for("the jobs to start", Duration::from_secs(20), || {
        count_files(dir, "pid.") == jobs
    });
    tmux
}

fn status(dir: &std::path::Path) -> Option<i32> {
    std::fs::read_to_string(dir.join("status"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

#[test]
fn ctrl_c_once_lets_running_jobs_finish_and_starts_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = in_terminal(dir.path(), "--grace 60s", 2);
    tmux.send_keys("C-c");
    wait_for(
        "the interrupt to be noticed",
        Duration::from_secs(20),
        || std::fs::read_to_string(dir.path().join("err")).is_ok_and(|e| e.contains("interrupted")),
    );
    // The running jobs are left alone: they are still there, and finish when released.
    assert!(
        common::pids_in(dir.path())
            .iter()
            .all(|&p| common::alive(p))
    );
    assert_eq!(status(dir.path()), None);
    std::fs::write(dir.path().join("release"), "").unwrap();
    wait_for("ppool to exit", Duration::from_secs(20), || {
        status(dir.path()).is_some()
    });
    assert_eq!(status(dir.path()), Some(130));
    let out = std::fs::read_to_string(dir.path().join("out")).unwrap();
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["done 1", "done 2"]);
    assert_eq!(
        count_files(dir.path(), "pid."),
        2,
        "no job started after Ctrl-C"
    );
    assert_all_gone(dir.path());
    drop(tmux);
}

#[test]
fn ctrl_c_once_ends_jobs_still_running_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = in_terminal(dir.path(), "--grace 300ms", 2);
    tmux.send_keys("C-c");
    wait_for("ppool to exit", Duration::from_secs(20), || {
        status(dir.path()).is_some()
    });
    assert_eq!(status(dir.path()), Some(130));
    assert_eq!(std::fs::read_to_string(dir.path().join("out")).unwrap(), "");
    assert_all_gone(dir.path());
}

#[test]
fn ctrl_c_twice_ends_every_job_tree_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = in_terminal(dir.path(), "--grace 60s", 3);
    tmux.send_keys("C-c");
    wait_for(
        "the interrupt to be noticed",
        Duration::from_secs(20),
        || std::fs::read_to_string(dir.path().join("err")).is_ok_and(|e| e.contains("interrupted")),
    );
    tmux.send_keys("C-c");
    wait_for("ppool to exit", Duration::from_secs(20), || {
        status(dir.path()).is_some()
    });
    assert_eq!(status(dir.path()), Some(130));
    assert_eq!(std::fs::read_to_string(dir.path().join("out")).unwrap(), "");
    assert_eq!(count_files(dir.path(), "pid."), 3);
    assert_all_gone(dir.path());
}

#[test]
fn a_closed_stdout_stops_the_run_quietly() {
    // Endless input: only the closed pipe can end this run.
    let script = format!(
        "yes | {} -j 2 echo | head -n 1; echo \"${{PIPESTATUS[1]}}\" >&2",
        env!("CARGO_BIN_EXE_ppool")
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "y\n");
    assert_eq!(
        text(&out.stderr),
        "141\n",
        "exits as SIGPIPE would, saying nothing"
    );
}
