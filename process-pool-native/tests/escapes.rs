//! Nothing escapes a job: a descendant that leaves the job's process group (`setsid`, a
//! daemon's double fork, `setpgid`) is ended with the job, on a timeout, a cancel, a shutdown
//! and when the job exits leaving it behind, in both of Linux's modes (a cgroup per job, and
//! the subreaper mode, forced here with `without_cgroups`). Checked by pid.

// Linux only: the cgroup and subreaper modes are Linux's (macOS holds a job by its process
// group alone, Windows by a Job Object: tests/windows.rs).
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{Events, HANG, is_running, sh};
use process_pool_core::{Job, JobResult, ProcessPool};
use process_pool_native::{Containment, NativeSpawner};

/// How the escapee leaves the job's process group. Each runs `$INNER`, which ignores SIGTERM,
/// reports its pid and becomes `sleep 300`.
const ESCAPES: [(&str, &str); 3] = [
    ("setsid", r#"setsid sh -c "$INNER" &"#),
    (
        "double fork",
        r#"sh -c 'setsid sh -c "$INNER" </dev/null >/dev/null 2>&1 & exit 0' &"#,
    ),
    (
        "setpgid",
        r#"perl -e 'setpgrp(0, 0); exec "sh", "-c", $ENV{INNER}' &"#,
    ),
];

const INNER: &str = r#"trap "" TERM; echo "pid $$" > "$EV"; touch "$UP"; exec sleep 300"#;

#[derive(Debug, Clone, Copy)]
enum End {
    Timeout,
    Cancel,
    Shutdown,
    Exit,
}

fn spawners() -> [(&'static str, NativeSpawner); 2] {
    [
        ("cgroup", NativeSpawner::new()),
        ("subreaper", NativeSpawner::new().without_cgroups()),
    ]
}

/// The job: starts the escapee, waits until it is up, then goes on (`sleep 100`) or exits.
fn escaping_job(escape: &str, end: End, events: &Events, up: &std::path::Path) -> Job {
    let then = match end {
        End::Exit => "exit 0",
        _ => "exec sleep 100",
    };
    let script = format!(
        r#"{escape}
until [ -e "$UP" ]; do sleep 0.01; done
{then}"#
    );
    let job = sh(&script)
        .env("INNER", INNER)
        .env("EV", &events.path)
        .env("UP", up);
    match end {
        End::Timeout => job.timeout(Duration::from_millis(300)),
        _ => job,
    }
}

async fn escape_is_ended(spawner: NativeSpawner, mode: &str, escape: (&str, &str), end: End) {
    let dir = tempfile::tempdir().unwrap();
    let mut events = Events::new(dir.path());
    let up = dir.path().join("up");
    let pool = ProcessPool::builder()
        .max_workers(1)
        .kill_grace(Duration::from_millis(200))
        .build(spawner)
        .unwrap();
    let handle = pool
        .submit(escaping_job(escape.1, end, &events, &up))
        .await
        .unwrap();
    let line = events.next().await;
    let pid: u32 = line
        .strip_prefix("pid ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("a pid line, not {line:?}"));
    assert!(is_running(pid), "{mode}/{}: the escapee runs", escape.0);
    let result: Option<JobResult> = match end {
        End::Timeout | End::Exit => Some(tokio::time::timeout(HANG, handle).await.unwrap()),
        End::Cancel => {
            handle.cancel();
            Some(tokio::time::timeout(HANG, handle).await.unwrap())
        }
        End::Shutdown => {
            tokio::time::timeout(HANG, pool.shutdown(Duration::from_millis(200)))
                .await
                .unwrap();
            None
        }
    };
    if let Some(result) = &result {
        match end {
            End::Timeout => assert!(result.timed_out(), "{}", result.outcome),
            End::Cancel => assert!(result.cancelled(), "{}", result.outcome),
            _ => assert!(result.success(), "{}", result.outcome),
        }
    }
    assert!(
        !is_running(pid),
        "{mode}/{}/{end:?}: the escapee {pid} outlived its job: {}",
        escape.0,
        std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default()
    );
}

async fn every_escape(end: End) {
    for (mode, spawner) in spawners() {
        for escape in ESCAPES {
            escape_is_ended(spawner.clone(), mode, escape, end).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_ends_what_left_the_group() {
    every_escape(End::Timeout).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_ends_what_left_the_group() {
    every_escape(End::Cancel).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_ends_what_left_the_group() {
    every_escape(End::Shutdown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_exits_leaves_nothing_behind() {
    every_escape(End::Exit).await;
}

#[test]
fn the_mode_in_force_is_told() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _inside = runtime.enter();
    let forced = NativeSpawner::new().without_cgroups().containment();
    assert!(
        matches!(&forced, Containment::Subreaper { why } if why.contains("turned off")),
        "{forced:?}"
    );
    // Root, with a cgroup2 file system mounted read-write (as here and in CI): a cgroup per
    // job. Otherwise the subreaper mode, saying why.
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let cgroup2_rw = mountinfo.lines().any(|line| {
        line.contains(" - cgroup2 ")
            && line
                .split_whitespace()
                .nth(5)
                .is_some_and(|o| o.starts_with("rw"))
    });
    let mode = NativeSpawner::new().containment();
    if rustix::process::getuid().is_root() && cgroup2_rw {
        assert!(matches!(mode, Containment::Cgroup { .. }), "{mode:?}");
    } else {
        assert!(
            matches!(&mode, Containment::Subreaper { why } if !why.is_empty()),
            "{mode:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_without_a_shebang_runs_under_sh() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("plain");
    std::fs::write(&script, "echo \"from a plain script: $1\"\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for (mode, spawner) in spawners() {
        let pool = ProcessPool::builder()
            .max_workers(1)
            .build(spawner)
            .unwrap();
        let results = pool
            .run_all([
                Job::new(&script).arg("x"),
                Job::new("plain").arg("y").env("PATH", dir.path()),
            ])
            .await
            .unwrap();
        assert_eq!(
            results[0].stdout_lossy(),
            "from a plain script: x\n",
            "{mode}"
        );
        assert_eq!(
            results[1].stdout_lossy(),
            "from a plain script: y\n",
            "{mode}"
        );
    }
}
