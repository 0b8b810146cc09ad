//! The stream suite for a [`Spawner`](crate::backend::Spawner) that carries every stream mode
//! (files, readers, writers, spill, discard): each mode with real jobs, bad paths, retries and
//! single-use streams, failures of a reader or a writer. Run it with
//! [`stream_conformance_tests!`](crate::stream_conformance_tests); [`Pattern`] and
//! [`PatternCheck`] make and check streams of any size in bounded memory, for a backend's own
//! large tests.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use super::HANG_BOUND;
use super::memory::peak_rss;
use super::spawner::Fixtures;
use crate::{Job, JobResult, Outcome, Output, ProcessPool, RetryPolicy};

/// The `i`th word of the pattern.
fn word(i: u64) -> u64 {
    // splitmix64: every word differs, so a lost, repeated or reordered chunk shows.
    let mut z = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The pattern's byte at `at`.
fn byte(at: u64) -> u8 {
    word(at / 8).to_le_bytes()[(at % 8) as usize]
}

/// A reader of `len` bytes of a fixed pseudo-random pattern, made as it is read: a stream of
/// any size in a few KiB of memory.
#[derive(Debug)]
pub struct Pattern {
    at: u64,
    len: u64,
}

impl Pattern {
    /// `len` bytes of the pattern.
    pub fn new(len: u64) -> Self {
        Pattern { at: 0, len }
    }

    /// The whole stream, for a small one.
    pub fn bytes(len: usize) -> Vec<u8> {
        (0..len as u64).map(byte).collect()
    }
}

impl AsyncRead for Pattern {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let room = (buf.remaining() as u64)
            .min(self.len - self.at)
            .min(64 << 10) as usize;
        let out = buf.initialize_unfilled_to(room);
        let mut i = 0;
        while i < out.len() && !self.at.is_multiple_of(8) {
            out[i] = byte(self.at);
            (i, self.at) = (i + 1, self.at + 1);
        }
        let whole = (out.len() - i) / 8;
        for chunk in out[i..i + whole * 8].chunks_exact_mut(8) {
            chunk.copy_from_slice(&word(self.at / 8).to_le_bytes());
            self.at += 8;
        }
        i += whole * 8;
        while i < out.len() {
            out[i] = byte(self.at);
            (i, self.at) = (i + 1, self.at + 1);
        }
        buf.advance(room);
        Poll::Ready(Ok(()))
    }
}

/// A writer that checks every byte written to it against [`Pattern`], in order, keeping none.
#[derive(Debug, Clone, Default)]
pub struct PatternCheck {
    state: Arc<std::sync::Mutex<(u64, Option<u64>)>>,
}

impl PatternCheck {
    /// A check expecting the pattern from its start.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many bytes came, and the offset of the first one that differed from the pattern.
    pub fn result(&self) -> (u64, Option<u64>) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks `data` as the next bytes.
    pub fn check(&self, mut data: &[u8]) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (at, bad) = &mut *state;
        while !data.is_empty() && !at.is_multiple_of(8) {
            if data[0] != byte(*at) && bad.is_none() {
                *bad = Some(*at);
            }
            (data, *at) = (&data[1..], *at + 1);
        }
        let mut words = data.chunks_exact(8);
        for chunk in &mut words {
            let got = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            if got != word(*at / 8) && bad.is_none() {
                *bad = Some(*at);
            }
            *at += 8;
        }
        for &b in words.remainder() {
            if b != byte(*at) && bad.is_none() {
                *bad = Some(*at);
            }
            *at += 1;
        }
    }

    /// Checks a whole reader.
    pub async fn check_reader(&self, mut reader: impl AsyncRead + Unpin) -> io::Result<()> {
        let mut buf = vec![0; 256 << 10];
        loop {
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            self.check(&buf[..n]);
        }
    }
}

