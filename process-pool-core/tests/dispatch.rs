//! The job pool's dispatch: priority order, the worker limit, resizing, pause and resume. (Scripted jobs; see `common`.)

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_jobs_start_highest_priority_first_and_fifo_among_equals() {
    let probe = Probe::new();
    let pool = pool(&probe, 1);
    let blocker = block_the_worker(&pool, &probe).await;

    let queued = [
        ("a", 0),
        ("b", 5),
        ("c", 0),
        ("d", 5),
        ("e", -1),
        ("f", 10),
        ("g", 5),
    ];
    let mut handles = Vec::new();
    for (name, priority) in queued {
        let job = script(name, &[]).priority(priority);
        handles.push(pool.submit(job).await.unwrap());
    }
    assert_eq!(pool.queue_len(), queued.len());

    probe.open("blocker");
    assert!(within(blocker).await.success());
    for handle in handles {
        assert!(within(handle).await.success());
    }
    assert_eq!(
        probe.start_order(),
        ["blocker", "f", "b", "d", "g", "a", "c", "e"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_job_goes_back_ahead_of_jobs_submitted_after_it() {
    let probe = Probe::new();
    let pool = pool(&probe, 1);
    let blocker = block_the_worker(&pool, &probe).await;
    let flaky = script("flaky", &["fail-first:1"]).retry(RetryPolicy::attempts(2));
    let mut handles = vec![blocker, pool.submit(flaky).await.unwrap()];
    for name in ["later-1", "later-2"] {
        handles.push(pool.submit(script(name, &[])).await.unwrap());
    }

    probe.open("blocker");
    for handle in handles {
        assert!(within(handle).await.success());
    }
    assert_eq!(
        probe.start_order(),
        ["blocker", "flaky", "flaky", "later-1", "later-2"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_never_exceeds_max_workers() {
    for workers in [1, 2, 8] {
        let probe = Probe::new();
        let pool = pool(&probe, workers);
        // The first `workers` jobs wait for each other, so the limit is surely reached; the
        // rest yield a little so that jobs overlap.
        let meet = format!("meet:{workers}");
        let jobs = (0..200).map(|i| {
            if i < workers {
                script("first", &[&meet])
            } else {
                script("job", &["yield:3"])
            }
        });
        let results = within(pool.run_all(jobs)).await.unwrap();
        assert!(results.iter().all(JobResult::success));
        assert_eq!(
            probe.peak(),
            workers,
            "peak concurrency with max_workers = {workers}"
        );
        assert_eq!(probe.started(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_max_workers_grows_at_once_and_shrinks_without_stopping_running_jobs() {
    let probe = Probe::new();
    let pool = pool(&probe, 1);
    let mut handles = Vec::new();
    for i in 0..5 {
        let name = format!("j{i}");
        let job = script(&name, &[&format!("gate:{name}")]);
        handles.push(pool.submit(job).await.unwrap());
    }
    probe.wait_until("j0 runs", |p| p.running() == 1).await;
    assert_eq!(pool.queue_len(), 4);

    // Growing starts queued jobs in the call itself.
    pool.set_max_workers(4).unwrap();
    assert_eq!(pool.max_workers(), 4);
    assert_eq!(pool.stats().running, 4);
    assert_eq!(pool.queue_len(), 1);
    probe
        .wait_until("four jobs run", |p| p.running() == 4)
        .await;

    // Shrinking stops nothing: the four go on, and j4 waits until fewer than two run.
    pool.set_max_workers(2).unwrap();
    assert_eq!(pool.max_workers(), 2);
    assert_eq!(pool.stats().running, 4);
    let mut handles = handles.into_iter();
    for name in ["j0", "j1"] {
        probe.open(name);
        let result = within(handles.next().unwrap()).await;
        assert!(result.success(), "{name}: {}", result.outcome);
    }
    assert_eq!(pool.stats().running, 2);
    assert_eq!(pool.queue_len(), 1);
    assert_eq!(probe.started(), 4, "j4 started above the lowered limit");

    probe.open("j2");
    probe.wait_until("j4 runs", |p| p.started() == 5).await;
    assert_eq!(pool.stats().running, 2);
    probe.open("j3");
    probe.open("j4");
    for handle in handles {
        assert!(within(handle).await.success());
    }
    assert!(
        probe.cancelled_names().is_empty(),
        "a running job was stopped"
    );
    assert_eq!(probe.peak(), 4);

    // Later jobs respect the lower limit.
    probe.reset_peak();
    let jobs = (0..50).map(|i| {
        if i < 2 {
            script("first", &["meet:2"])
        } else {
            script("job", &["yield:3"])
        }
    });
    let results = within(pool.run_all(jobs)).await.unwrap();
    assert!(results.iter().all(JobResult::success));
    assert_eq!(probe.peak(), 2);

    assert_eq!(pool.set_max_workers(0), Err(ConfigError::ZeroWorkers));
    assert_eq!(pool.max_workers(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_pool_queues_jobs_until_resumed_and_lets_running_ones_finish() {
    let probe = Probe::new();
    let pool = pool(&probe, 2);
    let blocker = block_the_worker(&pool, &probe).await;
    pool.pause();
    let mut handles = Vec::new();
    for name in ["a", "b", "c"] {
        handles.push(pool.submit(script(name, &[])).await.unwrap());
    }
    // A worker is free, yet nothing starts.
    let stats = pool.stats();
    assert_eq!((stats.running, stats.queued, stats.paused), (1, 3, true));
    // The running job is not disturbed.
    probe.open("blocker");
    assert!(within(blocker).await.success());
    assert_eq!(pool.stats().queued, 3);
    pool.resume();
    for handle in handles {
        assert!(within(handle).await.success());
    }
    // Two workers: a, b and c start in some order, all after the blocker.
    let order = probe.start_order();
    assert_eq!(order[0], "blocker");
    let mut rest = order[1..].to_vec();
    rest.sort();
    assert_eq!(rest, ["a", "b", "c"]);
    let stats = pool.stats();
    assert!(!stats.paused);
    assert_eq!((stats.wait.count, stats.run.count), (4, 4));
}

#[tokio::test(start_paused = true)]
async fn pause_for_resumes_after_its_time_unless_overtaken() {
    let probe = Probe::new();
    let pool = pool(&probe, 1);
    pool.pause_for(Duration::from_secs(3));
    let started = tokio::time::Instant::now();
    let handle = pool.submit(script("later", &[])).await.unwrap();
    assert!(within(handle).await.success());
    assert!(started.elapsed() >= Duration::from_secs(3));
    // Counted once each (the times themselves are wall-clock, not the test's paused clock).
    let stats = pool.stats();
    assert_eq!((stats.wait.count, stats.run.count), (1, 1));

    // A pause after a timed one: the timer does not end it.
    pool.pause_for(Duration::from_secs(1));
    pool.pause();
    let held = pool.submit(script("held", &[])).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        pool.stats().queued,
        1,
        "still paused after the timed pause ran out"
    );
    pool.resume();
    assert!(within(held).await.success());
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_hint_pauses_dispatch_before_the_retry() {
    let probe = Probe::new();
    let pool = builder(2)
        .retry(RetryPolicy::attempts(3))
        .pause_when(|result| (result.exit_code() == Some(1)).then_some(Duration::from_secs(3)))
        .build(probe.spawner())
        .unwrap();
    let started = tokio::time::Instant::now();
    let results = within(pool.run_all([
        script("limited", &["fail-first:1", "out:done"]),
        script("other", &["out:fine"]),
    ]))
    .await
    .unwrap();
    assert!(results[0].success() && results[1].success());
    assert_eq!(results[0].attempts, 2);
    // The retry waited out the pause the failed attempt asked for.
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert!(!pool.stats().paused);
}
