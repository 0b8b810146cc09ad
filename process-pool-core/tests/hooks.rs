//! Hooks of the job pool: called once per job, before the result, panics contained. (Scripted jobs; see `common`.)

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_complete_and_on_error_run_once_per_job_before_run_all_returns() {
    let probe = Probe::new();
    let completed: Log<JobId> = Log::default();
    let errors: Log<JobId> = Log::default();
    let pool = {
        let (completed, errors) = (Arc::clone(&completed), Arc::clone(&errors));
        builder(3)
            .on_complete(move |result| completed.lock().unwrap().push(result.id))
            .on_error(move |result| errors.lock().unwrap().push(result.id))
            .build(probe.spawner())
            .unwrap()
    };
    let jobs = (0..24).map(|i| match i % 4 {
        0 => script("ok", &["out:ok"]),
        1 => script("exit", &["exit:2"]),
        2 => script("spawn", &["spawn-error"]),
        _ => script("panic", &["panic"]),
    });
    let results = within(pool.run_all(jobs)).await.unwrap();

    let sorted = |mut ids: Vec<JobId>| {
        ids.sort();
        ids
    };
    let all = sorted(results.iter().map(|r| r.id).collect());
    let failed = sorted(
        results
            .iter()
            .filter(|r| !r.success())
            .map(|r| r.id)
            .collect(),
    );
    assert_eq!(failed.len(), 18);
    assert_eq!(sorted(read(&completed)), all);
    assert_eq!(sorted(read(&errors)), failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_hooks_lose_no_result_and_the_pool_goes_on() {
    let probe = Probe::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let pool = {
        let (on_start, on_complete, on_error) =
            (Arc::clone(&calls), Arc::clone(&calls), Arc::clone(&calls));
        builder(2)
            .on_start(move |_| {
                on_start.fetch_add(1, SeqCst);
                panic!("on_start hook panics");
            })
            .on_complete(move |_| {
                on_complete.fetch_add(1, SeqCst);
                panic!("on_complete hook panics");
            })
            .on_error(move |_| {
                on_error.fetch_add(1, SeqCst);
                panic!("on_error hook panics");
            })
            .build(probe.spawner())
            .unwrap()
    };
    let jobs = (0..20).map(|i| {
        let out = format!("out:{i}");
        if i % 5 == 0 {
            script("fails", &[&out, "exit:1"])
        } else {
            script("ok", &[&out])
        }
    });
    let results = within(pool.run_all(jobs)).await.unwrap();

    assert_eq!(results.len(), 20);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result.stdout_lossy(), i.to_string());
        assert_eq!(result.success(), i % 5 != 0, "{}", result.outcome);
    }
    // Each job: on_start and on_complete, and on_error for the four failures.
    assert_eq!(calls.load(SeqCst), 20 + 20 + 4);

    // The pool still runs jobs, at full concurrency: two jobs that wait for each other both end.
    probe.reset_peak();
    let results = within(pool.run_all([meet_pair(), meet_pair()]))
        .await
        .unwrap();
    assert!(results.iter().all(JobResult::success));
    assert_eq!(probe.peak(), 2);
    let stats = pool.stats();
    assert_eq!((stats.submitted, stats.completed()), (22, 22));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_spawner_fails_only_its_job_and_the_pool_keeps_its_workers() {
    let probe = Probe::new();
    let pool = pool(&probe, 2);
    let jobs = (0..9).map(|i| {
        if i % 3 == 0 {
            script("panics", &["panic"])
        } else {
            script("ok", &[&format!("out:{i}")])
        }
    });
    let results = within(pool.run_all(jobs)).await.unwrap();

    for (i, result) in results.iter().enumerate() {
        if i % 3 == 0 {
            let Outcome::SpawnFailed(error) = &result.outcome else {
                panic!("job {i}: expected SpawnFailed, got {}", result.outcome);
            };
            assert!(error.to_string().contains("panicked"), "{error}");
        } else {
            assert!(result.success(), "job {i}: {}", result.outcome);
            assert_eq!(result.stdout_lossy(), i.to_string());
        }
    }
    assert_eq!(pool.stats().failed, 3);

    // Both workers are still there: two jobs that wait for each other both end.
    probe.reset_peak();
    let results = within(pool.run_all([meet_pair(), meet_pair()]))
        .await
        .unwrap();
    assert!(results.iter().all(JobResult::success));
    assert_eq!(probe.peak(), 2);
}
