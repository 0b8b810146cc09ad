//! Timeouts of jobs, and what a spawner is told. (Scripted jobs; see `common`.)

mod common;

use common::*;

#[tokio::test(start_paused = true)]
async fn the_pool_timeout_applies_unless_a_job_sets_its_own() {
    let probe = Probe::new();
    let ms = Duration::from_millis;
    let pool = builder(4).timeout(ms(200)).build(probe.spawner()).unwrap();
    let jobs = [
        script("default", &["hang"]),
        script("shorter", &["hang"]).timeout(ms(50)),
        script("longer", &["sleep:500", "out:slow"]).timeout(ms(1000)),
        script("quick", &["out:quick"]),
    ];
    let results = within(pool.run_all(jobs)).await.unwrap();

    assert!(results[0].timed_out(), "{}", results[0].outcome);
    assert_eq!(results[0].time_limit, Some(ms(200)));
    assert!(results[1].timed_out(), "{}", results[1].outcome);
    assert_eq!(results[1].time_limit, Some(ms(50)));
    assert!(results[2].success(), "{}", results[2].outcome);
    assert_eq!(results[2].time_limit, Some(ms(1000)));
    assert_eq!(results[2].stdout_lossy(), "slow");
    assert!(results[3].success(), "{}", results[3].outcome);
    assert_eq!(results[3].time_limit, Some(ms(200)));

    // Each timed-out job was told to stop at its own limit.
    assert_eq!(probe.cancelled_names(), ["default", "shorter"]);
    for (name, limit) in [("default", ms(200)), ("shorter", ms(50))] {
        let ran = probe.cancel_time(name) - probe.start_times(name)[0];
        assert_eq!(ran, limit, "{name} was stopped after {ran:?}");
    }
    assert!(matches!(
        results[1].error(),
        Some(JobError::TimedOut { index: 1, limit, .. }) if limit == ms(50)
    ));
    assert_eq!(pool.stats().timed_out, 2);
}

#[tokio::test(start_paused = true)]
async fn a_job_timeout_works_without_a_pool_default() {
    let probe = Probe::new();
    let pool = pool(&probe, 2);
    let limit = Duration::from_millis(250);
    let jobs = [
        script("forever", &["hang"]).timeout(limit),
        script("quick", &[]),
    ];
    let results = within(pool.run_all(jobs)).await.unwrap();

    assert!(results[0].timed_out(), "{}", results[0].outcome);
    assert_eq!(results[0].time_limit, Some(limit));
    assert_eq!(results[0].attempts, 1);
    assert!(results[1].success());
    assert_eq!(results[1].time_limit, None);
    assert_eq!(probe.cancelled_names(), ["forever"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_limit_and_kill_grace_reach_the_spawner() {
    for pool_timeout in [None, Some(Duration::from_secs(60))] {
        let probe = Probe::new();
        let mut builder = builder(2)
            .output_limit(1000)
            .kill_grace(Duration::from_millis(7));
        if let Some(limit) = pool_timeout {
            builder = builder.timeout(limit);
        }
        let pool = builder.build(probe.spawner()).unwrap();
        let jobs = [
            script("default", &["ctx"]),
            script("own", &["ctx"]).output_limit(5),
        ];
        let results = within(pool.run_all(jobs)).await.unwrap();
        let seen: Vec<_> = results.iter().map(JobResult::stdout_lossy).collect();
        assert_eq!(
            seen,
            ["limit=1000 grace=7ms", "limit=5 grace=7ms"],
            "with pool timeout {pool_timeout:?}"
        );
    }
}

/// The safety net under every backend: a spawner that does not return within the kill grace
/// (and a second more) after its attempt was stopped holds neither the worker slot nor the
/// result: the job is answered as it was stopped, and the slot runs the next job.
#[tokio::test(start_paused = true)]
async fn a_spawner_that_ignores_its_stop_holds_no_slot_and_no_result() {
    let probe = Probe::new();
    let grace = Duration::from_millis(500);
    let pool = builder(1).kill_grace(grace).build(probe.spawner()).unwrap();
    let limit = Duration::from_millis(200);
    let started = Instant::now();
    let result = within(
        pool.submit(script("deaf", &["deaf"]).timeout(limit))
            .await
            .unwrap(),
    )
    .await;
    let took = started.elapsed();
    assert!(result.timed_out(), "{}", result.outcome);
    assert!(
        took >= limit + grace && took <= limit + grace + Duration::from_millis(1100),
        "{took:?}"
    );
    // The same (only) slot runs a normal job next.
    let after = within(pool.submit(script("after", &["out:ok"])).await.unwrap()).await;
    assert_eq!(after.stdout_lossy(), "ok");

    // A cancel, answered the same way.
    let handle = pool.submit(script("deaf", &["deaf"])).await.unwrap();
    probe.wait_until("it runs", |p| p.running() == 1).await;
    let cancelled_at = Instant::now();
    handle.cancel();
    let result = within(handle).await;
    assert!(result.cancelled(), "{}", result.outcome);
    assert!(cancelled_at.elapsed() <= grace + Duration::from_millis(1100));

    // And a shutdown returns on time whatever the backend does.
    let _deaf = pool.submit(script("deaf", &["deaf"])).await.unwrap();
    probe.wait_until("it runs", |p| p.running() >= 1).await;
    let stopping = Instant::now();
    let stats = within(pool.shutdown(Duration::from_millis(100))).await;
    let took = stopping.elapsed();
    assert!(
        took <= Duration::from_millis(100) + grace + Duration::from_millis(1100),
        "{took:?}"
    );
    assert_eq!(stats.completed(), stats.submitted, "{stats}");
}

/// A backend may hold a job's timeout while it does work that is not the job's (a compile many
/// jobs share): that time is not counted, the rest is, and a cancel still stops it.
#[tokio::test(start_paused = true)]
async fn a_held_timeout_does_not_count_the_backends_own_work() {
    let probe = Probe::new();
    let pool = pool(&probe, 1);
    let limit = Duration::from_secs(1);
    let job = script("compiled", &["held:5000", "sleep:900"]).timeout(limit);
    let result = within(pool.submit(job).await.unwrap()).await;
    assert!(result.success(), "{}", result.outcome);
    let job = script("slow", &["held:5000", "sleep:1100"]).timeout(limit);
    let result = within(pool.submit(job).await.unwrap()).await;
    assert!(result.timed_out(), "{}", result.outcome);
    let handle = pool
        .submit(script("held", &["held:60000"]).timeout(limit))
        .await
        .unwrap();
    probe.wait_until("it runs", |p| p.running() == 1).await;
    let cancelled_at = Instant::now();
    handle.cancel();
    assert!(within(handle).await.cancelled());
    assert!(cancelled_at.elapsed() < Duration::from_millis(10));
}
