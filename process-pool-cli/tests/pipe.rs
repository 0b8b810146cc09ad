//! `--pipe` streams: the input is cut into blocks as jobs start, so `ppool`'s memory holds a few
//! blocks per job slot whatever the input's size. (Its output is compared with GNU parallel's
//! in `gnu_parallel.rs`.)

// Linux only: the memory is read from /proc, the jobs are `wc`.
#![cfg(target_os = "linux")]

mod common;

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::Duration;

use common::{ppool, text};

#[test]
fn a_big_input_goes_through_in_blocks_in_bounded_memory() {
    const SIZE: usize = 256 << 20;
    let mut child = ppool()
        .args(["-j2", "--pipe", "--block", "1M", "wc", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let line = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";
        let chunk: Vec<u8> = line.iter().copied().cycle().take(1 << 20).collect();
        for _ in 0..SIZE / chunk.len() {
            stdin.write_all(&chunk).unwrap();
        }
    });
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).unwrap();
        out
    });
    let peak_kib = common::wait_reading_peak_rss(&mut child, Duration::from_secs(300));
    writer.join().unwrap();
    let out = reader.join().unwrap();
    let counts: Vec<usize> = out.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(
        counts.iter().sum::<usize>(),
        SIZE,
        "every byte went to a job"
    );
    assert_eq!(
        counts.len(),
        SIZE >> 20,
        "blocks of 1 MiB (whole lines of 64 bytes)"
    );
    // ppool itself is a few MiB; two slots hold a block each, one more waits.
    assert!(
        peak_kib < 48 << 10,
        "ppool's peak resident set: {peak_kib} KiB"
    );
}

#[test]
fn pipe_options_without_pipe_or_with_values_are_refused() {
    for (args, says) in [
        (&["--block", "1M", "wc", ":::", "a"][..], "give --pipe too"),
        (&["--pipe", "wc", ":::", "a"][..], "--pipe cuts stdin"),
        (&["--pipe-part", "wc"][..], "give it with -a FILE"),
        (&["--pipe", "--block", "0", "wc"][..], "--block `0`"),
        (&["--pipe", "-X", "wc"][..], "not with --wasi, -m or -X"),
        (&["--pipe", "--recend", "", "wc"][..], "both empty"),
    ] {
        let out = common::ppool_run(args);
        assert_eq!(out.status.code(), Some(255), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
