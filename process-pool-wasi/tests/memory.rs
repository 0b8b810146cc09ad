//! The linear-memory cap: `memhog` is refused at it and the host's memory stays bounded. In a
//! test binary of its own, so that no other test moves the process's peak memory.

mod common;

use std::time::Duration;

use process_pool_core::backend::conformance::memory;
use process_pool_core::{Job, Outcome, ProcessPool};
use process_pool_wasi::WasiSpawner;

const HANG: Duration = Duration::from_secs(60);
const MIB: u64 = 1 << 20;

/// The MiB a `memhog` got before it was refused.
fn mib_got(stdout: &str) -> u64 {
    stdout
        .trim()
        .strip_prefix("refused after ")
        .and_then(|s| s.strip_suffix(" MiB"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected memhog output: {stdout:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memhog_is_refused_at_the_cap_and_the_host_stays_bounded() {
    const CAP: u64 = 48 * MIB;
    let spawner = WasiSpawner::builder()
        .max_instances(2)
        .max_memory(CAP as usize)
        .build()
        .unwrap();
    let pool = ProcessPool::new(spawner, 2).unwrap();
    // Compile both builds first, so the peak below is the guests' memory, not the compiler's.
    let warm = [common::guest("hello"), common::component("hello")].map(Job::new);
    pool.run_all(warm).await.unwrap();
    // The host's peak is read where the OS tells it (Linux); elsewhere only the cap is checked.
    let before = memory::peak_rss();

    let jobs = (0..10).flat_map(|_| {
        [
            Job::new(common::guest("memhog")),
            Job::new(common::component("memhog")),
        ]
    });
    let results = tokio::time::timeout(HANG, pool.run_all(jobs))
        .await
        .unwrap()
        .unwrap();
    for result in &results {
        assert!(
            result.success(),
            "{}: {}",
            result.outcome,
            result.stderr_lossy()
        );
        let got = mib_got(&result.stdout_lossy()) * MIB;
        assert!(
            got > CAP / 2 && got <= CAP,
            "refused after {} MiB with a cap of {} MiB",
            got / MIB,
            CAP / MIB
        );
    }
    // Two guests at once, each at most the cap: the host grew by no more than that, plus
    // slack for the allocator and the runtime.
    let (Some(before), Some(after)) = (before, memory::peak_rss()) else {
        return;
    };
    let grew = after.saturating_sub(before);
    assert!(
        grew <= 2 * CAP + 32 * MIB,
        "the host's peak memory grew by {} MiB for two guests capped at {} MiB",
        grew / MIB,
        CAP / MIB
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_trap_on_grow_failure_memhog_traps_at_the_cap() {
    let spawner = WasiSpawner::builder()
        .max_memory(16 << 20)
        .trap_on_grow_failure(true)
        .build()
        .unwrap();
    let pool = ProcessPool::new(spawner, 1).unwrap();
    let results = tokio::time::timeout(HANG, pool.run_all([Job::new(common::guest("memhog"))]))
        .await
        .unwrap()
        .unwrap();
    let Outcome::Trapped(message) = &results[0].outcome else {
        panic!("expected a trap, got {}", results[0].outcome);
    };
    assert!(message.contains("memory"), "{message}");
}
