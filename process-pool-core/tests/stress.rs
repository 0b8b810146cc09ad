//! Many jobs with random cancels: each gets exactly one result. (Scripted jobs; see `common`.)

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_jobs_with_random_cancels_each_get_exactly_one_result() {
    const JOBS: usize = 20_000;
    let probe = Probe::new();
    let answered: Log<JobId> = Log::default();
    let pool = {
        let answered = Arc::clone(&answered);
        builder(2)
            .on_complete(move |r| answered.lock().unwrap().push(r.id))
            .build(probe.spawner())
            .unwrap()
    };
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut handles = Vec::with_capacity(JOBS);
    for i in 0..JOBS {
        let name = format!("s{i}");
        let job = match rng.below(4) {
            0 => script(&name, &["fail-first:1"]).retry(RetryPolicy::attempts(2)),
            1 => script(&name, &["exit:3"]),
            _ => script(&name, &[&format!("yield:{}", rng.below(3))]),
        };
        handles.push(pool.submit(job).await.unwrap());
        if rng.below(3) == 0 {
            handles[rng.below(i + 1)].cancel();
        }
    }
    let ids: Vec<JobId> = handles.iter().map(JobHandle::id).collect();
    let results = tokio::time::timeout(Duration::from_secs(120), async {
        let mut results = Vec::with_capacity(JOBS);
        for handle in handles {
            results.push(handle.await);
        }
        results
    })
    .await
    .expect("every job answered in time");

    let result_ids: Vec<JobId> = results.iter().map(|r| r.id).collect();
    assert_eq!(result_ids, ids, "each handle got its own job's result");
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        JOBS,
        "ids are unique"
    );
    let mut hooked = read(&answered);
    hooked.sort();
    let mut sorted_ids = ids.clone();
    sorted_ids.sort();
    assert_eq!(hooked, sorted_ids, "on_complete saw each job exactly once");

    let stats = pool.stats();
    let count = |keep: fn(&JobResult) -> bool| results.iter().filter(|r| keep(r)).count() as u64;
    assert_eq!(stats.submitted, JOBS as u64);
    assert_eq!(stats.completed(), stats.submitted);
    assert_eq!(stats.cancelled, count(JobResult::cancelled));
    assert_eq!(stats.succeeded, count(JobResult::success));
    assert!(stats.cancelled > 0, "the cancels did something");
    assert_eq!((stats.running, stats.queued), (0, 0));
    assert_eq!(stats.attempts, probe.started() as u64);
    assert_eq!(probe.running(), 0);
}

/// Records when each attempt's job was submitted, as its context tells.
#[derive(Debug, Default, Clone)]
struct SubmittedAt(Arc<Mutex<Vec<std::time::Instant>>>);

#[async_trait]
impl Spawner for SubmittedAt {
    async fn spawn(&self, job: &Job, ctx: &RunContext) -> io::Result<Exit> {
        self.0.lock().unwrap().push(ctx.submitted_at());
        let fail = job.get_args().first().is_some_and(|a| a == "fail");
        Ok(Exit::new(ExitStatus::Code(i32::from(fail))))
    }
}

#[tokio::test]
async fn an_attempt_knows_when_its_job_was_submitted_even_when_retried() {
    let seen = SubmittedAt::default();
    let pool = builder(1)
        .retry(RetryPolicy::attempts(2).backoff(Backoff::fixed(Duration::from_millis(5))))
        .build(seen.clone())
        .unwrap();
    let before = std::time::Instant::now();
    let results = within(pool.run_all([Job::new("ok"), Job::new("x").arg("fail")])).await;
    let between = std::time::Instant::now();
    within(pool.run_all([Job::new("later")])).await.unwrap();
    assert_eq!(results.unwrap()[1].attempts, 2);

    let seen = seen.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "two jobs, one of them twice, then one more");
    for submitted in &seen[..3] {
        assert!(*submitted >= before && *submitted <= between);
    }
    assert_eq!(seen[1], seen[2], "a retry keeps its job's submission time");
    assert!(seen[3] >= between, "a later batch is submitted later");
}