impl AsyncWrite for PatternCheck {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn pool<F: Fixtures>(fixtures: &F) -> ProcessPool {
    ProcessPool::builder()
        .max_workers(2)
        .kill_grace(Duration::from_secs(2))
        .build(fixtures.spawner())
        .expect("a valid pool")
}

async fn run<F: Fixtures>(fixtures: &F, job: Job) -> JobResult {
    let pool = pool(fixtures);
    let handle = pool.submit(job).await.expect("accepted");
    tokio::time::timeout(HANG_BOUND, handle)
        .await
        .expect("the job ended within the hang bound")
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// A file's stdin is handed to the job from its start and an output file gets every byte;
/// stderr to a file of its own.
pub async fn files_in_and_out<F: Fixtures>(fixtures: &F) {
    let dir = temp_dir();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    let data = Pattern::bytes(3 << 20);
    std::fs::write(&input, &data).expect("write the input");
    let job = fixtures
        .cat()
        .stdin_file(&input)
        .stdout(Output::file(&output));
    let result = run(fixtures, job).await;
    assert!(
        result.success(),
        "{}: {}",
        result.outcome,
        result.stderr_lossy()
    );
    assert!(result.stdout.is_empty(), "nothing kept in memory");
    assert!(
        std::fs::read(&output).expect("the output") == data,
        "the file holds the input"
    );

    let errors = dir.path().join("err");
    let job = fixtures
        .print("out\n", "err\n")
        .stderr(Output::file(&errors));
    let result = run(fixtures, job).await;
    assert!(result.success(), "{}", result.outcome);
    assert_eq!(result.stdout_lossy(), "out\n");
    assert_eq!(std::fs::read_to_string(&errors).expect("stderr"), "err\n");
}

/// A reader feeds stdin and a writer gets stdout, as the job runs.
pub async fn reader_to_writer<F: Fixtures>(fixtures: &F) {
    let len = 5 << 20;
    let check = PatternCheck::new();
    let job = fixtures
        .cat()
        .stdin_reader(Pattern::new(len))
        .stdout(Output::writer(check.clone()));
    let result = run(fixtures, job).await;
    assert!(
        result.success(),
        "{}: {}",
        result.outcome,
        result.stderr_lossy()
    );
    assert_eq!(check.result(), (len, None), "every byte, in order");
}

/// Past the memory cap the whole stream goes to a spill file that lives with the result.
pub async fn spill_keeps_every_byte<F: Fixtures>(fixtures: &F) {
    let (len, cap) = (3 << 20, 64 << 10);
    let job = fixtures
        .cat()
        .stdin_reader(Pattern::new(len))
        .output_limit(cap)
        .stdout(Output::spill());
    let result = run(fixtures, job).await;
    assert!(result.success(), "{}", result.outcome);
    assert!(!result.stdout_truncated);
    assert_eq!(result.stdout.len(), cap, "the head stays in memory");
    assert_eq!(result.stdout_len(), len);
    let check = PatternCheck::new();
    let reader = result.stdout_reader().await.expect("the spill file");
    check.check_reader(reader).await.expect("read it");
    assert_eq!(check.result(), (len, None));
    let path = result
        .stdout_spill
        .as_ref()
        .expect("spilled")
        .path()
        .to_owned();
    let copy = result.clone();
    drop(result);
    assert!(path.exists(), "a clone of the result keeps it");
    drop(copy);
    assert!(!path.exists(), "removed with the last result");

    let small = run(
        fixtures,
        fixtures.print("small", "").stdout(Output::spill()),
    )
    .await;
    assert!(
        small.stdout_spill.is_none(),
        "under the cap, in memory only"
    );
    assert_eq!(small.stdout_lossy(), "small");
}

/// Discarded output is read (the job never blocks) and kept nowhere.
pub async fn discard_keeps_nothing<F: Fixtures>(fixtures: &F) {
    let job = fixtures.flood(2 << 20).stdout(Output::discard());
    let result = run(fixtures, job).await;
    assert!(result.success(), "{}", result.outcome);
    assert!(result.stdout.is_empty() && !result.stdout_truncated);
}

/// A stdin file that cannot be opened, an output file that cannot be created: the job fails to
/// start, and the reason names the file.
pub async fn bad_paths_fail_to_start_naming_them<F: Fixtures>(fixtures: &F) {
    let dir = temp_dir();
    let missing = dir.path().join("no-such-input");
    let result = run(fixtures, fixtures.cat().stdin_file(&missing)).await;
    let Outcome::SpawnFailed(error) = &result.outcome else {
        panic!("a missing stdin file: {}", result.outcome);
    };
    assert_eq!(error.kind(), io::ErrorKind::NotFound);
    assert!(error.to_string().contains("no-such-input"), "{error}");

    let unwritable = dir.path().join("no-such-dir").join("out");
    let result = run(
        fixtures,
        fixtures.print("x", "").stdout(Output::file(&unwritable)),
    )
    .await;
    let Outcome::SpawnFailed(error) = &result.outcome else {
        panic!("an output file in a missing directory: {}", result.outcome);
    };
    let text = error.to_string();
    assert!(
        text.contains("stdout") && text.contains("no-such-dir"),
        "{text}"
    );
    assert!(
        result
            .error()
            .is_some_and(|e| e.to_string().contains("no-such-dir"))
    );
}

/// A reader that fails stops the job (its input is incomplete), with the reason. A single-use
/// reader is not retried, and the result says why; a factory's readers are.
pub async fn failing_readers_and_retries<F: Fixtures>(fixtures: &F) {
    let policy = || RetryPolicy::attempts(3);
    let job = fixtures
        .cat()
        .stdin_reader(Failing::after(1 << 20))
        .retry(policy());
    let result = run(fixtures, job).await;
    assert!(
        matches!(&result.outcome, Outcome::StreamFailed(e) if e.to_string().contains("stdin")),
        "{}",
        result.outcome
    );
    assert_eq!(result.attempts, 1, "a single-use reader is not retried");
    assert!(
        result
            .retry_prevented
            .is_some_and(|why| why.contains("reader"))
    );

    let made = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&made);
    let job = fixtures
        .cat()
        .stdin_reader_with(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(Failing::after(1000))
        })
        .retry(policy());
    let result = run(fixtures, job).await;
    assert!(
        matches!(result.outcome, Outcome::StreamFailed(_)),
        "{}",
        result.outcome
    );
    assert_eq!(result.attempts, 3, "a factory's reader is made per attempt");
    assert_eq!(made.load(Ordering::SeqCst), 3);
    assert!(result.retry_prevented.is_none());
}

