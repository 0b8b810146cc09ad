//! The job pool's life: a bounded queue, close, drain and shutdown. (Scripted jobs; see `common`.)

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_bounded_queue_refuses_try_submit_and_makes_submit_wait() {
    let probe = Probe::new();
    let pool = builder(1).queue_capacity(2).build(probe.spawner()).unwrap();
    let blocker = block_the_worker(&pool, &probe).await;
    let a = pool.try_submit(script("a", &[])).unwrap();
    let b = pool.try_submit(script("b", &[])).unwrap();
    match pool.try_submit(script("c", &[])) {
        Err(JobError::QueueFull { capacity }) => assert_eq!(capacity, 2),
        other => panic!("expected QueueFull, got {other:?}"),
    }

    let mut waiting = pin!(pool.submit(script("d", &[])));
    assert!(poll!(waiting.as_mut()).is_pending(), "submit did not wait");
    probe.open("blocker");
    let d = within(waiting).await.unwrap();

    for handle in [blocker, a, b, d] {
        assert!(within(handle).await.success());
    }
    assert_eq!(probe.start_order(), ["blocker", "a", "b", "d"]);
    assert_eq!(pool.stats().submitted, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_closed_while_waiting_for_room_fails_and_leaves_nothing_behind() {
    let probe = Probe::new();
    let pool = builder(1).queue_capacity(1).build(probe.spawner()).unwrap();
    let blocker = block_the_worker(&pool, &probe).await;
    // "a" takes the one place in the queue; the batch then waits for room for "b".
    let jobs = ["a", "b", "c"].map(|name| script(name, &[]));
    let mut batch = pin!(pool.run_all(jobs));
    assert!(poll!(batch.as_mut()).is_pending());
    assert_eq!(pool.queue_len(), 1);

    pool.close();
    let outcome = within(batch).await;
    assert!(matches!(outcome, Err(JobError::PoolClosed)), "{outcome:?}");
    assert_eq!(pool.queue_len(), 0, "the batch's queued job was taken back");
    probe.open("blocker");
    assert!(within(blocker).await.success());
    assert_eq!(
        probe.start_order(),
        ["blocker"],
        "no job of the failed batch ran"
    );
    let stats = pool.stats();
    assert_eq!((stats.submitted, stats.cancelled), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_refuses_new_jobs_and_wakes_waiting_submitters() {
    let probe = Probe::new();
    let pool = builder(1).queue_capacity(1).build(probe.spawner()).unwrap();
    let blocker = block_the_worker(&pool, &probe).await;
    let queued = pool.submit(script("queued", &[])).await.unwrap();
    let mut waiting = pin!(pool.submit(script("waiting", &[])));
    assert!(poll!(waiting.as_mut()).is_pending());

    pool.close();
    assert!(pool.is_closed());
    assert!(matches!(within(waiting).await, Err(JobError::PoolClosed)));
    assert!(matches!(
        pool.try_submit(script("late", &[])),
        Err(JobError::PoolClosed)
    ));
    assert!(matches!(
        pool.submit(script("late", &[])).await,
        Err(JobError::PoolClosed)
    ));
    assert!(matches!(
        pool.run_all([script("late", &[])]).await,
        Err(JobError::PoolClosed)
    ));

    // The accepted jobs go on.
    probe.open("blocker");
    assert!(within(blocker).await.success());
    assert!(within(queued).await.success());
    assert_eq!(probe.start_order(), ["blocker", "queued"]);
    let stats = pool.stats();
    assert_eq!((stats.submitted, stats.completed()), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_waits_for_every_job_and_keeps_the_pool_open() {
    let probe = Probe::new();
    let pool = pool(&probe, 2);
    let mut handles = Vec::new();
    for i in 0..6 {
        let job = script("job", &["gate:g", &format!("out:{i}")]);
        handles.push(pool.submit(job).await.unwrap());
    }
    let mut drain = pin!(pool.drain());
    assert!(poll!(drain.as_mut()).is_pending(), "drain did not wait");
    probe.open("g");
    within(drain).await;

    assert_eq!(pool.stats().completed(), 6);
    for (i, handle) in handles.into_iter().enumerate() {
        let result = handle
            .now_or_never()
            .expect("answered before drain returned");
        assert_eq!(result.stdout_lossy(), i.to_string());
    }
    assert!(!pool.is_closed());
    let after = pool.submit(script("after", &[])).await.unwrap();
    assert!(within(after).await.success());
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_jobs_finish_within_grace_then_cancels_the_rest() {
    let probe = Probe::new();
    let answered: Log<JobId> = Log::default();
    let pool = {
        let answered = Arc::clone(&answered);
        builder(2)
            .on_complete(move |r| answered.lock().unwrap().push(r.id))
            .build(probe.spawner())
            .unwrap()
    };
    let jobs = [
        script("finishes", &["gate:finish"]),
        script("running", &["hang"]),
        script("queued-hang", &["hang"]),
        script("queued", &[]),
        script("queued-late", &["hang"]),
    ];
    let mut handles = Vec::new();
    for job in jobs {
        handles.push(pool.submit(job).await.unwrap());
    }
    probe.wait_until("two jobs run", |p| p.started() == 2).await;

    let grace = Duration::from_secs(5);
    let began = Instant::now();
    let mut shutdown = pin!(pool.shutdown(grace));
    assert!(poll!(shutdown.as_mut()).is_pending());
    assert!(pool.is_closed());
    // `finishes` ends within the grace; its worker then starts `queued-hang`.
    probe.open("finish");
    let stats = within(shutdown).await;
    assert!(began.elapsed() >= grace);

    let mut results = Vec::new();
    for handle in handles {
        results.push(within(handle).await);
    }
    assert!(results[0].success(), "{}", results[0].outcome);
    for result in &results[1..] {
        assert!(result.cancelled(), "{}: {}", result.program, result.outcome);
    }
    assert_eq!(probe.cancelled_names(), ["queued-hang", "running"]);
    let mut started = probe.start_order();
    started.sort();
    assert_eq!(started, ["finishes", "queued-hang", "running"]);
    assert_eq!(probe.running(), 0);

    // Exactly one result per job, and counters that add up.
    let mut ids: Vec<_> = results.iter().map(|r| r.id).collect();
    let mut hooked = read(&answered);
    ids.sort();
    hooked.sort();
    assert_eq!(hooked, ids);
    assert_eq!(stats.submitted, 5);
    assert_eq!(stats.completed(), 5);
    assert_eq!((stats.succeeded, stats.cancelled), (1, 4));
    assert_eq!((stats.running, stats.queued), (0, 0));
    assert!(matches!(
        pool.submit(script("late", &[])).await,
        Err(JobError::PoolClosed)
    ));
}

/// Defect 9: the runtime dropped under a pool with jobs running and queued: every handle is
/// answered `Cancelled` (none left waiting for a worker that will never come).
#[test]
fn dropping_the_runtime_answers_every_handle() {
    let probe = Probe::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (pool, handles) = runtime.block_on(async {
        let pool = pool(&probe, 2);
        let mut handles = Vec::new();
        for i in 0..6 {
            handles.push(
                pool.submit(script(&format!("job{i}"), &["hang"]))
                    .await
                    .unwrap(),
            );
        }
        probe.wait_until("two run", |p| p.running() == 2).await;
        (pool, handles)
    });
    drop(runtime);
    for handle in handles {
        let result = futures::executor::block_on(handle);
        assert!(result.cancelled(), "{}: {}", result.program, result.outcome);
    }
    drop(pool);
}

/// Cancelling what has not started: queued jobs and retry waits are answered `Cancelled`,
/// running jobs finish, and the pool stays open.
#[tokio::test(start_paused = true)]
async fn cancel_queued_leaves_running_jobs_alone() {
    let probe = Probe::new();
    let pool = builder(1)
        .retry(RetryPolicy::attempts(3).backoff(Backoff::fixed(Duration::from_secs(60))))
        .build(probe.spawner())
        .unwrap();
    let waiting = pool.submit(script("waits", &["exit:1"])).await.unwrap();
    probe.wait_until("it failed once", |p| p.ended() == 1).await;
    assert_eq!(pool.stats().retrying, 1);
    let running = pool
        .submit(script("runs", &["sleep:100", "out:done"]))
        .await
        .unwrap();
    let queued = pool.submit(script("queued", &[])).await.unwrap();
    probe.wait_until("it runs", |p| p.running() == 1).await;
    assert_eq!(pool.cancel_queued(), 2);
    assert!(within(waiting).await.cancelled());
    assert!(within(queued).await.cancelled());
    assert_eq!(within(running).await.stdout_lossy(), "done");
    assert!(!pool.is_closed());
    assert!(
        within(pool.submit(script("after", &[])).await.unwrap())
            .await
            .success()
    );
}
