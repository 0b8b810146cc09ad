//! What the pool itself does with a job's streams, whatever the backend: a backend that cannot
//! carry a mode is never asked to (a typed error instead), and a job with a single-use stream is
//! not retried, its result saying why.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use process_pool::backend::{Exit, ExitStatus, RunContext, Spawner};
use process_pool::{
    Job, Outcome, Output, ProcessPool, RetryPolicy, StreamUnsupported, async_trait,
};

/// Fails every attempt with exit 1; counts them.
struct Failing {
    spawned: Arc<AtomicU32>,
    carries_streams: bool,
}

#[async_trait]
impl Spawner for Failing {
    async fn spawn(&self, _: &Job, _: &RunContext) -> io::Result<Exit> {
        self.spawned.fetch_add(1, Ordering::SeqCst);
        Ok(Exit::new(ExitStatus::Code(1)))
    }

    fn check_streams(&self, job: &Job) -> Result<(), StreamUnsupported> {
        if self.carries_streams {
            return Ok(());
        }
        StreamUnsupported::first_of(job, "the failing backend").map_or(Ok(()), Err)
    }
}

fn pool(carries_streams: bool) -> (ProcessPool, Arc<AtomicU32>) {
    let spawned = Arc::new(AtomicU32::new(0));
    let spawner = Failing {
        spawned: Arc::clone(&spawned),
        carries_streams,
    };
    (ProcessPool::new(spawner, 1).unwrap(), spawned)
}

#[tokio::test]
async fn a_backend_is_never_given_a_stream_it_cannot_carry() {
    let (pool, spawned) = pool(false);
    let result = pool
        .submit(Job::new("x").stdout(Output::file("/tmp/never-written")))
        .await
        .unwrap()
        .await;
    let Outcome::SpawnFailed(error) = &result.outcome else {
        panic!("{}", result.outcome);
    };
    assert_eq!(error.kind(), io::ErrorKind::Unsupported);
    assert_eq!(
        error.to_string(),
        "the failing backend cannot carry a file as stdout"
    );
    assert_eq!(spawned.load(Ordering::SeqCst), 0);
    assert!(!std::path::Path::new("/tmp/never-written").exists());
}

#[tokio::test]
async fn a_single_use_reader_stops_retries_and_the_result_says_why() {
    let (pool, spawned) = pool(true);
    let (_keep, reader) = tokio::io::duplex(8);
    let job = Job::new("x")
        .stdin_reader(reader)
        .retry(RetryPolicy::attempts(3));
    let result = pool.submit(job).await.unwrap().await;
    assert_eq!(result.exit_code(), Some(1));
    assert_eq!(result.attempts, 1);
    assert_eq!(spawned.load(Ordering::SeqCst), 1);
    assert_eq!(
        result.retry_prevented,
        Some("its stdin is a single-use reader")
    );

    let job = Job::new("x")
        .stdin_reader_with(|| Ok(tokio::io::empty()))
        .retry(RetryPolicy::attempts(3));
    let result = pool.submit(job).await.unwrap().await;
    assert_eq!(result.attempts, 3, "a factory makes the job retryable");
    assert_eq!(result.retry_prevented, None);

    let (_keep, writer) = tokio::io::duplex(8);
    let job = Job::new("x")
        .stdout(Output::writer(writer))
        .retry(RetryPolicy::attempts(3));
    let result = pool.submit(job).await.unwrap().await;
    assert_eq!(result.attempts, 1);
    assert!(
        result
            .retry_prevented
            .is_some_and(|why| why.contains("writer"))
    );
}
