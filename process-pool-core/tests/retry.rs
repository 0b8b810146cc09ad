//! Retries of jobs: attempts, backoff, which outcomes, and cancels during a retry. (Scripted jobs; see `common`.)

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_failing_twice_then_succeeding_reports_three_attempts() {
    let probe = Probe::new();
    let retries: Log<(String, u32, Option<i32>)> = Log::default();
    let pool = {
        let retries = Arc::clone(&retries);
        builder(2)
            .retry(RetryPolicy::attempts(3))
            .on_retry(move |retry| {
                let failed = retry.failed;
                let entry = (
                    failed.program.clone(),
                    retry.next_attempt,
                    failed.exit_code(),
                );
                retries.lock().unwrap().push(entry);
            })
            .build(probe.spawner())
            .unwrap()
    };
    let flaky = script("flaky", &["fail-first:2", "out:done"]);
    let results = within(pool.run_all([flaky])).await.unwrap();

    assert!(results[0].success(), "{}", results[0].outcome);
    assert_eq!(results[0].attempts, 3);
    assert_eq!(results[0].stdout_lossy(), "done");
    let stats = pool.stats();
    assert_eq!(stats.retried, 2);
    assert_eq!(stats.attempts, 3);
    assert_eq!((stats.succeeded, stats.failed), (1, 0));
    assert_eq!(
        read(&retries),
        [("flaky".into(), 2, Some(1)), ("flaky".into(), 3, Some(1))]
    );
}

#[tokio::test(start_paused = true)]
async fn retries_wait_out_their_backoff() {
    let probe = Probe::new();
    let delays: Log<Duration> = Log::default();
    let backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10));
    let pool = {
        let delays = Arc::clone(&delays);
        builder(2)
            .retry(RetryPolicy::attempts(3).backoff(backoff))
            .on_retry(move |retry| delays.lock().unwrap().push(retry.delay))
            .build(probe.spawner())
            .unwrap()
    };
    let began = Instant::now();
    let handle = pool
        .submit(script("flaky", &["fail-first:2"]))
        .await
        .unwrap();
    let result = within(handle).await;

    assert!(result.success(), "{}", result.outcome);
    assert_eq!(result.attempts, 3);
    let ms = Duration::from_millis;
    assert_eq!(read(&delays), [ms(100), ms(200)]);
    let starts = probe.start_times("flaky");
    assert_eq!(starts.len(), 3);
    assert!(
        starts[1] - starts[0] >= ms(100),
        "{:?}",
        starts[1] - starts[0]
    );
    assert!(
        starts[2] - starts[1] >= ms(200),
        "{:?}",
        starts[2] - starts[1]
    );
    assert!(began.elapsed() >= ms(300));
}

