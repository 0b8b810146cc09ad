//! `--joblog` with `--resume` and `--resume-failed`: a run stopped halfway, run again, runs
//! exactly the jobs its log does not show done; the log is checked line by line.

// Unix only: the jobs are `sh` lines and the run is stopped with SIGTERM. Windows' joblog is
// checked in `windows.rs`.
#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{assert_all_gone, ppool, ppool_run, text, wait_for};

/// The log's job lines as (seq, exitval, signal, command), header checked.
fn log_lines(path: &Path) -> Vec<(u64, i32, i32, String)> {
    let content = std::fs::read_to_string(path).unwrap();
    let mut lines = content.lines();
    assert_eq!(
        lines.next(),
        Some("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand")
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 9, "{line}");
            assert_eq!(f[1], ":");
            assert!(
                f[2].parse::<f64>().is_ok() && f[3].trim().parse::<f64>().is_ok(),
                "{line}"
            );
            (
                f[0].parse().unwrap(),
                f[6].parse().unwrap(),
                f[7].parse().unwrap(),
                f[8].to_owned(),
            )
        })
        .collect()
}

fn seqs(lines: &[(u64, i32, i32, String)]) -> Vec<u64> {
    let mut seqs: Vec<u64> = lines.iter().map(|l| l.0).collect();
    seqs.sort_unstable();
    seqs
}

#[test]
fn a_run_stopped_halfway_resumes_with_exactly_the_jobs_not_logged() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let values: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
    // Jobs 1-4 end at once; the others wait (recording their pids) until stopped.
    let child = ppool()
        .current_dir(dir.path())
        .args(["-j", "2", "--joblog", "log"])
        .arg("if [ {} -le 4 ]; then echo {}; else echo $$ > pid.{}; sleep 60; fi")
        .arg(":::")
        .args(&values)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("jobs 5 and 6 to start", Duration::from_secs(20), || {
        dir.path().join("pid.5").exists() && dir.path().join("pid.6").exists()
    });
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(143), "{}", text(&output.stderr));
    assert_all_gone(dir.path());
    let first = log_lines(&log);
    assert_eq!(seqs(&first), [1, 2, 3, 4]);
    assert!(
        first
            .iter()
            .all(|(_, exit, signal, _)| (*exit, *signal) == (0, 0))
    );

    // The command may change (GNU parallel's rule: only sequence numbers count).
    let again = ppool_run(
        &[
            "-k",
            "-j",
            "2",
            "--resume",
            "--joblog",
            log.to_str().unwrap(),
            "echo",
            "again",
            ":::",
        ]
        .into_iter()
        .chain(values.iter().map(String::as_str))
        .collect::<Vec<_>>(),
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(
        text(&again.stdout),
        "again 5\nagain 6\nagain 7\nagain 8\nagain 9\nagain 10\n"
    );
    let second = log_lines(&log);
    assert_eq!(second[..4], first[..]);
    assert_eq!(seqs(&second[4..]), [5, 6, 7, 8, 9, 10]);
    for (seq, exit, signal, command) in &second[4..] {
        assert_eq!(
            (*exit, *signal, command.as_str()),
            (0, 0, format!("echo again {seq}").as_str())
        );
    }

    // Everything is logged now: resuming runs nothing and adds nothing.
    let third = ppool_run(
        &["--resume", "--joblog", log.to_str().unwrap(), "echo", ":::"]
            .into_iter()
            .chain(values.iter().map(String::as_str))
            .collect::<Vec<_>>(),
    );
    assert_eq!((third.status.code(), third.stdout.len()), (Some(0), 0));
    assert_eq!(log_lines(&log), second);
}

#[test]
fn resume_failed_reruns_only_the_failed_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("log");
    let log: &'static str = Box::leak(log_path.to_str().unwrap().to_owned().into_boxed_str());
    let values: Vec<&str> = vec!["1", "2", "3", "4", "5", "6", "7"];
    let with_values = |head: &[&'static str]| -> Vec<String> {
        ["--joblog", log]
            .into_iter()
            .chain(head.iter().copied())
            .chain([":::"])
            .chain(values.iter().copied())
            .map(str::to_owned)
            .collect()
    };
    // 3 and 6 fail.
    let run = |head: &[&'static str]| {
        let args = with_values(head);
        ppool_run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let first = run(&["-k", "echo {}; [ $(({} % 3)) -ne 0 ]"]);
    assert_eq!(first.status.code(), Some(2));
    let lines = log_lines(Path::new(log));
    assert_eq!(seqs(&lines), [1, 2, 3, 4, 5, 6, 7]);
    let mut failed: Vec<u64> = lines.iter().filter(|l| l.1 != 0).map(|l| l.0).collect();
    failed.sort_unstable();
    assert_eq!(failed, [3, 6]);

    let again = run(&["--resume-failed", "-k", "echo rerun {}"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout), "rerun 3\nrerun 6\n");
    let after = log_lines(Path::new(log));
    assert_eq!(after[..7], lines[..]);
    let mut rerun = after[7..].to_vec();
    rerun.sort();
    assert_eq!(
        rerun
            .iter()
            .map(|l| (l.0, l.1, l.3.as_str()))
            .collect::<Vec<_>>(),
        [(3, 0, "echo rerun 3"), (6, 0, "echo rerun 6")]
    );

    // Nothing failed any more.
    let none = run(&["--resume-failed", "false"]);
    assert_eq!((none.status.code(), none.stdout.len()), (Some(0), 0));
    assert_eq!(log_lines(Path::new(log)).len(), 9);
}

#[test]
fn a_log_is_started_anew_unless_resuming_or_appending() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let log = log.to_str().unwrap();
    ppool_run(&["--joblog", log, "true", ":::", "a", "b"]);
    ppool_run(&["--joblog", log, "true", ":::", "c"]);
    assert_eq!(log_lines(Path::new(log)).len(), 1);
    ppool_run(&["--joblog", &format!("+{log}"), "true", ":::", "d"]);
    assert_eq!(log_lines(Path::new(log)).len(), 2);
}

#[test]
fn timeouts_signals_and_missing_programs_are_logged_as_gnu_parallel_does() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let out = ppool_run(&[
        "-k",
        "--timeout",
        "200ms",
        "--joblog",
        log.to_str().unwrap(),
        "{}",
        ":::",
        "true",
        "sleep 30",
        "kill -9 $$",
        "exit 4",
        "no-such-program-here",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let mut lines = log_lines(&log);
    lines.sort();
    let statuses: Vec<(u64, i32, i32)> = lines.iter().map(|l| (l.0, l.1, l.2)).collect();
    assert_eq!(
        statuses,
        [(1, 0, 0), (2, -1, 15), (3, 0, 9), (4, 4, 0), (5, 127, 0)]
    );
}
