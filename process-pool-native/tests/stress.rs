//! Stress in a test binary of its own, so that process-wide measurements (children in /proc,
//! open descriptors, peak memory) see this test only.

// Unix only: it counts children and descriptors in `/proc` and runs `sh`/`sleep`; the Windows
// counterpart (1,000 jobs, none lost, none left running, by a Toolhelp snapshot) is
// `windows_stress.rs`.
#![cfg(unix)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{HANG, children_of_self, open_fds, peak_rss_kib};
use process_pool_core::{JobHandle, Outcome, ProcessPool, job};
use process_pool_native::NativeSpawner;

const MIB: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_loses_nothing_and_leaks_nothing() {
    // Warm up: the runtime's signal pipe and the like are opened on the first job.
    let warm = NativeSpawner::pool(2).unwrap();
    warm.run_all([job("true", [] as [&str; 0])]).await.unwrap();
    let fds_before = open_fds();

    huge_output_keeps_memory_bounded().await;
    many_short_jobs().await;
    many_cancelled_or_timed_out_jobs().await;

    assert_eq!(
        children_of_self(),
        Vec::new(),
        "no child process, zombie or not, is left"
    );
    assert_eq!(open_fds(), fds_before, "every pipe of every job is closed");
}

/// 100 MiB on stdout with a 1 MiB limit: the job finishes, the result is truncated, and the
/// pool's memory grows by about the limit, not the output.
async fn huge_output_keeps_memory_bounded() {
    let pool = ProcessPool::builder()
        .max_workers(1)
        .output_limit(MIB)
        .build(NativeSpawner::new())
        .unwrap();
    let peak_before = peak_rss_kib();
    let job = job("head", ["-c", &(100 * MIB).to_string(), "/dev/zero"]);
    let results = tokio::time::timeout(HANG, pool.run_all([job]))
        .await
        .unwrap()
        .unwrap();
    let growth_mib = (peak_rss_kib() - peak_before) / 1024;
    assert!(results[0].success(), "{}", results[0].outcome);
    assert_eq!(results[0].stdout.len(), MIB);
    assert!(results[0].stdout_truncated);
    assert!(
        growth_mib < 24,
        "peak memory grew by {growth_mib} MiB for a 1 MiB limit"
    );
}

/// 5,000 short jobs at 2 workers: every one answered once, in order.
async fn many_short_jobs() {
    let pool = NativeSpawner::pool(2).unwrap();
    let jobs = (0..5_000).map(|i| {
        if i % 100 == 0 {
            job("false", [] as [&str; 0])
        } else {
            job("true", [] as [&str; 0])
        }
    });
    let results = tokio::time::timeout(Duration::from_secs(300), pool.run_all(jobs))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(results.len(), 5_000);
    let ids: HashSet<_> = results.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 5_000, "each job answered once");
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.index, i);
        assert_eq!(r.success(), i % 100 != 0, "job {i}: {}", r.outcome);
    }
    let stats = pool.stats();
    assert_eq!(
        (stats.submitted, stats.succeeded, stats.failed),
        (5_000, 4_950, 50)
    );
}

/// 500 jobs that never end by themselves, each stopped at random by a timeout or a cancel
/// (queued or running): every one answered exactly once, as timed out or cancelled.
async fn many_cancelled_or_timed_out_jobs() {
    let pool = NativeSpawner::pool(8).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut handles: Vec<JobHandle> = Vec::new();
    let mut cancels = Vec::new();
    for i in 0..500 {
        let mut j = job("sh", ["-c", "sleep 100 & wait"]);
        if i % 2 == 0 {
            j = j.timeout(Duration::from_millis(5 + next(40)));
        }
        let handle = pool.submit(j).await.unwrap();
        if i % 2 == 1 {
            cancels.push((handles.len(), Duration::from_millis(next(60))));
        }
        handles.push(handle);
    }
    // Cancel the odd jobs after random delays, wherever they are by then.
    let mut order = cancels.clone();
    order.sort_by_key(|c| c.1);
    let start = tokio::time::Instant::now();
    for (index, after) in order {
        tokio::time::sleep_until(start + after).await;
        handles[index].cancel();
    }
    let mut ids = HashSet::new();
    for (i, handle) in handles.into_iter().enumerate() {
        let result = tokio::time::timeout(HANG, handle).await.expect("answered");
        assert!(ids.insert(result.id), "job {i} answered twice");
        match (i % 2, &result.outcome) {
            (0, Outcome::TimedOut) | (1, Outcome::Cancelled) => {}
            (_, other) => panic!("job {i} ended as {other}"),
        }
    }
    tokio::time::timeout(HANG, pool.drain()).await.unwrap();
    let stats = pool.stats();
    assert_eq!(stats.completed(), 500, "{stats:?}");
    assert_eq!(stats.timed_out + stats.cancelled, 500);
}
