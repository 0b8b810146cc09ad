//! Native jobs with files: a retried job reads its input file again from the start and leaves
//! only its last attempt's bytes in its output file (truncated, or appended after what was
//! there before the job).

// Unix only: its job is an `sh` script; the stream conformance suite (files, readers, writers,
// spills) runs on Windows in `conformance.rs`.
#![cfg(unix)]

use std::time::Duration;

use process_pool_core::{Job, Output, ProcessPool, RetryPolicy};
use process_pool_native::NativeSpawner;

/// Copies its stdin to its stdout, then fails the first time (a marker file remembers it).
fn cat_then_fail_once(marker: &std::path::Path) -> Job {
    Job::new("sh").args([
        "-c",
        r#"cat; [ -e "$1" ] && exit 0; : > "$1"; exit 1"#,
        "sh",
        marker.to_str().unwrap(),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_rereads_its_input_file_and_rewrites_its_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let text = "line\n".repeat(100_000);
    std::fs::write(&input, &text).unwrap();
    let pool = ProcessPool::builder()
        .max_workers(2)
        .build(NativeSpawner::new())
        .unwrap();
    let run = |job: Job| {
        let pool = pool.clone();
        async move {
            let handle = pool
                .submit(job.retry(RetryPolicy::attempts(2)))
                .await
                .unwrap();
            tokio::time::timeout(Duration::from_secs(20), handle)
                .await
                .unwrap()
        }
    };

    let output = dir.path().join("out");
    let job = cat_then_fail_once(&dir.path().join("marker-1"))
        .stdin_file(&input)
        .stdout(Output::file(&output));
    let result = run(job).await;
    assert!(result.success(), "{}", result.outcome);
    assert_eq!(result.attempts, 2);
    let written = std::fs::read_to_string(&output).unwrap();
    assert!(
        written == text,
        "the output holds the second attempt's copy only ({} bytes)",
        written.len()
    );

    let log = dir.path().join("log");
    std::fs::write(&log, "before\n").unwrap();
    let job = cat_then_fail_once(&dir.path().join("marker-2"))
        .stdin_file(&input)
        .stdout(Output::append(&log));
    let result = run(job).await;
    assert!(result.success(), "{}", result.outcome);
    assert_eq!(result.attempts, 2);
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(
        written.strip_prefix("before\n") == Some(text.as_str()),
        "what was there, then the last attempt's bytes ({} bytes)",
        written.len()
    );
}
