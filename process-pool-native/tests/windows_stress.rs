//! 1,000 native jobs on Windows, none lost and none left running, checked by a Toolhelp
//! snapshot of the system's processes. A binary of its own, so that the processes it lists
//! are this test's only.
#![cfg(windows)]

mod common;

use common::windows::children_of_self;
use common::{HANG, test_job};
use process_pool_core::Outcome;
use process_pool_native::NativeSpawner;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_jobs_none_lost_none_left_running() {
    let pool = NativeSpawner::pool(4).unwrap();
    let jobs = (0..1000).map(|i| test_job().args(["print", &i.to_string(), ""]));
    let results = tokio::time::timeout(HANG * 10, pool.run_all(jobs))
        .await
        .expect("no hang")
        .unwrap();
    assert_eq!(results.len(), 1000);
    for (i, result) in results.iter().enumerate() {
        assert!(
            matches!(result.outcome, Outcome::Exited(0)),
            "job {i}: {}",
            result.outcome
        );
        assert_eq!(result.stdout_lossy(), i.to_string(), "job {i}'s own output");
    }
    let left = children_of_self();
    assert!(left.is_empty(), "processes left running: {left:?}");
}
