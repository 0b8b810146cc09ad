//! `WasiSpawner` with WAT fixtures: exits, output, traps, timeouts, bad modules, the module
//! cache, the memory cap and output limits.

use std::path::{Path, PathBuf};
use std::time::Duration;

use process_pool_core::{Job, JobError, Outcome, ProcessPool};
use process_pool_wasi::WasiSpawner;
use tempfile::TempDir;

const HANG: Duration = Duration::from_secs(30);
const WASI: &str = "wasi_snapshot_preview1";

/// A module that writes `bytes` bytes of its memory to stdout `times` times, then exits `code`.
fn writer(times: u32, bytes: u32, text: &str, code: i32) -> String {
    format!(
        r#"(module
  (import "{WASI}" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "{WASI}" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 64) "{text}")
  (func (export "_start") (local $n i32)
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const {bytes}))
    (block $done (loop $again
      (br_if $done (i32.ge_u (local.get $n) (i32.const {times})))
      (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $again)))
    (call $exit (i32.const {code}))))"#
    )
}

/// A module that exits with the count a WASI sizes call (`args_sizes_get`,
/// `environ_sizes_get`) writes first.
fn exit_with_count(sizes_call: &str) -> String {
    format!(
        r#"(module
  (import "{WASI}" "{sizes_call}" (func $sizes (param i32 i32) (result i32)))
  (import "{WASI}" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (call $exit (i32.load (i32.const 0)))))"#
    )
}

fn exit_with(code: i32) -> String {
    writer(0, 0, "", code)
}

const SPIN: &str = r#"(module (memory (export "memory") 1)
  (func (export "_start") (loop $forever (br $forever))))"#;

const TRAP: &str = r#"(module (memory (export "memory") 1)
  (func (export "_start") unreachable))"#;

/// Grows its memory by `pages` 64 KiB pages: exits 0 if that worked, 1 if it was refused.
fn grow(pages: u32) -> String {
    format!(
        r#"(module
  (import "{WASI}" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (call $exit (i32.eq (memory.grow (i32.const {pages})) (i32.const -1)))))"#
    )
}

struct Fixtures {
    dir: TempDir,
}

