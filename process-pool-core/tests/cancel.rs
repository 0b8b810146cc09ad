//! Cancelling a job: queued, running, or finished. (Scripted jobs; see `common`.)

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_answers_queued_and_running_jobs_and_keeps_a_finished_result() {
    let probe = Probe::new();
    let pool = pool(&probe, 1);
    let running = pool.submit(script("running", &["hang"])).await.unwrap();
    probe
        .wait_until("`running` runs", |p| p.started() == 1)
        .await;

    // A queued job is answered by the cancel itself, while the only worker is still busy.
    let queued = pool.submit(script("queued", &[])).await.unwrap();
    queued.cancel();
    let result = queued.now_or_never().expect("answered at once");
    assert!(result.cancelled(), "{}", result.outcome);
    assert_eq!(result.attempts, 0);
    assert_eq!(pool.stats().running, 1);
    assert_eq!(probe.start_order(), ["running"]);
    assert!(probe.cancelled_names().is_empty());

    // A running job is stopped and answered.
    running.cancel();
    let result = within(running).await;
    assert!(result.cancelled(), "{}", result.outcome);
    assert_eq!(result.attempts, 1);
    assert_eq!(probe.cancelled_names(), ["running"]);

    // A finished job keeps its result.
    let done = pool
        .submit(script("done", &["out:kept", "exit:3"]))
        .await
        .unwrap();
    within(pool.drain()).await;
    done.cancel();
    let result = within(done).await;
    assert_eq!(result.exit_code(), Some(3));
    assert_eq!(result.stdout_lossy(), "kept");

    let stats = pool.stats();
    assert_eq!((stats.cancelled, stats.failed), (2, 1));
    assert_eq!(stats.completed(), stats.submitted);
}