#[tokio::test(start_paused = true)]
async fn retry_on_decides_which_outcomes_are_retried() {
    let probe = Probe::new();
    let pool = pool(&probe, 5);
    let limit = Duration::from_millis(50);
    let no_timeouts =
        RetryPolicy::attempts(3).on(RetryOn::FAILURE | RetryOn::CRASH | RetryOn::TRAP);
    let spawn_failures = RetryPolicy::attempts(3).on(RetryOn::SPAWN_FAILURE);
    let jobs = [
        script("timeout", &["hang"])
            .timeout(limit)
            .retry(no_timeouts.clone()),
        script("exit", &["exit:1"]).retry(no_timeouts.clone()),
        script("spawn", &["spawn-error"]).retry(no_timeouts),
        script("timeout-retried", &["hang"])
            .timeout(limit)
            .retry(RetryPolicy::attempts(2)),
        script("spawn-retried", &["spawn-error"]).retry(spawn_failures),
    ];
    let results = within(pool.run_all(jobs)).await.unwrap();

    let attempts: Vec<_> = results
        .iter()
        .map(|r| (r.program.as_str(), r.attempts))
        .collect();
    assert_eq!(
        attempts,
        [
            ("timeout", 1),
            ("exit", 3),
            ("spawn", 1),
            ("timeout-retried", 2),
            ("spawn-retried", 3),
        ]
    );
    assert!(results[0].timed_out() && results[3].timed_out());
    assert_eq!(results[1].exit_code(), Some(1));
    assert!(matches!(results[2].outcome, Outcome::SpawnFailed(_)));
    assert!(matches!(results[4].outcome, Outcome::SpawnFailed(_)));
    for result in &results {
        let starts = probe.start_times(&result.program).len();
        assert_eq!(starts, result.attempts as usize, "{}", result.program);
    }
    assert_eq!(pool.stats().retried, 2 + 1 + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_job_is_never_retried() {
    let probe = Probe::new();
    // Signals are retried by default and a stopped job reports SIGTERM: only the cancel itself
    // can keep it from running again.
    let pool = builder(1)
        .retry(RetryPolicy::attempts(5))
        .build(probe.spawner())
        .unwrap();
    let handle = pool.submit(script("victim", &["hang"])).await.unwrap();
    probe
        .wait_until("the victim runs", |p| p.started() == 1)
        .await;
    handle.cancel();
    let result = within(handle).await;
    within(pool.drain()).await;

    assert!(result.cancelled(), "{}", result.outcome);
    assert_eq!(result.attempts, 1);
    assert_eq!(probe.started(), 1);
    assert_eq!(pool.stats().retried, 0);
    assert_eq!(pool.stats().cancelled, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_job_waiting_out_its_backoff_answers_it_without_the_wait() {
    let probe = Probe::new();
    let pool = pool(&probe, 1);
    let hour = Backoff::fixed(Duration::from_secs(3600));
    let failing = script("failing", &["exit:1"]).retry(RetryPolicy::attempts(3).backoff(hour));
    let failing = pool.submit(failing).await.unwrap();
    let marker = pool
        .submit(script("marker", &["gate:marker"]))
        .await
        .unwrap();
    // With one worker, `marker` starts only once `failing` has given the worker up to wait.
    probe
        .wait_until("the marker runs", |p| p.started() == 2)
        .await;
    assert_eq!(pool.stats().retried, 1);

    failing.cancel();
    let result = within(failing).await;
    assert!(result.cancelled(), "{}", result.outcome);
    assert_eq!(result.attempts, 1);

    probe.open("marker");
    assert!(within(marker).await.success());
    assert_eq!(probe.start_order(), ["failing", "marker"]);
    assert_eq!(pool.stats().cancelled, 1);
}

/// A cancel that lands while a failed attempt is being handed over to its retry (here from the
/// `on_retry` hook, which makes the timing exact) must still end the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_as_its_retry_is_scheduled_is_not_retried() {
    let probe = Probe::new();
    let victim: Arc<Mutex<Option<JobHandle>>> = Arc::default();
    let retried = Arc::new(Notify::new());
    let pool = {
        let (victim, retried) = (Arc::clone(&victim), Arc::clone(&retried));
        builder(1)
            .on_retry(move |_| {
                if let Some(handle) = victim.lock().unwrap().as_ref() {
                    handle.cancel();
                }
                retried.notify_one();
            })
            .build(probe.spawner())
            .unwrap()
    };
    let job = script("victim", &["gate:go", "exit:1"]).retry(RetryPolicy::attempts(2));
    let handle = pool.submit(job).await.unwrap();
    *victim.lock().unwrap() = Some(handle);
    // Let a second attempt through too, so that a retry would show as a second exit.
    probe.release("go", 2);
    within(retried.notified()).await;
    let handle = victim.lock().unwrap().take().expect("the handle");
    let result = within(handle).await;

    assert!(
        result.cancelled(),
        "cancelled before its retry, yet it ended as `{}` after {} attempts",
        result.outcome,
        result.attempts
    );
    assert_eq!(result.attempts, 1);
    assert_eq!(probe.started(), 1, "the cancelled job was started again");
}