impl Fixtures {
    fn new() -> Self {
        Fixtures {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

fn pool(workers: usize) -> ProcessPool {
    WasiSpawner::pool(workers).unwrap()
}

async fn run_one(pool: &ProcessPool, job: Job) -> process_pool_core::JobResult {
    let mut results = tokio::time::timeout(HANG, pool.run_all([job]))
        .await
        .expect("ended within the hang bound")
        .expect("accepted");
    results.pop().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_exit_gives_the_exit_code() {
    let fx = Fixtures::new();
    let pool = pool(2);
    let codes = [0, 1, 3, 126, 127, 255];
    let jobs = codes.map(|c| Job::new(fx.write(&format!("exit{c}.wat"), exit_with(c))));
    let results = pool.run_all(jobs).await.unwrap();
    for (code, result) in codes.iter().zip(&results) {
        assert!(
            matches!(result.outcome, Outcome::Exited(c) if c == *code),
            "expected exit {code}, got {}",
            result.outcome
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_is_captured_and_a_normal_return_is_success() {
    let fx = Fixtures::new();
    let hello = fx.write(
        "hello.wat",
        writer(1, 6, "hello\\n", 0).replace("(call $exit (i32.const 0))", ""),
    );
    let result = run_one(&pool(1), Job::new(hello)).await;
    assert!(result.success(), "{}", result.outcome);
    assert_eq!(result.stdout_lossy(), "hello\n");
    assert!(result.stderr.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_is_reported_with_its_message() {
    let fx = Fixtures::new();
    let result = run_one(&pool(1), Job::new(fx.write("trap.wat", TRAP))).await;
    let Outcome::Trapped(message) = &result.outcome else {
        panic!("expected a trap, got {}", result.outcome);
    };
    assert!(message.contains("unreachable"), "{message}");
    assert!(matches!(result.error(), Some(JobError::Trapped { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_guest_times_out_and_the_rest_of_the_batch_finishes() {
    let fx = Fixtures::new();
    let spin = fx.write("spin.wat", SPIN);
    let done = fx.write("exit0.wat", exit_with(0));
    let pool = pool(2);
    let limit = Duration::from_millis(200);
    let jobs = [
        Job::new(&spin).timeout(limit),
        Job::new(&done),
        Job::new(&spin).timeout(limit),
        Job::new(&done),
    ];
    let results = tokio::time::timeout(HANG, pool.run_all(jobs))
        .await
        .unwrap()
        .unwrap();
    assert!(results[0].timed_out() && results[2].timed_out());
    assert!(results[1].success() && results[3].success());

    // Many at once, 2 workers: every one ends.
    let many = (0..50).map(|_| Job::new(&spin).timeout(Duration::from_millis(20)));
    let results = tokio::time::timeout(HANG, pool.run_all(many))
        .await
        .unwrap()
        .unwrap();
    for r in &results {
        assert!(r.timed_out(), "{}", r.outcome);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_modules_are_spawn_failures_naming_the_path() {
    let fx = Fixtures::new();
    let pool = pool(1);
    let cases: Vec<(PathBuf, std::io::ErrorKind, &str)> = vec![
        (
            fx.dir.path().join("missing.wasm"),
            std::io::ErrorKind::NotFound,
            "cannot read",
        ),
        (
            fx.write("text.wasm", "not wasm at all"),
            std::io::ErrorKind::InvalidData,
            "not a valid",
        ),
        (
            fx.write("cut.wasm", &MINIMAL_MODULE[..11]),
            std::io::ErrorKind::InvalidData,
            "not a valid",
        ),
        (
            fx.write(
                "import.wat",
                r#"(module (import "env" "missing" (func)) (memory (export "memory") 1)
                   (func (export "_start")))"#,
            ),
            std::io::ErrorKind::InvalidData,
            "cannot be linked",
        ),
        (
            fx.write("component.wasm", b"\0asm\x0d\x00\x01\x00"),
            std::io::ErrorKind::InvalidData,
            "cannot be linked as a WASI command",
        ),
        (
            fx.write("cut-component.wasm", b"\0asm\x0d\x00\x01\x00\x01\x09"),
            std::io::ErrorKind::InvalidData,
            "not a valid WebAssembly component",
        ),
    ];
    for (path, kind, words) in cases {
        let result = run_one(&pool, Job::new(&path)).await;
        let Outcome::SpawnFailed(source) = &result.outcome else {
            panic!(
                "{}: expected a spawn failure, got {}",
                path.display(),
                result.outcome
            );
        };
        assert_eq!(source.kind(), kind, "{}: {source}", path.display());
        let message = source.to_string();
        assert!(message.contains(&*path.to_string_lossy()), "{message}");
        assert!(message.contains(words), "{message}");
    }
    // Still usable.
    let ok = run_one(&pool, Job::new(fx.write("ok.wat", exit_with(0)))).await;
    assert!(ok.success());
}

/// The smallest valid binary module with a section: magic, version, one empty function type.
const MINIMAL_MODULE: &[u8] = b"\0asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_is_compiled_once_and_again_when_its_file_changes() {
    let fx = Fixtures::new();
    let spawner = WasiSpawner::builder().max_instances(2).build().unwrap();
    let pool = ProcessPool::new(spawner.clone(), 2).unwrap();
    let path = fx.write("m.wat", exit_with(4));
    for _ in 0..3 {
        assert_eq!(run_one(&pool, Job::new(&path)).await.exit_code(), Some(4));
    }
    assert_eq!(
        spawner.modules_compiled(),
        1,
        "the same file is compiled once"
    );

    std::fs::write(&path, exit_with(42)).unwrap();
    assert_eq!(run_one(&pool, Job::new(&path)).await.exit_code(), Some(42));
    assert_eq!(
        spawner.modules_compiled(),
        2,
        "a rewritten file is compiled again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_the_recheck_window_a_file_is_not_looked_at_again() {
    let fx = Fixtures::new();
    let spawner = WasiSpawner::builder()
        .recheck_after(Duration::from_secs(3600))
        .build()
        .unwrap();
    let pool = ProcessPool::new(spawner.clone(), 1).unwrap();
    let path = fx.write("m.wat", exit_with(4));
    assert_eq!(run_one(&pool, Job::new(&path)).await.exit_code(), Some(4));
    std::fs::write(&path, exit_with(42)).unwrap();
    assert_eq!(
        run_one(&pool, Job::new(&path)).await.exit_code(),
        Some(4),
        "still trusted within the hour"
    );
    assert_eq!(spawner.modules_compiled(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_past_the_cap_is_refused_not_taken() {
    let fx = Fixtures::new();
    let spawner = WasiSpawner::builder().max_memory(4 << 20).build().unwrap();
    let pool = ProcessPool::new(spawner, 1).unwrap();
    // 2 MiB fits under 4 MiB; 8 MiB does not.
    let small = run_one(&pool, Job::new(fx.write("small.wat", grow(32)))).await;
    assert_eq!(small.exit_code(), Some(0), "{}", small.outcome);
    let big = run_one(&pool, Job::new(fx.write("big.wat", grow(128)))).await;
    assert_eq!(
        big.exit_code(),
        Some(1),
        "the grow past the cap was refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_past_the_limit_is_drained_and_flagged() {
    let fx = Fixtures::new();
    let pool = ProcessPool::builder()
        .max_workers(1)
        .output_limit(10_000)
        .build(WasiSpawner::builder().build().unwrap())
        .unwrap();
    // 1,000 writes of 4 KiB: 4 MB written, 10 KB kept, and the guest finishes normally.
    let flood = fx.write("flood.wat", writer(1000, 4096, "", 0));
    let result = run_one(&pool, Job::new(flood)).await;
    assert!(result.success(), "{}", result.outcome);
    assert_eq!(result.stdout.len(), 10_000);
    assert!(result.stdout_truncated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argv_zero_is_the_module_file_name() {
    // A module that exits with argc: args_sizes_get writes argc at address 0.
    let fx = Fixtures::new();
    let wat = exit_with_count("args_sizes_get");
    let path: &Path = &fx.write("argc.wat", wat);
    let result = run_one(&pool(1), Job::new(path).args(["a", "b"])).await;
    assert_eq!(
        result.exit_code(),
        Some(3),
        "argv is the module's name and the 2 arguments"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pool_runs_wasm_jobs_in_wasi_and_the_rest_natively() {
    use process_pool_core::backend::RoutingSpawner;
    use process_pool_native::NativeSpawner;

    let fx = Fixtures::new();
    let spawner = RoutingSpawner::new(NativeSpawner::new()).extensions(
        ["wasm", "wat"],
        WasiSpawner::builder().max_instances(2).build().unwrap(),
    );
    let pool = ProcessPool::new(spawner, 2).unwrap();
    let hello = fx.write(
        "hello.wat",
        writer(1, 6, "hello\\n", 0).replace("(call $exit (i32.const 0))", ""),
    );
    // A native program that prints `native`: `echo` on Unix, cmd's own on Windows (a CRLF).
    let (echo, printed) = if cfg!(windows) {
        (Job::new("cmd").args(["/C", "echo", "native"]), "native\r\n")
    } else {
        (Job::new("echo").arg("native"), "native\n")
    };
    let results = pool
        .run_all([
            echo,
            Job::new(&hello),
            Job::new(fx.write("exit5.wat", exit_with(5))),
        ])
        .await
        .unwrap();
    assert_eq!(results[0].stdout_lossy(), printed);
    assert_eq!(results[1].stdout_lossy(), "hello\n");
    assert_eq!(results[2].exit_code(), Some(5));
}

/// The reference pool's five README examples, with WASI jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_examples_with_wasi_jobs() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let fx = Fixtures::new();
    let say = |word: &str| {
        let text = format!("{word}\\n");
        let module =
            writer(1, word.len() as u32 + 1, &text, 0).replace("(call $exit (i32.const 0))", "");
        fx.write(&format!("say-{word}.wat"), module)
    };

    // Basic: results in input order.
    let pool = WasiSpawner::pool(4).unwrap();
    let results = pool
        .run_all([Job::new(say("hello")), Job::new(say("world"))])
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].exit_code(), Some(0));
    assert_eq!(results[1].stdout_lossy(), "world\n");

    // With timeout.
    let pool = WasiSpawner::pool(2).unwrap();
    let spin = fx.write("spin.wat", SPIN);
    let results = pool
        .run_all([Job::new(&spin).timeout(Duration::from_millis(100))])
        .await
        .unwrap();
    assert!(results[0].timed_out());

    // With error checking.
    let failing = fx.write("false.wat", exit_with(1));
    let checked = pool
        .run_all_checked([Job::new(say("hello")), Job::new(&failing)])
        .await;
    assert!(matches!(
        checked,
        Err(JobError::ProcessFailed {
            index: 1,
            exit_code: Some(1),
            ..
        })
    ));

    // With completion callback.
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    let pool = ProcessPool::builder()
        .max_workers(4)
        .on_complete(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        })
        .build(WasiSpawner::builder().max_instances(4).build().unwrap())
        .unwrap();
    let results = pool
        .run_all([Job::new(say("task1")), Job::new(say("task2"))])
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(count.load(Ordering::Relaxed), 2);

    // Map.
    let results = pool
        .map(["a", "b", "c"], |item| Job::new(say(item)))
        .await
        .unwrap();
    assert_eq!(results.len(), 3);
    for (result, item) in results.iter().zip(["a", "b", "c"]) {
        assert_eq!(result.exit_code(), Some(0));
        assert_eq!(result.stdout_lossy(), format!("{item}\n"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_out_of_fuel_traps_without_a_timeout() {
    let fx = Fixtures::new();
    let spawner = WasiSpawner::builder().fuel(1_000_000).build().unwrap();
    let pool = ProcessPool::new(spawner, 1).unwrap();
    let spin = run_one(&pool, Job::new(fx.write("spin.wat", SPIN))).await;
    let Outcome::Trapped(message) = &spin.outcome else {
        panic!("expected out of fuel, got {}", spin.outcome);
    };
    assert!(message.contains("fuel"), "{message}");
    // A job within its budget is unaffected.
    let ok = run_one(&pool, Job::new(fx.write("exit0.wat", exit_with(0)))).await;
    assert!(ok.success(), "{}", ok.outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_sees_only_the_jobs_environment() {
    // Exits with the number of environment variables it sees.
    let fx = Fixtures::new();
    let wat = exit_with_count("environ_sizes_get");
    let envc = fx.write("envc.wat", wat);
    assert!(
        std::env::vars_os().count() > 2,
        "the host has an environment to leak"
    );
    let pool = pool(1);
    let none = run_one(&pool, Job::new(&envc)).await;
    assert_eq!(
        none.exit_code(),
        Some(0),
        "no host variable reaches the guest"
    );
    let two = run_one(
        &pool,
        Job::new(&envc).env("A", "1").env("B", "2").env_remove("C"),
    )
    .await;
    assert_eq!(two.exit_code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_trivial_jobs_each_answered_once() {
    let fx = Fixtures::new();
    let module = fx.write("exit0.wat", exit_with(0));
    let pool = pool(2);
    // Warm up, then measure the resident memory around the batch.
    run_one(&pool, Job::new(&module)).await;
    let rss = || {
        std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = rss();
    let results = tokio::time::timeout(
        Duration::from_secs(120),
        pool.run_all((0..10_000).map(|_| Job::new(&module))),
    )
    .await
    .unwrap()
    .unwrap();
    let ids: std::collections::HashSet<_> = results.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 10_000);
    assert!(results.iter().all(|r| r.success()));
    drop(results);
    let grown_mib = rss().saturating_sub(before) / 1024;
    assert!(
        grown_mib < 64,
        "resident memory grew by {grown_mib} MiB over 10,000 jobs"
    );
}

/// A module with a table of `initial` elements that grows it by `grow`: exits 0 if that
/// worked, 1 if it was refused.
fn table(initial: u32, grow: u32) -> String {
    format!(
        r#"(module
  (import "{WASI}" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (table $t {initial} funcref)
  (func (export "_start")
    (call $exit (i32.eq (table.grow $t (ref.null func) (i32.const {grow})) (i32.const -1)))))"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_are_limited() {
    let fx = Fixtures::new();
    let spawner = WasiSpawner::builder()
        .max_table_elements(100)
        .build()
        .unwrap();
    let pool = ProcessPool::new(spawner, 1).unwrap();

    let within = run_one(&pool, Job::new(fx.write("within.wat", table(10, 90)))).await;
    assert_eq!(within.exit_code(), Some(0), "{}", within.outcome);
    let past = run_one(&pool, Job::new(fx.write("past.wat", table(10, 91)))).await;
    assert_eq!(
        past.exit_code(),
        Some(1),
        "growing past the limit fails: {}",
        past.outcome
    );

    let path = fx.write("big.wat", table(1000, 0));
    let big = run_one(&pool, Job::new(&path)).await;
    let Outcome::SpawnFailed(error) = &big.outcome else {
        panic!(
            "a table larger than the limit cannot start: {}",
            big.outcome
        );
    };
    let message = error.to_string();
    assert!(message.contains(&*path.to_string_lossy()), "{message}");
    assert!(message.contains("table"), "{message}");
}
