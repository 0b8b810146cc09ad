//! No silent cap: a job's output past what `ppool` keeps in memory spills to a temporary file
//! and is printed whole, in order, with `ppool`'s memory bounded whatever the output's size.

// Linux only: the jobs are `head` and `sh` lines, and the memory is read from /proc.
#![cfg(target_os = "linux")]

mod common;

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use common::{ppool, run_with, text};

/// 68 MiB: past GNU parallel's users' complaint, and past the 64 MiB that `ppool` once kept.
const BIG: u64 = 71_303_168;

#[test]
fn output_past_the_memory_cap_arrives_whole_in_order_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let results = dir.path().join("results");
    let mut command = ppool();
    command.args([
        "-k",
        "--joblog",
        log.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "head -c {} /dev/zero; echo end-{}; head -c {} /dev/zero >&2",
        ":::",
        &BIG.to_string(),
        "3",
    ]);
    let out = run_with(command, b"");
    assert_eq!(out.status.code(), Some(0));
    let end = |n: u64| format!("end-{n}\n");
    let expected = BIG + end(BIG).len() as u64 + 3 + end(3).len() as u64;
    assert_eq!(out.stdout.len() as u64, expected, "every byte of stdout");
    assert_eq!(
        out.stderr.len() as u64,
        BIG + 3,
        "every byte of stderr, nothing said"
    );
    // In input order, each job's output whole.
    let first_end = out
        .stdout
        .windows(end(BIG).len())
        .position(|w| w == end(BIG).as_bytes());
    assert_eq!(first_end, Some(BIG as usize));
    assert!(out.stdout.ends_with(format!("\0\0\0{}", end(3)).as_bytes()));
    // The joblog counts every byte; --results keeps every byte.
    let log = std::fs::read_to_string(&log).unwrap();
    let received: Vec<&str> = log
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(5).unwrap())
        .collect();
    assert!(
        received.contains(&(BIG + end(BIG).len() as u64).to_string().as_str()),
        "{log}"
    );
    let saved = std::fs::metadata(results.join("1/stdout")).unwrap().len();
    assert_eq!(saved, BIG + end(BIG).len() as u64);
    assert_eq!(
        std::fs::metadata(results.join("1/stderr")).unwrap().len(),
        BIG
    );
}

#[test]
fn max_output_is_still_an_explicit_cap_and_says_so() {
    let out = common::ppool_run(&["--max-output", "1K", "head -c 5000 /dev/zero", ":::", "a"]);
    assert_eq!(out.stdout.len(), 1024);
    assert!(text(&out.stderr).contains("stdout cut at 1024 bytes (--max-output)"));
}

/// 256 MiB from one job that ends while a slow job before it holds `-k`'s order: `ppool` holds
/// it on disk, not in memory (its peak resident set, sampled from /proc as it runs).
#[test]
fn a_big_output_waiting_behind_a_slow_job_stays_out_of_memory() {
    const SIZE: u64 = 256 << 20;
    let mut child = ppool()
        .args([
            "-k",
            "-j2",
            "{}",
            ":::",
            "sleep 2; echo slow",
            &format!("head -c {SIZE} /dev/zero"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut total, mut first) = (0u64, Vec::new());
        let mut buffer = vec![0; 1 << 16];
        loop {
            let n = stdout.read(&mut buffer).unwrap();
            if n == 0 {
                return (total, first);
            }
            if first.len() < 5 {
                first.extend_from_slice(&buffer[..n.min(5)]);
            }
            total += n as u64;
        }
    });
    let peak_kib = common::wait_reading_peak_rss(&mut child, Duration::from_secs(120));
    let (total, first) = reader.join().unwrap();
    assert_eq!(total, "slow\n".len() as u64 + SIZE);
    assert_eq!(first, b"slow\n", "the slow job first (-k)");
    // ppool itself is a few MiB; the 256 MiB went through a file.
    assert!(
        peak_kib < 64 << 10,
        "ppool's peak resident set: {peak_kib} KiB"
    );
}
