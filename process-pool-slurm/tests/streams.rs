//! Streams on Slurm: an agent reads and writes files by path on the file system the nodes
//! share (1 GiB, every byte checked, the pool's peak RSS under 64 MiB) and refuses, with a typed
//! error, what only the pool's process could carry; step mode carries a reader and a writer
//! through `srun`'s stdio.

mod common;

use std::time::Duration;

use process_pool_core::backend::conformance::memory::peak_rss;
use process_pool_core::backend::conformance::streams::{
    Pattern, PatternCheck, RSS_BOUND, big_stream_len,
};
use process_pool_core::{Job, Outcome, Output, ProcessPool, StreamUnsupported};
use process_pool_slurm::{Allocation, SlurmSpawner, SlurmStepSpawner};

async fn agents(tag: &str) -> ProcessPool {
    common::require_slurm();
    SlurmSpawner::builder()
        .nodes(1)
        .agent_program(common::agent())
        .job_name(common::unique_name(tag))
        .build()
        .await
        .expect("an agent starts")
        .into_pool()
        .expect("a pool")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_moves_a_gigabyte_between_shared_files() {
    let len = big_stream_len();
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    let mut file = tokio::fs::File::create(&input).await.unwrap();
    tokio::io::copy(&mut Pattern::new(len), &mut file)
        .await
        .unwrap();
    drop(file);
    let pool = agents("streams-files").await;
    let job = Job::new("cat")
        .stdin_file(&input)
        .stdout(Output::file(&output));
    let handle = pool.submit(job).await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(600), handle)
        .await
        .expect("ended");
    assert!(
        result.success(),
        "{}: {}",
        result.outcome,
        result.stderr_lossy()
    );
    std::fs::remove_file(&input).unwrap();
    let check = PatternCheck::new();
    let written = tokio::fs::File::open(&output).await.unwrap();
    check.check_reader(written).await.unwrap();
    assert_eq!(check.result(), (len, None), "every byte, in order");
    if let Some(peak) = peak_rss() {
        assert!(peak < RSS_BOUND, "peak RSS {} MiB", peak >> 20);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_refuses_a_reader_with_a_typed_error() {
    let pool = agents("streams-refused").await;
    let (_keep, reader) = tokio::io::duplex(64);
    let result = pool
        .submit(Job::new("cat").stdin_reader(reader))
        .await
        .unwrap()
        .await;
    let Outcome::SpawnFailed(error) = &result.outcome else {
        panic!("{}", result.outcome);
    };
    assert_eq!(error.kind(), std::io::ErrorKind::Unsupported);
    let typed = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<StreamUnsupported>())
        .expect("a StreamUnsupported");
    assert_eq!((typed.stream, typed.mode), ("stdin", "a reader"));
    let result = pool
        .submit(Job::new("echo").stdout(Output::spill()))
        .await
        .unwrap()
        .await;
    assert!(
        result.error().is_some_and(|e| e
            .to_string()
            .contains("cannot carry spill to disk as stdout")),
        "{}",
        result.outcome
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_carries_a_reader_and_a_writer_through_srun() {
    common::require_slurm();
    let len = 64 << 20;
    let spawner = SlurmStepSpawner::builder()
        .allocation(Allocation::Own)
        .job_name(common::unique_name("streams-step"))
        .build()
        .await
        .expect("Slurm answers");
    let pool = ProcessPool::new(spawner, 1).unwrap();
    let check = PatternCheck::new();
    let job = Job::new("cat")
        .stdin_reader(Pattern::new(len))
        .stdout(Output::writer(check.clone()));
    let handle = pool.submit(job).await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(300), handle)
        .await
        .expect("ended");
    assert!(
        result.success(),
        "{}: {}",
        result.outcome,
        result.stderr_lossy()
    );
    assert_eq!(check.result(), (len, None), "every byte, in order");
}
