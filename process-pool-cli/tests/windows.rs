//! `ppool.exe` as a Windows user runs it (under Wine here): `:::` inputs through cmd.exe and
//! directly, `-k` order, values quoted for cmd, `--joblog`, exit statuses (an exception's
//! whole), `--timeout` ending a job's whole tree, and a missing program's error.

// Windows only: the jobs are cmd.exe lines; the Unix files run `sh`.
#![cfg(windows)]

mod common;

use std::collections::{HashMap, HashSet};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{ppool, ppool_run, text, wait_for};

/// stdout's lines, without cmd's `\r`.
fn lines(output: &Output) -> Vec<String> {
    text(&output.stdout)
        .lines()
        .map(|l| l.trim_end().to_owned())
        .collect()
}

#[test]
fn inputs_run_through_cmd_and_directly_in_input_order_with_k() {
    // The first input's job takes longest: without -k it would print last.
    let out = ppool_run(&[
        "-k",
        "-j",
        "3",
        "ping -n {} 127.0.0.1 >nul & echo {}",
        ":::",
        "3",
        "1",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(lines(&out), ["3", "1", "2"]);
    let out = ppool_run(&["-k", "cmd", "/C", "echo", "{}", ":::", "x", "y"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(lines(&out), ["x", "y"]);
}

#[test]
fn values_reach_a_program_unchanged_through_cmd() {
    // The program is ppool itself, showing (with --dry-run) the argument it got: run once
    // directly (the standard library quotes it) and once through cmd (ppool's quoting); both
    // must agree.
    let me = env!("CARGO_BIN_EXE_ppool");
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one");
    std::fs::write(&one, "x\n").unwrap();
    let one = one.to_str().unwrap();
    let values = [
        "my file.txt",
        r#"say "hi" & exit /b 9"#,
        "a|b<c>d^e(f)",
        r"trailing\",
        r#"\"quoted\"\"#,
    ];
    let mut direct = vec!["-k", me, "--dry-run", "-a", one, "echo", "{}", ":::"];
    direct.extend(values);
    let direct = ppool_run(&direct);
    assert_eq!(direct.status.code(), Some(0), "{}", text(&direct.stderr));
    let line = format!("\"{me}\" --dry-run -a \"{one}\" echo {{}}");
    let mut through_cmd = vec!["-k", &*line, ":::"];
    through_cmd.extend(values);
    let through_cmd = ppool_run(&through_cmd);
    assert_eq!(
        through_cmd.status.code(),
        Some(0),
        "{}",
        text(&through_cmd.stderr)
    );
    assert_eq!(lines(&through_cmd), lines(&direct));
    assert_eq!(lines(&direct).len(), values.len());
}

#[test]
fn the_joblog_has_one_line_per_job_with_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let out = ppool_run(&[
        "-j",
        "1",
        "--joblog",
        log.to_str().unwrap(),
        "exit /b {}",
        ":::",
        "0",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let log = std::fs::read_to_string(&log).unwrap();
    let mut lines = log.lines();
    assert_eq!(
        lines.next(),
        Some("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand")
    );
    let jobs: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    assert_eq!(jobs.len(), 2, "{log}");
    for (job, (seq, exit)) in jobs.iter().zip([("1", "0"), ("2", "3")]) {
        assert_eq!(
            (job[0], job[6], job[7], job[8]),
            (seq, exit, "0", &*format!("exit /b {exit}"))
        );
    }
}

#[test]
fn exit_statuses_count_failures_and_keep_a_halting_jobs_status_whole() {
    let out = ppool_run(&["exit /b {}", ":::", "0", "3", "0", "4"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = ppool_run(&["--halt", "now,fail=1", "exit /b {}", ":::", "3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    // An exit code of error severity (here 0xC0000005, an access violation) is an exception:
    // a failed job, reported as one, and passed on whole by --halt now,fail=1.
    let out = ppool_run(&["--json", "exit /b {}", ":::", "-1073741819"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["outcome"], "exception", "{json}");
    let out = ppool_run(&["--halt", "now,fail=1", "exit /b {}", ":::", "-1073741819"]);
    assert_eq!(
        out.status.code(),
        Some(-1_073_741_819),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_missing_program_is_one_line_and_nothing_runs() {
    let out = ppool_run(&["surely-no-such-program", "{}", ":::", "a"]);
    assert_eq!(out.status.code(), Some(255));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("command not found: `surely-no-such-program`"),
        "{err}"
    );
    // A program named by the input cannot be checked first: the job fails, named.
    let out = ppool_run(&["no-such-{}", ":::", "program"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("job 1 could not start") && err.contains("no-such-program"),
        "{err}"
    );
}

#[test]
fn a_value_cmd_cannot_take_fails_its_job_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("inputs");
    std::fs::write(&inputs, "fine\ntwo\rlines\n").unwrap();
    let out = ppool_run(&["-k", "echo {}", "::::", inputs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(&out), ["fine"]);
    let err = text(&out.stderr);
    assert!(
        err.contains("job 2 cannot run") && err.contains("line break"),
        "{err}"
    );
}

/// Every process now: pid → (parent pid, program name).
#[allow(unsafe_code)] // FFI to kernel32's Toolhelp, the one way to list processes.
fn processes() -> HashMap<u32, (u32, String)> {
    use windows_sys::Win32::Foundation::{CloseHandle, INVALID_HANDLE_VALUE};
    use windows_sys::Win32::System::Diagnostics::ToolHelp::{
        CreateToolhelp32Snapshot, PROCESSENTRY32W, Process32FirstW, Process32NextW,
        TH32CS_SNAPPROCESS,
    };
    let mut found = HashMap::new();
    // SAFETY: a snapshot handle checked before use and closed once; the entry's size is set
    // as the API requires, and its name is read up to its NUL within the array.
    unsafe {
        let snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
        assert_ne!(snapshot, INVALID_HANDLE_VALUE, "no process snapshot");
        let mut entry: PROCESSENTRY32W = std::mem::zeroed();
        entry.dwSize = u32::try_from(std::mem::size_of::<PROCESSENTRY32W>()).unwrap();
        let mut more = Process32FirstW(snapshot, &mut entry) != 0;
        while more {
            let name = &entry.szExeFile;
            let len = name.iter().position(|&c| c == 0).unwrap_or(name.len());
            found.insert(
                entry.th32ProcessID,
                (
                    entry.th32ParentProcessID,
                    String::from_utf16_lossy(&name[..len]).to_lowercase(),
                ),
            );
            more = Process32NextW(snapshot, &mut entry) != 0;
        }
        CloseHandle(snapshot);
    }
    found
}

/// The processes started by `root`, its children's children too.
fn descendants(root: u32) -> HashMap<u32, String> {
    let all = processes();
    let mut tree = HashSet::from([root]);
    loop {
        let before = tree.len();
        for (&pid, (parent, _)) in &all {
            if tree.contains(parent) {
                tree.insert(pid);
            }
        }
        if tree.len() == before {
            break;
        }
    }
    tree.remove(&root);
    tree.into_iter()
        .map(|pid| (pid, all[&pid].1.clone()))
        .collect()
}

#[test]
fn a_timeout_ends_the_jobs_whole_tree() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let start = Instant::now();
    // The job's cmd starts a cmd of its own, which starts ping: three processes deep below
    // ppool, all far longer than the timeout. (Not `start /b`: Wine's start.exe exits at
    // once, so the background process's parent could not be traced back to the job.)
    let mut child = ppool()
        .args([
            "--timeout",
            "3s",
            "--joblog",
            log.to_str().unwrap(),
            "cmd /c ping -n 60 127.0.0.1 >nul & exit /b {}",
            ":::",
            "0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut tree = HashMap::new();
    wait_for("the job's grandchild", Duration::from_secs(20), || {
        tree = descendants(child.id());
        tree.values().any(|name| name == "ping.exe")
    });
    assert_eq!(
        tree.values().filter(|name| *name == "cmd.exe").count(),
        2,
        "the job's tree: {tree:?}"
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    wait_for("the job's tree to be gone", Duration::from_secs(10), || {
        let now = processes();
        tree.keys().all(|pid| !now.contains_key(pid))
    });
    let log = std::fs::read_to_string(&log).unwrap();
    let job = log.lines().nth(1).unwrap();
    let fields: Vec<&str> = job.split('\t').collect();
    assert_eq!((fields[6], fields[7]), ("-1", "15"), "{log}");
}
