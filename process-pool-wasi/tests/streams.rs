//! WASI jobs driven by streams: an interactive guest answering through a reader and a writer,
//! and pipelines mixing native and WASI stages (1 GiB through three stages, a failing middle
//! stage, a timeout on the last stopping every tree).

mod common;

use std::time::Duration;

use process_pool_core::backend::RoutingSpawner;
use process_pool_core::{Job, Output, Pipeline, ProcessPool};
use process_pool_native::NativeSpawner;
use process_pool_wasi::WasiSpawner;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One pool for native and WASI jobs: `.wasm` files go to WASI.
fn mixed_pool(workers: usize) -> ProcessPool {
    let wasi = WasiSpawner::builder().max_instances(4).build().unwrap();
    let spawner = RoutingSpawner::new(NativeSpawner::new()).extensions(["wasm"], wasi);
    ProcessPool::builder()
        .max_workers(workers)
        .kill_grace(Duration::from_millis(500))
        .build(spawner)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interactive_guest_answers_ten_thousand_lines() {
    let pool = mixed_pool(1);
    let (mut to_guest, guest_in) = tokio::io::duplex(4096);
    let (guest_out, from_guest) = tokio::io::duplex(4096);
    let job = Job::new(common::guest("answer"))
        .stdin_reader(guest_in)
        .stdout(Output::writer(guest_out));
    let handle = pool.submit(job).await.unwrap();
    let mut answers = BufReader::new(from_guest).lines();
    for n in 1..=10_000 {
        to_guest
            .write_all(format!("line {n}\n").as_bytes())
            .await
            .unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(20), answers.next_line())
            .await
            .expect("an answer before the next question")
            .unwrap()
            .expect("a line");
        assert_eq!(answer, format!("{n}: LINE {n}"));
    }
    to_guest.write_all(b"quit\n").await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(20), handle)
        .await
        .unwrap();
    assert!(
        result.success(),
        "{}: {}",
        result.outcome,
        result.stderr_lossy()
    );
    assert!(answers.next_line().await.unwrap().is_none(), "nothing more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_refuses_what_it_cannot_run() {
    let pool = mixed_pool(2);
    let three = || [Job::new("true"), Job::new("true"), Job::new("true")];
    let error = Pipeline::new(three()).run(&pool).await.unwrap_err();
    assert!(error.to_string().contains("2 workers"), "{error}");
    let error = Pipeline::new([Job::new("true"), Job::new("cat").stdin("x")])
        .run(&pool)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("stage 2 (`cat`) sets its own stdin"),
        "{error}"
    );
}

/// Pipelines whose native stages run POSIX programs (`cat`, `yes`, `sh`, `sleep`), their
/// children checked through /proc. Unix only: Windows has neither (the native backend's own
/// tests cover pipelines and tree stops there).
#[cfg(unix)]
mod native_stages {
    use std::path::Path;

    use process_pool_core::backend::conformance::streams::{Pattern, PatternCheck, big_stream_len};
    use process_pool_core::{Outcome, RetryPolicy};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_gigabyte_through_native_wasi_native() {
        let len = big_stream_len();
        let pool = mixed_pool(3);
        let check = PatternCheck::new();
        let run = Pipeline::new([
            Job::new("cat").stdin_reader(Pattern::new(len)),
            Job::new(common::guest("cat")),
            Job::new("cat").stdout(Output::writer(check.clone())),
        ])
        .run(&pool);
        let run = tokio::time::timeout(Duration::from_secs(900), run)
            .await
            .expect("ended")
            .unwrap();
        assert!(run.success(), "{:?}", run.stages);
        assert_eq!(run.stages.len(), 3);
        assert_eq!(check.result(), (len, None), "every byte, in order");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_middle_stage_fails_the_pipeline_and_stops_the_others() {
        let pool = mixed_pool(3);
        let run = Pipeline::new([
            Job::new("yes"),
            Job::new(common::guest("exit-code")).arg("3"),
            Job::new("cat"),
        ])
        .retry(RetryPolicy::attempts(2))
        .run(&pool);
        let run = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("ended")
            .unwrap();
        assert_eq!(run.failed_stage, Some(1), "{:?}", run.stages);
        assert!(matches!(run.outcome, Outcome::Exited(3)), "{}", run.outcome);
        assert_eq!(run.attempts, 2, "the whole pipeline was retried");
        assert!(!run.stages[0].success(), "`yes` never ends by itself");
        let error = run.into_checked().unwrap_err().to_string();
        assert!(
            error.contains("exit-code.wasm") && error.contains("code 3"),
            "{error}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_timeout_on_the_last_stage_stops_every_tree() {
        let dir = tempfile::tempdir().unwrap();
        let pid_of = |name: &str| dir.path().join(name);
        // Each native stage leaves a child in its group and says where it is.
        let tree = |name: &str, tail: &str| {
            Job::new("sh").args([
                "-c",
                &format!(
                    "sleep 1000 & echo $! > '{}'; {tail}",
                    pid_of(name).display()
                ),
            ])
        };
        let pool = mixed_pool(3);
        let run = Pipeline::new([
            tree("first", "yes"),
            Job::new(common::guest("cat")),
            tree("last", "sleep 1000").timeout(Duration::from_millis(1500)),
        ])
        .run(&pool);
        let run = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("ended")
            .unwrap();
        assert_eq!(run.failed_stage, Some(2), "{:?}", run.stages);
        assert!(run.stages[2].timed_out());
        // The stages before it are stopped by the pipeline, unless the stop of the stage they
        // write to reached them first, as a broken pipe (a shell's SIGPIPE): either way, stopped.
        let stopped = |result: &process_pool_core::JobResult| {
            result.cancelled()
                || matches!(&result.outcome, Outcome::StreamFailed(e) if e.to_string().contains("Broken pipe"))
        };
        assert!(
            stopped(&run.stages[0]) && stopped(&run.stages[1]),
            "{:?}",
            run.stages
        );
        for name in ["first", "last"] {
            let pid: i32 = std::fs::read_to_string(pid_of(name))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            assert!(
                !alive(pid),
                "the {name} stage's child {pid} outlived its pipeline"
            );
        }
    }

    /// Whether `pid` is a live process (not gone, not a zombie).
    fn alive(pid: i32) -> bool {
        let stat = Path::new("/proc").join(pid.to_string()).join("stat");
        match std::fs::read_to_string(stat) {
            Ok(stat) => {
                let state = stat.rsplit(')').next().unwrap_or("").trim_start();
                !state.starts_with('Z')
            }
            Err(_) => false,
        }
    }
}