/// A writer that fails stops the job, with the reason: the output is not silently lost.
pub async fn failing_writer_stops_the_job<F: Fixtures>(fixtures: &F) {
    let (reader, writer) = tokio::io::duplex(1024);
    drop(reader);
    let job = fixtures.flood(16 << 20).stdout(Output::writer(writer));
    let result = run(fixtures, job).await;
    let Outcome::StreamFailed(error) = &result.outcome else {
        panic!("a closed writer: {}", result.outcome);
    };
    assert!(error.to_string().contains("stdout"), "{error}");
}

/// Live lines arrive beside every mode.
pub async fn lines_beside_a_file_and_spill<F: Fixtures>(fixtures: &F) {
    let dir = temp_dir();
    for output in [
        Output::file(dir.path().join("out")),
        Output::spill(),
        Output::discard(),
    ] {
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let job = fixtures.print("a\nb\n", "").stdout(output).output_lines(tx);
        let result = run(fixtures, job).await;
        assert!(result.success(), "{}", result.outcome);
        let mut lines = Vec::new();
        while let Ok(line) = rx.try_recv() {
            lines.push(line.bytes);
        }
        assert_eq!(lines, ["a\n", "b\n"]);
    }
    let out = std::fs::read_to_string(dir.path().join("out")).expect("written");
    assert_eq!(out, "a\nb\n");
}

/// A reader that gives `n` bytes of the pattern, then fails.
struct Failing(Pattern, u64);

impl Failing {
    fn after(n: u64) -> Self {
        Failing(Pattern::new(u64::MAX), n)
    }
}

