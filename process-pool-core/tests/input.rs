//! Bad input to the job pool: typed errors, nothing started. (Scripted jobs; see `common`.)

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_job_fails_its_batch_before_anything_starts() {
    let probe = Probe::new();
    let pool = pool(&probe, 2);
    let batches = [
        (
            vec![script("ok", &[]), script("ok", &[]), Job::new("")],
            "job 2",
        ),
        (
            vec![
                script("ok", &[]),
                script("zero", &[]).timeout(Duration::ZERO),
            ],
            "job 1",
        ),
    ];
    for (jobs, named) in batches {
        match pool.run_all(jobs).await {
            Err(JobError::InvalidJob { reason }) => assert!(reason.contains(named), "{reason}"),
            other => panic!("expected InvalidJob, got {other:?}"),
        }
    }
    assert!(matches!(
        pool.submit(Job::new("")).await,
        Err(JobError::InvalidJob { .. })
    ));
    assert!(matches!(
        pool.try_submit(Job::new("")),
        Err(JobError::InvalidJob { .. })
    ));
    assert_eq!(pool.stats().submitted, 0);
    assert_eq!(probe.started(), 0);

    let results = within(pool.run_all([script("ok", &[])])).await.unwrap();
    assert!(results[0].success());
}

#[tokio::test]
async fn zero_workers_or_zero_queue_capacity_is_a_config_error() {
    let probe = Probe::new();
    assert_eq!(
        ProcessPool::new(probe.spawner(), 0).unwrap_err(),
        ConfigError::ZeroWorkers
    );
    assert_eq!(
        builder(0).build(probe.spawner()).unwrap_err(),
        ConfigError::ZeroWorkers
    );
    assert_eq!(
        builder(2)
            .queue_capacity(0)
            .build(probe.spawner())
            .unwrap_err(),
        ConfigError::ZeroQueueCapacity
    );
}

#[test]
fn building_outside_a_runtime_is_a_config_error() {
    let probe = Probe::new();
    assert_eq!(
        ProcessPool::new(probe.spawner(), 2).unwrap_err(),
        ConfigError::NoRuntime
    );
}

/// Defect 7: one validation for every backend: environment names that are not names, and NUL
/// bytes anywhere the OS or a WASI guest would cut the text short, are refused when submitted.
#[tokio::test]
async fn environment_names_and_nul_bytes_are_refused_alike() {
    let probe = Probe::new();
    let pool = pool(&probe, 2);
    let bad = [
        (script("x", &[]).env("A=B", "c"), "`A=B`"),
        (script("x", &[]).env("", "c"), "empty name"),
        (script("x", &["ACC\0B"]), "NUL"),
        (script("x", &[]).env("ACC\0B", "c"), "NUL"),
        (script("x", &[]).env("A", "v\0"), "NUL"),
    ];
    for (job, says) in bad {
        let error = pool.submit(job).await.unwrap_err();
        let JobError::InvalidJob { reason } = &error else {
            panic!("{error:?}");
        };
        assert!(reason.contains(says), "{reason}");
    }
    let error = pool
        .run_all([script("ok", &[]), script("x", &[]).env("A=B", "c")])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("job 1"), "{error}");
    assert_eq!(probe.started(), 0);
    assert_eq!(pool.stats().submitted, 0);
}

/// Defect 10: a pool with more workers than its spawner can run at once is refused when built
/// (or resized), naming both numbers, rather than failing jobs at run time.
#[tokio::test]
async fn more_workers_than_the_spawner_runs_is_a_config_error() {
    struct Two(Scripted);
    #[async_trait]
    impl Spawner for Two {
        async fn spawn(&self, job: &Job, ctx: &RunContext) -> io::Result<Exit> {
            self.0.spawn(job, ctx).await
        }
        fn capacity(&self) -> Option<usize> {
            Some(2)
        }
    }
    let probe = Probe::new();
    let error = builder(3).build(Two(probe.spawner())).unwrap_err();
    assert_eq!(
        error,
        ConfigError::OverCapacity {
            max_workers: 3,
            capacity: 2
        }
    );
    assert!(
        error.to_string().contains("3") && error.to_string().contains("2 jobs"),
        "{error}"
    );
    let pool = builder(2).build(Two(probe.spawner())).unwrap();
    assert!(matches!(
        pool.set_max_workers(5),
        Err(ConfigError::OverCapacity {
            max_workers: 5,
            capacity: 2
        })
    ));
    assert_eq!(pool.max_workers(), 2);
}
