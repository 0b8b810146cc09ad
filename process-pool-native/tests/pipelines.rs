//! Native pipelines and `SIGPIPE`: a stage killed for writing to a closed pipe is the effect
//! of its reader closing it, never the cause that stops the others.

// Unix only: `SIGPIPE` and the `sh` jobs.
#![cfg(unix)]

use std::time::Duration;

use process_pool_core::{Job, Outcome, Pipeline, ProcessPool};
use process_pool_native::NativeSpawner;

fn pool() -> ProcessPool {
    ProcessPool::builder()
        .max_workers(3)
        .build(NativeSpawner::new())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_killed_by_sigpipe_does_not_stop_the_stage_that_closed_its_pipe() {
    // The middle stage closes its stdin, so `yes` dies of SIGPIPE at once, and fails a while
    // later by itself: its exit code is the pipeline's, not the `yes` that it killed.
    let pool = pool();
    let run = Pipeline::new([
        Job::new("yes"),
        Job::new("sh").args(["-c", "exec 0<&-; sleep 1; exit 3"]),
        Job::new("cat"),
    ])
    .run(&pool);
    let run = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("ended")
        .unwrap();
    assert!(
        matches!(run.stages[0].outcome, Outcome::Signaled(13)),
        "{:?}",
        run.stages
    );
    assert_eq!(run.failed_stage, Some(1), "{:?}", run.stages);
    assert!(matches!(run.outcome, Outcome::Exited(3)), "{}", run.outcome);
    // `cat` sees the end of its input as the middle stage exits: it ends, or is stopped.
    let last = &run.stages[2];
    assert!(last.success() || last.cancelled(), "{last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yes_into_head_is_the_first_stage_s_sigpipe_as_under_pipefail() {
    let run = Pipeline::new([Job::new("yes"), Job::new("head").arg("-n1")])
        .run(&pool())
        .await
        .unwrap();
    assert_eq!(run.stages[1].stdout_lossy(), "y\n");
    assert!(run.stages[1].success(), "{:?}", run.stages[1]);
    assert_eq!(run.failed_stage, Some(0));
    assert!(
        matches!(run.outcome, Outcome::Signaled(13)),
        "{}",
        run.outcome
    );
}
