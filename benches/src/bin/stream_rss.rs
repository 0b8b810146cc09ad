//! Moves N bytes of a generated stream (10 GiB by default; the first argument overrides it, in
//! bytes) through `cat` in the pool, from a reader to a writer that checks every byte: as a
//! native process, then as the `cat` guest in WASI (when `cargo xtask guests` has built it).
//! Prints each one's throughput and, at the end, this process's peak resident memory: the
//! bounded-memory figure of README's streams section, measured by hand
//! (`cargo run --release -p process-pool-benches --bin stream_rss`).

use std::time::Instant;

use process_pool::{Job, NativeSpawner, Output, ProcessPool, WasiSpawner};
use process_pool_core::backend::conformance::memory::peak_rss;
use process_pool_core::backend::conformance::streams::{Pattern, PatternCheck};

async fn through(pool: &ProcessPool, name: &str, cat: Job, len: u64) {
    let check = PatternCheck::new();
    let job = cat
        .stdin_reader(Pattern::new(len))
        .stdout(Output::writer(check.clone()));
    let started = Instant::now();
    let result = pool.submit(job).await.expect("accepted").await;
    let took = started.elapsed();
    assert!(
        result.success(),
        "{}: {}",
        result.outcome,
        result.stderr_lossy()
    );
    assert_eq!(check.result(), (len, None), "every byte, in order");
    println!(
        "{name}: {} MiB in {:.2} s, {:.0} MiB/s, every byte checked",
        len >> 20,
        took.as_secs_f64(),
        (len >> 20) as f64 / took.as_secs_f64()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let len = std::env::args()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(10u64 << 30);
    let native = NativeSpawner::pool(1).expect("a pool");
    through(&native, "native cat", Job::new("cat"), len).await;
    // `<target>/release/stream_rss`: the guests are in `<target>/guests`.
    let cat = std::env::current_exe()
        .ok()
        .and_then(|exe| {
            Some(
                exe.ancestors()
                    .nth(2)?
                    .join("guests/wasm32-wasip1/release/cat.wasm"),
            )
        })
        .filter(|path| path.is_file());
    if cat.is_none() {
        println!("skipping the WASI cat guest: not built (run `cargo xtask guests`)");
    }
    if let Some(cat) = cat {
        let wasi = WasiSpawner::pool(1).expect("a pool");
        through(&wasi, "WASI cat guest", Job::new(cat), len).await;
    }
    if let Some(peak) = peak_rss() {
        println!("peak RSS of this process: {} MiB", peak >> 20);
    }
}