impl AsyncRead for Failing {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.0.at >= self.1 {
            return Poll::Ready(Err(io::Error::other("the source broke")));
        }
        let room = (self.1 - self.0.at).min(buf.remaining() as u64) as usize;
        let mut part = vec![0; room];
        let mut limited = ReadBuf::new(&mut part);
        let polled = Pin::new(&mut self.0).poll_read(cx, &mut limited);
        buf.put_slice(limited.filled());
        polled
    }
}

/// Generates one test per check of the stream suite for a backend's [`Fixtures`], like
/// [`conformance_tests!`](crate::conformance_tests).
#[macro_export]
macro_rules! stream_conformance_tests {
    ($fixtures:expr) => {
        $crate::stream_conformance_tests!(@each $fixtures;
            files_in_and_out,
            reader_to_writer,
            spill_keeps_every_byte,
            discard_keeps_nothing,
            bad_paths_fail_to_start_naming_them,
            failing_readers_and_retries,
            failing_writer_stops_the_job,
            lines_beside_a_file_and_spill,
        );
    };
    (@each $fixtures:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::backend::conformance::streams::$check(&$fixtures).await;
            }
        )*
    };
}

/// Bytes the large-stream checks move: `PROCESS_POOL_BIG_STREAM` (bytes) if set, else 1 GiB.
pub fn big_stream_len() -> u64 {
    std::env::var("PROCESS_POOL_BIG_STREAM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30)
}

/// The peak resident memory a process of the suite may reach while it moves a large stream.
pub const RSS_BOUND: u64 = 64 << 20;

/// Moves `len` generated bytes through `cat` three ways, one after the other: a reader to a
/// writer, a reader to a file, and to a result with spill (a 1 MiB cap); checks every byte of
/// each against the pattern, then that the process's peak resident memory stayed under
/// [`RSS_BOUND`]. Run it alone in its test binary: the peak counts the whole process.
pub async fn big_streams_in_bounded_memory<S: crate::backend::Spawner>(
    spawner: S,
    cat: impl Fn() -> Job,
    len: u64,
) {
    let dir = temp_dir();
    let bound = Duration::from_secs(900);
    let pool = ProcessPool::new(spawner, 2).expect("a pool");
    let ended = |job| {
        let pool = pool.clone();
        async move {
            let handle = pool.submit(job).await.expect("accepted");
            let result = tokio::time::timeout(bound, handle).await.expect("ended");
            assert!(
                result.success(),
                "{}: {}",
                result.outcome,
                result.stderr_lossy()
            );
            result
        }
    };

    let check = PatternCheck::new();
    let job = cat()
        .stdin_reader(Pattern::new(len))
        .stdout(Output::writer(check.clone()));
    ended(job).await;
    assert_eq!(
        check.result(),
        (len, None),
        "reader to writer: every byte, in order"
    );

    let file = dir.path().join("out");
    let job = cat()
        .stdin_reader(Pattern::new(len))
        .stdout(Output::file(&file));
    ended(job).await;
    let check = PatternCheck::new();
    let written = tokio::fs::File::open(&file).await.expect("the output file");
    check.check_reader(written).await.expect("read it");
    assert_eq!(
        check.result(),
        (len, None),
        "reader to file: every byte, in order"
    );
    std::fs::remove_file(&file).expect("remove it");

    let job = cat()
        .stdin_reader(Pattern::new(len))
        .output_limit(1 << 20)
        .stdout(Output::spill());
    let result = ended(job).await;
    assert_eq!(result.stdout.len(), 1 << 20);
    let check = PatternCheck::new();
    check
        .check_reader(result.stdout_reader().await.expect("the spill file"))
        .await
        .expect("read it");
    assert_eq!(check.result(), (len, None), "spilled: every byte, in order");
    drop(result);

    if let Some(peak) = peak_rss() {
        println!(
            "moved {} MiB three ways; peak RSS {} MiB",
            len >> 20,
            peak >> 20
        );
        assert!(
            peak < RSS_BOUND,
            "peak RSS {} MiB moving {} MiB (bound {} MiB)",
            peak >> 20,
            len >> 20,
            RSS_BOUND >> 20
        );
    }
}
