//! Native jobs on Windows: trees in Job Objects (a grandchild that ignores the polite stop, a
//! parent that exits first), exit codes' 32 bits, exceptions, program lookup with `PATHEXT`,
//! and batch files' arguments. The Unix counterparts are in `tree.rs`.
#![cfg(windows)]

mod common;

use std::time::Duration;

use common::windows::is_running;
use common::{HANG, pids_in, test_job};
use process_pool_core::{Job, Outcome, ProcessPool};
use process_pool_native::{BatchArgument, NativeSpawner};

fn pool(workers: usize) -> ProcessPool {
    ProcessPool::builder()
        .max_workers(workers)
        .kill_grace(Duration::from_millis(300))
        .build(NativeSpawner::new())
        .unwrap()
}

async fn run(job: Job) -> process_pool_core::JobResult {
    let results = tokio::time::timeout(HANG, pool(1).run_all([job]))
        .await
        .expect("no hang")
        .unwrap();
    results.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_keep_their_32_bits() {
    for code in [0_u32, 1, 255, 256, 65_536, 0x8000_0001, 0xFFFF_FFFF] {
        let result = run(test_job().args(["exit", &code.to_string()])).await;
        let Outcome::Exited(got) = result.outcome else {
            panic!("exit {code}: {}", result.outcome);
        };
        assert_eq!(got as u32, code, "the DWORD comes back whole");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_violation_is_an_exception_not_an_exit_code() {
    let result = run(test_job().arg("crash")).await;
    assert!(
        matches!(result.outcome, Outcome::Exception(0xC000_0005)),
        "{}",
        result.outcome
    );
    assert_eq!(result.exit_code(), None);
    assert!(
        result.outcome.to_string().contains("access violation"),
        "{}",
        result.outcome
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_ends_a_tree_whose_grandchild_ignores_the_polite_stop() {
    let started = std::time::Instant::now();
    let result = run(test_job().arg("tree").timeout(Duration::from_millis(500))).await;
    assert!(result.timed_out(), "{}", result.outcome);
    let pids = pids_in(&result.stdout_lossy());
    assert_eq!(pids.len(), 2, "the job and its child: {pids:?}");
    for pid in pids {
        assert!(
            !is_running(pid),
            "process {pid} of the timed-out job survived"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_ends_the_whole_tree() {
    let pool = pool(1);
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let handle = pool
        .submit(test_job().arg("tree").output_lines(tx))
        .await
        .unwrap();
    let line = tokio::time::timeout(HANG, rx.recv())
        .await
        .expect("the pids while the job runs")
        .expect("a line");
    let pids = pids_in(&String::from_utf8_lossy(&line.bytes));
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert!(pids.iter().all(|&p| is_running(p)), "the tree is up");
    handle.cancel();
    let result = tokio::time::timeout(HANG, handle).await.unwrap();
    assert!(result.cancelled(), "{}", result.outcome);
    for pid in pids {
        assert!(
            !is_running(pid),
            "process {pid} of the cancelled job survived"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_left_behind_by_a_finished_job_is_ended() {
    let result = run(test_job().arg("orphan")).await;
    assert!(result.success(), "{}", result.outcome);
    let pids = pids_in(&result.stdout_lossy());
    assert_eq!(pids.len(), 2, "{pids:?}");
    for pid in pids {
        assert!(!is_running(pid), "process {pid} outlived its job");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pool_takes_its_jobs_trees_with_it() {
    use tokio::io::AsyncBufReadExt;

    // A process running a pool whose job started a child: the pool's process is killed
    // (TerminateProcess), and its Job Object handles close with it.
    let mut owner = tokio::process::Command::new(common::test_job_path())
        .arg("pool")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = owner.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(HANG, tokio::io::BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("the job's pids")
        .unwrap();
    let pids = pids_in(&line);
    assert_eq!(pids.len(), 2, "{line:?}");
    assert!(pids.iter().all(|&p| is_running(p)), "the job's tree is up");
    owner.kill().await.unwrap();
    // Nothing here to wait on (they are the killed process's children): look until they are
    // gone, within the hang bound.
    let deadline = std::time::Instant::now() + HANG;
    while pids.iter().any(|&p| is_running(p)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the job's processes outlived their pool's process: {pids:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_name_is_looked_up_with_pathext_and_batch_arguments_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    // `%1` as given, quotes included: a script that strips them (`%~1`) lets cmd.exe read its
    // argument as commands, whoever started it.
    std::fs::write(dir.path().join("greet.cmd"), "@echo off\r\necho [%1]\r\n").unwrap();
    let path = dir.path().as_os_str();

    let found = run(Job::new("greet").arg("plain").env("PATH", path)).await;
    assert!(found.success(), "{}", found.outcome);
    assert_eq!(found.stdout_lossy().trim_end(), "[plain]");

    // Quoted by std as cmd.exe needs: the `&` does not start a second command.
    let quoted = run(Job::new("greet").arg("a & echo injected").env("PATH", path)).await;
    assert_eq!(quoted.stdout_lossy().trim_end(), r#"["a & echo injected"]"#);

    let refused = run(Job::new("greet").arg("two\nlines").env("PATH", path)).await;
    let Outcome::SpawnFailed(error) = &refused.outcome else {
        panic!("a line break reached cmd.exe: {}", refused.outcome);
    };
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    let batch = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<BatchArgument>())
        .unwrap_or_else(|| panic!("not a BatchArgument: {error:?}"));
    assert_eq!(batch.argument(), "two\nlines");
    assert!(
        batch.program().ends_with("greet.cmd"),
        "{}",
        batch.program()
    );
}
