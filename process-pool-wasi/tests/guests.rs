//! The Rust guests of `guests/` through `WasiSpawner`: deadlines on endless loops, stack
//! overflow, the file-system sandbox, the environment, components and precompiled files.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use process_pool_core::{Job, JobResult, Outcome, ProcessPool};
use process_pool_wasi::{DirAccess, WasiSpawner};

const HANG: Duration = Duration::from_secs(60);

type Build = fn(&str) -> PathBuf;

/// Both builds of every guest: the WASIp1 core module and the WASIp2 component.
const BUILDS: [(&str, Build); 2] = [("module", common::guest), ("component", common::component)];

async fn run(pool: &ProcessPool, jobs: Vec<Job>) -> Vec<JobResult> {
    tokio::time::timeout(HANG, pool.run_all(jobs))
        .await
        .expect("ended within the hang bound")
        .expect("accepted")
}

async fn run_one(pool: &ProcessPool, job: Job) -> JobResult {
    run(pool, vec![job]).await.pop().expect("one result")
}

fn pool_of(spawner: WasiSpawner, workers: usize) -> ProcessPool {
    ProcessPool::new(spawner, workers).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_guest_times_out_and_the_rest_of_the_batch_finishes() {
    for (build, guest) in BUILDS {
        let pool = WasiSpawner::pool(2).unwrap();
        let mut jobs = vec![Job::new(guest("spin")).timeout(Duration::from_millis(200))];
        jobs.extend((0..20).map(|_| Job::new(guest("hello"))));
        let started = Instant::now();
        let results = run(&pool, jobs).await;
        assert!(
            results[0].timed_out(),
            "{build}: spin should time out, got {}",
            results[0].outcome
        );
        for result in &results[1..] {
            assert!(result.success(), "{build}: {}", result.outcome);
            assert_eq!(result.stdout_lossy(), "hello\n");
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{build}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_spinning_guests_at_two_workers_all_end() {
    for (build, guest) in BUILDS {
        let pool = WasiSpawner::pool(2).unwrap();
        let jobs = (0..100)
            .map(|_| Job::new(guest("spin")).timeout(Duration::from_millis(10)))
            .collect();
        let results = run(&pool, jobs).await;
        assert_eq!(results.len(), 100);
        for result in &results {
            assert!(result.timed_out(), "{build}: {}", result.outcome);
        }
        assert_eq!(pool.stats().completed(), 100, "{build}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_overflow_traps_cleanly_and_the_pool_goes_on() {
    for (build, guest) in BUILDS {
        let pool = WasiSpawner::pool(2).unwrap();
        let result = run_one(&pool, Job::new(guest("stackoverflow"))).await;
        let Outcome::Trapped(message) = &result.outcome else {
            panic!("{build}: expected a trap, got {}", result.outcome);
        };
        assert!(
            message.contains("call stack exhausted"),
            "{build}: {message}"
        );
        let hello = run_one(&pool, Job::new(guest("hello"))).await;
        assert!(hello.success(), "{build}: {}", hello.outcome);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_sees_only_the_jobs_environment() {
    assert!(std::env::var_os("PATH").is_some(), "the host has a PATH");
    for (build, guest) in BUILDS {
        let pool = WasiSpawner::pool(1).unwrap();
        let job = Job::new(guest("env-dump"))
            .env("GREETING", "hello world")
            .env("EMPTY", "")
            .env("DROPPED", "x")
            .env_remove("DROPPED");
        let result = run_one(&pool, job).await;
        assert!(result.success(), "{build}: {}", result.outcome);
        assert_eq!(
            result.stdout_lossy(),
            "EMPTY=\nGREETING=hello world\n",
            "{build}"
        );
        let bare = run_one(&pool, Job::new(guest("env-dump"))).await;
        assert_eq!(bare.stdout_lossy(), "", "{build}");
    }
}

/// A host layout to escape from: `root/outside.txt` and `root/box/` (the preopen), holding
/// `inside.txt` and symlinks out of the box. Unix only: see the tests that use it.
#[cfg(unix)]
struct Escape {
    root: tempfile::TempDir,
}

#[cfg(unix)]
const SECRET: &str = "SECRET-OUTSIDE-THE-BOX";

#[cfg(unix)]
impl Escape {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let inside = root.path().join("box");
        std::fs::create_dir(&inside).unwrap();
        std::fs::write(root.path().join("outside.txt"), SECRET).unwrap();
        std::fs::write(inside.join("inside.txt"), "inside-ok").unwrap();
        std::os::unix::fs::symlink("../outside.txt", inside.join("link-out")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", inside.join("link-abs")).unwrap();
        Escape { root }
    }

    fn inside(&self) -> PathBuf {
        self.root.path().join("box")
    }

    fn outside(&self) -> PathBuf {
        self.root.path().join("outside.txt")
    }

    /// The guest's report, as (attempt, whether it was allowed).
    fn attempts(stdout: &str) -> Vec<(String, bool)> {
        stdout
            .lines()
            .map(|line| {
                let (attempt, rest) = line.split_once(": ").expect("attempt: verdict");
                (attempt.to_owned(), rest.starts_with("ok"))
            })
            .collect()
    }

    /// Checks that the guest got out of the box nowhere, and that the host around it is as it
    /// was; returns which attempts inside the box were allowed.
    fn check(&self, build: &str, result: &JobResult) -> Vec<String> {
        assert!(result.success(), "{build}: {}", result.outcome);
        let stdout = result.stdout_lossy();
        assert!(
            !stdout.contains(SECRET),
            "{build}: leaked the secret:\n{stdout}"
        );
        assert!(
            !stdout.contains("root:x:0"),
            "{build}: read /etc/passwd:\n{stdout}"
        );
        let outside_attempts = [
            "read /etc/passwd",
            "read dotdot",
            "read relative dotdot",
            "read symlink out",
            "read symlink absolute",
            "read host path",
            "write dotdot",
            "write through symlink",
            "rename out",
        ];
        let attempts = Self::attempts(&stdout);
        assert_eq!(
            attempts.len(),
            13,
            "{build}: every attempt reported:\n{stdout}"
        );
        // `/` is the guest's own root: where `.` is granted, it lists the box, never the host.
        let root = stdout.lines().find(|l| l.starts_with("list root")).unwrap();
        for host_dir in ["etc", "proc", "usr"] {
            assert!(
                !root.split([' ', ',']).any(|n| n == host_dir),
                "{build}: {root}"
            );
        }
        for (attempt, allowed) in &attempts {
            if outside_attempts.contains(&attempt.as_str()) {
                assert!(!allowed, "{build}: `{attempt}` got out:\n{stdout}");
            }
        }
        assert_eq!(std::fs::read_to_string(self.outside()).unwrap(), SECRET);
        assert!(!self.root.path().join("escaped.txt").exists(), "{build}");
        assert!(!self.root.path().join("moved.txt").exists(), "{build}");
        attempts
            .into_iter()
            .filter(|(attempt, allowed)| {
                *allowed && attempt != "list root" && !outside_attempts.contains(&attempt.as_str())
            })
            .map(|(attempt, _)| attempt)
            .collect()
    }

    /// Runs `fs-escape` with the box preopened as `/box` with `access`; returns the attempts
    /// allowed (all inside the box, as [`Escape::check`] makes sure).
    async fn run_preopened(&self, build: &str, guest: Build, access: DirAccess) -> Vec<String> {
        let spawner = WasiSpawner::builder()
            .preopen(self.inside(), "/box", access)
            .build()
            .unwrap();
        let job = Job::new(guest("fs-escape")).args(["/box", &self.outside().to_string_lossy()]);
        let result = run_one(&pool_of(spawner, 1), job).await;
        self.check(build, &result)
    }
}

// Not on Windows: Wine 8.0's CreateSymbolicLinkW, where the Windows tests run, reports success
// and makes no link (std::os::windows::fs::symlink_file under Debian's wine 8.0 returned Ok(())
// and left nothing on disk), so the symlinks this escape is made of cannot be set up there.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_reads_nothing_outside_a_read_only_preopen_and_writes_nothing() {
    for (build, guest) in BUILDS {
        let fx = Escape::new();
        let allowed = fx.run_preopened(build, guest, DirAccess::ReadOnly).await;
        assert_eq!(allowed, ["read inside"], "{build}");
        assert!(!fx.inside().join("written.txt").exists(), "{build}");
        assert!(fx.inside().join("inside.txt").exists(), "{build}");
    }
}

// Not on Windows: Wine 8.0's CreateSymbolicLinkW, where the Windows tests run, reports success
// and makes no link (std::os::windows::fs::symlink_file under Debian's wine 8.0 returned Ok(())
// and left nothing on disk), so the symlinks this escape is made of cannot be set up there.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_writes_only_inside_a_read_write_preopen() {
    for (build, guest) in BUILDS {
        let fx = Escape::new();
        let allowed = fx.run_preopened(build, guest, DirAccess::ReadWrite).await;
        assert_eq!(
            allowed,
            ["read inside", "write inside", "remove inside"],
            "{build}"
        );
        let written = std::fs::read_to_string(fx.inside().join("written.txt")).unwrap();
        assert_eq!(written, "written", "{build}");
        assert!(!fx.inside().join("inside.txt").exists(), "{build}");
    }
}

// Not on Windows: Wine 8.0's CreateSymbolicLinkW, where the Windows tests run, reports success
// and makes no link (std::os::windows::fs::symlink_file under Debian's wine 8.0 returned Ok(())
// and left nothing on disk), so the symlinks this escape is made of cannot be set up there.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_working_directory_is_dot_with_the_access_configured() {
    for (build, guest) in BUILDS {
        for (access, writes) in [(DirAccess::ReadWrite, true), (DirAccess::ReadOnly, false)] {
            let fx = Escape::new();
            let spawner = WasiSpawner::builder().cwd_access(access).build().unwrap();
            let job = Job::new(guest("fs-escape"))
                .args([".", &fx.outside().to_string_lossy()])
                .cwd(fx.inside());
            let result = run_one(&pool_of(spawner, 1), job).await;
            let allowed = fx.check(build, &result);
            assert_eq!(
                allowed.contains(&"write inside".to_owned()),
                writes,
                "{build}, {access:?}: {}",
                result.stdout_lossy()
            );
            assert_eq!(fx.inside().join("written.txt").exists(), writes);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_without_grants_sees_no_file_system() {
    for (build, guest) in BUILDS {
        let pool = WasiSpawner::pool(1).unwrap();
        let result = run_one(&pool, Job::new(guest("cat")).arg("/etc/passwd")).await;
        assert_eq!(result.exit_code(), Some(1), "{build}: {}", result.outcome);
        assert!(result.stdout.is_empty(), "{build}");
        assert!(result.stderr_lossy().contains("/etc/passwd"), "{build}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_preopen_is_a_config_error_naming_it() {
    let error = WasiSpawner::builder()
        .preopen(
            "/nonexistent/process-pool-dir",
            "/data",
            DirAccess::ReadOnly,
        )
        .build()
        .unwrap_err();
    assert!(
        error.to_string().contains("/nonexistent/process-pool-dir"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_working_directory_fails_the_job_naming_it() {
    let pool = WasiSpawner::pool(1).unwrap();
    let job = Job::new(common::guest("hello")).cwd("/nonexistent/process-pool-cwd");
    let result = run_one(&pool, job).await;
    let Outcome::SpawnFailed(error) = &result.outcome else {
        panic!("expected a spawn failure, got {}", result.outcome);
    };
    assert!(
        error.to_string().contains("/nonexistent/process-pool-cwd"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_can_be_refused() {
    let spawner = WasiSpawner::builder().components(false).build().unwrap();
    let pool = pool_of(spawner, 1);
    let path = common::component("hello");
    let result = run_one(&pool, Job::new(&path)).await;
    let Outcome::SpawnFailed(error) = &result.outcome else {
        panic!("expected a spawn failure, got {}", result.outcome);
    };
    assert_eq!(error.kind(), std::io::ErrorKind::Unsupported);
    assert!(
        error.to_string().contains(&*path.to_string_lossy()),
        "{error}"
    );
    let module = run_one(&pool, Job::new(common::guest("hello"))).await;
    assert!(module.success(), "{}", module.outcome);
}

fn precompile(spawner: &WasiSpawner, wasm: &Path, dir: &Path) -> PathBuf {
    let cwasm = dir.join(wasm.file_name().unwrap()).with_extension("cwasm");
    spawner.precompile(wasm, &cwasm).unwrap();
    cwasm
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precompiled_files_run_only_when_trusted_and_only_on_a_matching_engine() {
    for (build, guest) in BUILDS {
        let dir = tempfile::tempdir().unwrap();
        let trusting = WasiSpawner::builder().trust_precompiled().build().unwrap();
        let cwasm = precompile(&trusting, &guest("hello"), dir.path());

        let pool = pool_of(trusting.clone(), 1);
        let result = run_one(&pool, Job::new(&cwasm)).await;
        assert!(result.success(), "{build}: {}", result.outcome);
        assert_eq!(result.stdout_lossy(), "hello\n", "{build}");

        let wary = pool_of(WasiSpawner::builder().build().unwrap(), 1);
        let result = run_one(&wary, Job::new(&cwasm)).await;
        let Outcome::SpawnFailed(error) = &result.outcome else {
            panic!("{build}: expected a refusal, got {}", result.outcome);
        };
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::PermissionDenied,
            "{build}"
        );
        assert!(
            error.to_string().contains(&*cwasm.to_string_lossy()),
            "{error}"
        );
        assert!(error.to_string().contains("trust_precompiled"), "{error}");

        // Fuel changes the compiled code: the engine refuses the file instead of running it.
        let other = WasiSpawner::builder()
            .trust_precompiled()
            .fuel(1_000_000)
            .build()
            .unwrap();
        let result = run_one(&pool_of(other, 1), Job::new(&cwasm)).await;
        let Outcome::SpawnFailed(error) = &result.outcome else {
            panic!("{build}: expected a mismatch, got {}", result.outcome);
        };
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData, "{build}");
        assert!(error.to_string().contains("cannot be loaded"), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precompile_names_the_file_it_cannot_read() {
    let spawner = WasiSpawner::builder().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.wasm");
    let error = spawner
        .precompile(&missing, &dir.path().join("out.cwasm"))
        .unwrap_err();
    assert!(
        error.to_string().contains(&*missing.to_string_lossy()),
        "{error}"
    );
}
