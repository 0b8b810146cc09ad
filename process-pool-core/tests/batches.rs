//! Batches of jobs: run_all, run_all_checked, run_all_fail_fast, map and stream. (Scripted jobs; see `common`.)

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_checked_reports_the_first_failure_in_input_order() {
    let probe = Probe::new();
    let pool = pool(&probe, 4);
    let ok = pool
        .run_all_checked((0..3).map(|i| script("ok", &[&format!("out:{i}")])))
        .await
        .unwrap();
    let outs: Vec<_> = ok.iter().map(JobResult::stdout_lossy).collect();
    assert_eq!(outs, ["0", "1", "2"]);

    // Job 2 fails first in time; job 1 fails later, but comes first in the input.
    let jobs = [
        script("ok", &[]),
        script("late", &["gate:late", "exit:3"]),
        script("early", &["exit:4"]),
        script("ok", &[]),
    ];
    let batch = tokio::spawn({
        let pool = pool.clone();
        async move { pool.run_all_checked(jobs).await }
    });
    probe
        .wait_until("all but `late` have ended", |p| p.ended() == 3 + 3)
        .await;
    probe.open("late");
    let error = within(batch).await.unwrap().unwrap_err();

    assert!(
        matches!(
            &error,
            JobError::ProcessFailed { index: 1, program, exit_code: Some(3), .. } if program == "late"
        ),
        "{error:?}"
    );
    assert_eq!(
        probe.ended(),
        3 + 4,
        "every job of the batch ran to its end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_fail_fast_cancels_the_rest_and_returns_the_first_failure() {
    let probe = Probe::new();
    let outcomes: Log<(usize, Outcome)> = Log::default();
    let pool = {
        let outcomes = Arc::clone(&outcomes);
        builder(2)
            .on_complete(move |r| outcomes.lock().unwrap().push((r.index, r.outcome.clone())))
            .build(probe.spawner())
            .unwrap()
    };
    let jobs = [
        script("running", &["hang"]),
        script("fails", &["gate:go", "exit:5"]),
        script("queued-2", &["hang"]),
        script("queued-3", &["hang"]),
        script("queued-4", &["hang"]),
    ];
    let batch = tokio::spawn({
        let pool = pool.clone();
        async move { pool.run_all_fail_fast(jobs).await }
    });
    probe.wait_until("two jobs run", |p| p.started() == 2).await;
    probe.open("go");
    let error = within(batch).await.unwrap().unwrap_err();

    assert!(
        matches!(
            &error,
            JobError::ProcessFailed {
                index: 1,
                exit_code: Some(5),
                ..
            }
        ),
        "{error:?}"
    );
    // Everything was stopped and reaped before the batch returned.
    assert_eq!(probe.running(), 0);
    let mut outcomes = read(&outcomes);
    outcomes.sort_by_key(|(index, _)| *index);
    // The batch keeps at most 2 × 2 workers of its jobs in the pool: job 4 was still waiting
    // to be submitted at the failure, and never was.
    assert_eq!(
        outcomes.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    for (index, outcome) in &outcomes {
        if *index == 1 {
            assert!(matches!(outcome, Outcome::Exited(5)), "{outcome}");
        } else {
            assert!(
                matches!(outcome, Outcome::Cancelled),
                "job {index}: {outcome}"
            );
        }
    }
    // The running job was told to stop, and so was any queued job that got a worker before its
    // cancel reached it: every job that started, but the failed one.
    let cancelled = probe.cancelled_names();
    assert!(cancelled.contains(&"running".to_owned()), "{cancelled:?}");
    assert_eq!(probe.started(), cancelled.len() + 1, "{cancelled:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_over_an_endless_iterator_submits_only_a_window() {
    let probe = Probe::new();
    let pool = pool(&probe, 2);
    let endless = (0..).map(|i| script(&format!("job-{i}"), &[]));
    let mut results = pool.stream(endless);
    for _ in 0..5 {
        assert!(within(results.next()).await.unwrap().unwrap().success());
    }
    let submitted = pool.stats().submitted;
    assert!(
        submitted <= 5 + 2 * 2,
        "{submitted} jobs submitted for 5 results taken with 2 workers"
    );
    drop(results);
    within(pool.drain()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_on_a_bounded_queue_stops_submitting_at_the_first_failure() {
    let probe = Probe::new();
    let pool = builder(1).queue_capacity(1).build(probe.spawner()).unwrap();
    let mut jobs = vec![script("fails", &["exit:3"])];
    jobs.extend((0..30).map(|i| script(&format!("later-{i}"), &["yield:1"])));
    let outcome = within(pool.run_all_fail_fast(jobs)).await;
    assert!(
        matches!(
            outcome,
            Err(JobError::ProcessFailed {
                index: 0,
                exit_code: Some(3),
                ..
            })
        ),
        "{outcome:?}"
    );
    let ran = probe.started();
    assert!(
        ran <= 4,
        "{ran} jobs ran after the first failure of a fail-fast batch"
    );
    within(pool.drain()).await;
    assert_eq!(pool.stats().running, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_yields_results_in_completion_order_each_index_once() {
    let probe = Probe::new();
    let pool = pool(&probe, 2);
    let jobs = vec![
        script("slow", &["gate:slow", "out:slow"]),
        script("fast", &["out:fast"]),
        script("faster", &["out:faster"]),
    ];
    let mut stream = pool.stream(jobs);
    let mut next = async || {
        let item = within(stream.next()).await.expect("one more result");
        item.expect("the job was accepted")
    };

    let first = next().await;
    let second = next().await;
    assert_eq!((first.index, first.stdout_lossy()), (1, "fast".into()));
    assert_eq!((second.index, second.stdout_lossy()), (2, "faster".into()));
    probe.open("slow");
    let third = next().await;
    assert_eq!((third.index, third.stdout_lossy()), (0, "slow".into()));
    assert!(within(stream.next()).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_stream_cancels_its_jobs() {
    let probe = Probe::new();
    let pool = pool(&probe, 2);
    let jobs: Vec<_> = (0..3)
        .map(|i| script(&format!("h{i}"), &["hang"]))
        .collect();
    let mut stream = pool.stream(jobs);
    // The first poll submits the jobs; none of them can end.
    assert!(stream.next().now_or_never().is_none());
    probe.wait_until("two jobs run", |p| p.started() == 2).await;
    drop(stream);
    within(pool.drain()).await;

    let stats = pool.stats();
    assert_eq!((stats.submitted, stats.cancelled), (3, 3));
    assert_eq!(probe.running(), 0);
    assert_eq!(
        probe.cancelled_names().len(),
        probe.started(),
        "every job that started was told to stop"
    );
}

/// Defect 8: a stream's window saturates: a pool of `usize::MAX` workers still streams.
#[tokio::test]
async fn a_stream_on_a_pool_of_usize_max_workers_submits_and_ends() {
    let probe = Probe::new();
    let pool = pool(&probe, usize::MAX);
    let results: Vec<_> = within(
        pool.stream((0..10).map(|i| script("s", &[&format!("out:{i}")])))
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(results.len(), 10);
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(JobResult::success))
    );
}
