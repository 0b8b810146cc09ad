//! Throughput of a job's streams: `cat` copying a file of N bytes to another, run directly as
//! `cat < in > out` beside the same job through the pool, in one group:
//! - `direct`: `std::process::Command` with the two files as its stdin and stdout;
//! - `pool_files`: a native job with `stdin_file` and `Output::file` (the files are handed to
//!   the process: no byte passes through the pool);
//! - `pool_through`: a native job reading a reader the pool feeds from the file and writing a
//!   writer the pool copies to the file (every byte through the pool, twice);
//! - `wasi_files`: the `cat` guest in WASI with `stdin_file` and `Output::file` (every byte
//!   through the guest's WASI streams);
//! - `wasmtime_cli`: `wasmtime run --dir <dir> cat.wasm < in > out`, when the wasmtime CLI is
//!   installed (`cargo xtask tools`), else skipped with a line saying so.
//!
//! N is 10 GiB (`PROCESS_POOL_BENCH_STREAM` bytes overrides it; the input and the output need
//! twice that on disk, in `$TMPDIR`); `--quick` moves 256 MiB. Target: `pool_files` and
//! `pool_through` at least 0.9× `direct`'s throughput.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use process_pool::{Job, NativeSpawner, Output, ProcessPool, WasiSpawner};
use process_pool_benches::{guest, quick, target_dir};

fn stream_len() -> u64 {
    if let Some(len) = std::env::var("PROCESS_POOL_BENCH_STREAM")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return len;
    }
    if quick() { 256 << 20 } else { 10 << 30 }
}

/// A file of `len` bytes that compress badly (a cheap generator, not zeros a file system might
/// store sparsely).
fn input(dir: &Path, len: u64) -> PathBuf {
    use std::io::Write;
    let path = dir.join("in");
    let mut file =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
    let mut block = vec![0u8; 1 << 20];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut left = len;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    file.flush().unwrap();
    path
}

fn direct(input: &Path, output: &Path) {
    let status = Command::new("cat")
        .stdin(std::fs::File::open(input).unwrap())
        .stdout(std::fs::File::create(output).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
}

/// The wasmtime CLI on the PATH or in `target/tools/bin`.
fn wasmtime_cli() -> Option<PathBuf> {
    let installed = target_dir()?.join("tools/bin/wasmtime");
    if installed.is_file() {
        return Some(installed);
    }
    let on_path = Command::new("wasmtime")
        .arg("--version")
        .stdout(Stdio::null())
        .status();
    if on_path.is_ok_and(|s| s.success()) {
        return Some("wasmtime".into());
    }
    eprintln!("skipping streams/wasmtime_cli: no wasmtime CLI (run `cargo xtask tools`)");
    None
}

fn streams(c: &mut Criterion) {
    let len = stream_len();
    let dir = tempfile::tempdir().unwrap();
    let input = input(dir.path(), len);
    let output = dir.path().join("out");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let native: ProcessPool = runtime.block_on(async { NativeSpawner::pool(1) }).unwrap();
    let cat_wasm = guest("cat", "wasm32-wasip1");
    let wasi: Option<ProcessPool> = cat_wasm
        .as_ref()
        .map(|_| runtime.block_on(async { WasiSpawner::pool(1) }).unwrap());

    let mut group = c.benchmark_group("streams");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(len));
    let size = format!("{}MiB", len >> 20);
    let run = |pool: &ProcessPool, job: Job| {
        let pool = pool.clone();
        async move {
            let result = pool.submit(job).await.unwrap().await;
            assert!(
                result.success(),
                "{}: {}",
                result.outcome,
                result.stderr_lossy()
            );
        }
    };
    group.bench_function(BenchmarkId::new("direct", &size), |b| {
        b.iter(|| direct(&input, &output));
    });
    group.bench_function(BenchmarkId::new("pool_files", &size), |b| {
        b.to_async(&runtime).iter(|| {
            run(
                &native,
                Job::new("cat")
                    .stdin_file(&input)
                    .stdout(Output::file(&output)),
            )
        });
    });
    group.bench_function(BenchmarkId::new("pool_through", &size), |b| {
        b.to_async(&runtime).iter(|| {
            let input = input.clone();
            let output = output.clone();
            let job = Job::new("cat")
                .stdin_reader_with(move || {
                    std::fs::File::open(&input).map(tokio::fs::File::from_std)
                })
                .stdout(Output::writer_with(move || {
                    std::fs::File::create(&output).map(tokio::fs::File::from_std)
                }));
            run(&native, job)
        });
    });
    if let (Some(pool), Some(cat)) = (&wasi, &cat_wasm) {
        group.bench_function(BenchmarkId::new("wasi_files", &size), |b| {
            b.to_async(&runtime).iter(|| {
                run(
                    pool,
                    Job::new(cat)
                        .stdin_file(&input)
                        .stdout(Output::file(&output)),
                )
            });
        });
        if let Some(cli) = wasmtime_cli() {
            group.bench_function(BenchmarkId::new("wasmtime_cli", &size), |b| {
                b.iter(|| {
                    let status = Command::new(&cli)
                        .args(["run", "--dir"])
                        .arg(dir.path())
                        .arg(cat)
                        .stdin(std::fs::File::open(&input).unwrap())
                        .stdout(std::fs::File::create(&output).unwrap())
                        .status()
                        .unwrap();
                    assert!(status.success());
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, streams);
criterion_main!(benches);
