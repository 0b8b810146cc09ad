//! A job never outlives the process that started it: a pool's process SIGKILLed while 20 jobs
//! run, half of which started a descendant that left their process group, leaves nothing
//! running (the guard ends the jobs), in both of Linux's modes. Checked by pid.
//!
//! The pool runs in a child process: this test binary again, with `POOL_DEATH_CHILD` set.

// Linux only: the guard is Linux's (Windows: a Job Object's kill-on-close, tests/windows.rs).
#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use common::{Events, HANG, is_running, sh};
use process_pool_core::ProcessPool;
use process_pool_native::NativeSpawner;

const CHILD: &str = "POOL_DEATH_CHILD";
const JOBS: usize = 20;

/// The child's part: a pool of 20 running jobs, until it is killed.
async fn run_pool(cgroups: bool) {
    let spawner = if cgroups {
        NativeSpawner::new()
    } else {
        NativeSpawner::new().without_cgroups()
    };
    let pool = ProcessPool::builder()
        .max_workers(JOBS)
        .build(spawner)
        .unwrap();
    let mut handles = Vec::new();
    for i in 0..JOBS {
        let escape = if i % 2 == 0 {
            r#"setsid sh -c 'echo "pid $$" > "$EV"; exec sleep 300' &"#
        } else {
            ""
        };
        let script = format!(r#"{escape} echo "pid $$" > "$EV"; exec sleep 300"#);
        handles.push(pool.submit(sh(&script)).await.unwrap());
    }
    // Killed long before.
    tokio::time::sleep(Duration::from_secs(600)).await;
}

async fn killed_pool_leaves_nothing(test: &str, cgroups: bool) {
    if std::env::var_os(CHILD).is_some() {
        run_pool(cgroups).await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut events = Events::new(dir.path());
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .env("EV", &events.path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Every job and every escaped descendant says its pid.
    let mut pids = Vec::new();
    while pids.len() < JOBS + JOBS / 2 {
        let line = events.next().await;
        pids.push(
            line.trim()
                .strip_prefix("pid ")
                .unwrap()
                .parse::<u32>()
                .unwrap(),
        );
    }
    assert!(
        pids.iter().all(|&pid| is_running(pid)),
        "all up before the kill"
    );
    child.kill().unwrap();
    let killed = Instant::now();
    child.wait().unwrap();
    let mut left: Vec<u32> = pids.clone();
    while !left.is_empty() && killed.elapsed() < HANG {
        tokio::time::sleep(Duration::from_millis(10)).await;
        left.retain(|&pid| is_running(pid));
    }
    let took = killed.elapsed();
    eprintln!("{test}: every job's process gone {took:?} after the pool's process was killed");
    assert_eq!(
        left,
        Vec::<u32>::new(),
        "processes outlived their pool's process"
    );
    // The issue's bound is 1 s; a loaded machine gets some slack, a hang does not.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pool_leaves_nothing_with_cgroups() {
    killed_pool_leaves_nothing("a_killed_pool_leaves_nothing_with_cgroups", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pool_leaves_nothing_in_the_subreaper_mode() {
    killed_pool_leaves_nothing("a_killed_pool_leaves_nothing_in_the_subreaper_mode", false).await;
}
