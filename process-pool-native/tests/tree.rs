//! Whole process trees end with their job: timeout, cancel, left-behind children, TERM-proof
//! children.

// Unix only: its trees are `sh` scripts with `sleep`, `trap` and FIFOs; Windows' counterparts (a
// stubborn grandchild, a parent that exits first) are in `windows.rs`.
#![cfg(unix)]

mod common;

use std::time::Duration;

use common::{Events, HANG, is_running, pids_in, sh};
use process_pool_core::ProcessPool;
use process_pool_native::NativeSpawner;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_the_whole_tree() {
    let pool = NativeSpawner::pool(2).unwrap();
    let job = sh("echo $$; sleep 100 & echo $!; sleep 100 & echo $!; wait")
        .timeout(Duration::from_millis(300));
    let results = tokio::time::timeout(HANG, pool.run_all([job]))
        .await
        .unwrap()
        .unwrap();
    let result = &results[0];
    assert!(result.timed_out(), "{}", result.outcome);
    let pids = pids_in(&result.stdout_lossy());
    assert_eq!(
        pids.len(),
        3,
        "the shell and both sleeps reported: {pids:?}"
    );
    for pid in pids {
        assert!(
            !is_running(pid),
            "process {pid} of the timed-out job survived"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_kills_the_whole_tree() {
    let dir = tempfile::tempdir().unwrap();
    let mut events = Events::new(dir.path());
    let pool = NativeSpawner::pool(1).unwrap();
    let script = format!(
        "sleep 100 & a=$!; sleep 100 & b=$!; echo \"$$ $a $b\" > '{}'; wait",
        events.path.display()
    );
    let handle = pool.submit(sh(&script)).await.unwrap();
    let pids = pids_in(&events.next().await);
    assert_eq!(pids.len(), 3);
    assert!(
        pids.iter().all(|&p| is_running(p)),
        "the tree is up before the cancel"
    );
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
async fn processes_left_behind_by_a_finished_job_are_ended() {
    let pool = NativeSpawner::pool(1).unwrap();
    // The background sleep also holds the stdout pipe: without the sweep, reading would hang.
    let results = tokio::time::timeout(HANG, pool.run_all([sh("sleep 100 & echo $!")]))
        .await
        .expect("a job that leaves a child behind still returns")
        .unwrap();
    assert!(results[0].success(), "{}", results[0].outcome);
    let pids = pids_in(&results[0].stdout_lossy());
    assert_eq!(pids.len(), 1);
    assert!(!is_running(pids[0]), "the left-behind sleep survived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_that_ignores_term_is_killed_after_the_grace() {
    let grace = Duration::from_millis(300);
    let limit = Duration::from_millis(100);
    let pool = ProcessPool::builder()
        .max_workers(1)
        .kill_grace(grace)
        .build(NativeSpawner::new())
        .unwrap();
    // An ignored signal stays ignored across exec, so the sleeps ignore TERM too.
    let job = sh("trap '' TERM; echo $$; sleep 100 & echo $!; wait").timeout(limit);
    let results = tokio::time::timeout(HANG, pool.run_all([job]))
        .await
        .unwrap()
        .unwrap();
    let result = &results[0];
    assert!(result.timed_out(), "{}", result.outcome);
    assert!(
        result.duration >= limit + grace,
        "KILL came before the grace was over: {:?}",
        result.duration
    );
    for pid in pids_in(&result.stdout_lossy()) {
        assert!(!is_running(pid), "process {pid} survived SIGKILL");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_kill_grace_does_not_break_a_finished_job() {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .kill_grace(Duration::MAX)
        .build(NativeSpawner::new())
        .unwrap();
    // The left-behind sleep dies at SIGTERM, so the endless grace is never waited out.
    let results = tokio::time::timeout(HANG, pool.run_all([sh("sleep 100 & echo $!")]))
        .await
        .unwrap()
        .unwrap();
    assert!(results[0].success(), "{}", results[0].outcome);
    let pids = pids_in(&results[0].stdout_lossy());
    assert!(!is_running(pids[0]));
}

/// Defect 9: a runtime dropped under a pool with jobs running and queued: every handle is
/// answered, and the killed jobs' processes are reaped (no zombie) and gone.
#[test]
fn dropping_the_runtime_answers_every_job_and_leaves_no_zombie() {
    let marker = "PROCESS_POOL_TEST=runtime-dropped";
    let (key, value) = marker.split_once('=').unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (pool, handles) = runtime.block_on(async {
        let pool = NativeSpawner::pool(2).unwrap();
        let mut handles = Vec::new();
        for _ in 0..6 {
            let job = process_pool_core::Job::new("sleep")
                .arg("600")
                .env(key, value);
            handles.push(pool.submit(job).await.unwrap());
        }
        while pool.stats().running < 2 || common::marked(marker).len() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (pool, handles)
    });
    drop(runtime);
    for handle in handles {
        let result = futures::executor::block_on(handle);
        assert!(result.cancelled(), "{}", result.outcome);
    }
    drop(pool);
    assert_eq!(common::marked(marker), Vec::<u32>::new());
    let zombies: Vec<_> = common::children_of_self()
        .into_iter()
        .filter(|(_, state)| *state == 'Z')
        .collect();
    assert!(zombies.is_empty(), "{zombies:?}");
}
