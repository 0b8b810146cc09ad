//! What the native tests need to look at processes from the outside: `/proc`, FIFOs (Unix),
//! Toolhelp snapshots (Windows, in `windows.rs`), and the test programs built from
//! `examples/`.

#![allow(dead_code, unreachable_pub)]

#[cfg(windows)]
pub mod windows;
pub mod workers;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use process_pool_core::Job;
use process_pool_native::NativeWorker;
#[cfg(unix)]
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
#[cfg(unix)]
use tokio::net::unix::pipe;

/// A bound that only catches a hang.
pub const HANG: Duration = Duration::from_secs(30);

/// A job running `script` under `sh -c`.
pub fn sh(script: &str) -> Job {
    Job::new("sh").args(["-c", script])
}

/// The process state letter of `pid` from `/proc/<pid>/stat`, or `None` if there is none.
fn state_and_ppid(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether `pid` is a live process (not gone, not a zombie).
pub fn is_running(pid: u32) -> bool {
    matches!(state_and_ppid(pid), Some((state, _)) if state != 'Z' && state != 'X')
}

/// Every process whose parent is this test process, with its state.
pub fn children_of_self() -> Vec<(u32, char)> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let (state, ppid) = state_and_ppid(pid)?;
            (ppid == me).then_some((pid, state))
        })
        .collect()
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Peak resident memory of this process, in KiB.
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Parses every whitespace-separated number in `text`.
pub fn pids_in(text: &str) -> Vec<u32> {
    text.split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// A named pipe that jobs write event lines into and the test reads, so the test can await
/// "the job has got this far" instead of sleeping.
#[cfg(unix)]
pub struct Events {
    pub path: PathBuf,
    lines: Lines<BufReader<pipe::Receiver>>,
    /// Elsewhere than Linux (no read-write FIFOs in tokio), a writer held open by the test.
    #[cfg(not(target_os = "linux"))]
    _writer: pipe::Sender,
}

#[cfg(unix)]
impl Events {
    /// Creates the FIFO `events` in `dir` and opens it for reading.
    pub fn new(dir: &Path) -> Events {
        let path = dir.join("events");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("run mkfifo");
        assert!(made.success(), "mkfifo failed");
        // Read-write keeps the FIFO open, so the reader never sees end-of-file between writers.
        #[cfg(target_os = "linux")]
        let receiver = pipe::OpenOptions::new()
            .read_write(true)
            .open_receiver(&path)
            .expect("open the FIFO");
        // Where tokio has no read-write FIFOs, a writer of the test's own does the same.
        #[cfg(not(target_os = "linux"))]
        let receiver = pipe::OpenOptions::new()
            .open_receiver(&path)
            .expect("open the FIFO");
        #[cfg(not(target_os = "linux"))]
        let writer = pipe::OpenOptions::new()
            .open_sender(&path)
            .expect("hold the FIFO open");
        Events {
            path,
            lines: BufReader::new(receiver).lines(),
            #[cfg(not(target_os = "linux"))]
            _writer: writer,
        }
    }

    /// The next line a job wrote.
    pub async fn next(&mut self) -> String {
        tokio::time::timeout(HANG, self.lines.next_line())
            .await
            .expect("an event within the hang bound")
            .expect("read the FIFO")
            .expect("the FIFO stays open")
    }
}

/// The Rust test worker, built once per test binary (`cargo test --test workers` does not
/// build the package's examples by itself), beside this binary in `target/<profile>/`.
pub fn test_worker() -> NativeWorker {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    NativeWorker::new(BUILT.get_or_init(|| example("test_worker")))
}

/// The program `examples/test_job.rs`, for job tests that cannot use `sh` (Windows).
pub fn test_job() -> Job {
    Job::new(test_job_path())
}

/// Where `examples/test_job.rs` is built.
pub fn test_job_path() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| example("test_job"))
}

/// The path of example `name`, built for this test binary's profile.
///
/// On Windows a test binary may run where cargo cannot (under Wine, whose `cargo` would be
/// Linux's with Windows paths): there the example built by `cargo test` (which builds every
/// example before it runs a test) is taken as it is.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if cfg!(windows) {
        assert!(
            path.is_file(),
            "{} is not built: run `cargo test -p process-pool-native` without `--test`, or \
             `cargo build -p process-pool-native --examples` first",
            path.display()
        );
        return path;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "-p", "process-pool-native", "--example", name]);
    build.env("CARGO_TARGET_DIR", profile_dir.parent().expect("target/"));
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    let status = build.status().expect("cargo can be started");
    assert!(status.success(), "building {name} failed ({status})");
    path
}

/// Pids of live processes whose environment holds `marker` (`KEY=value`): the workers one
/// test started, told apart from those of the tests running beside it.
pub fn marked(marker: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == marker.as_bytes()))
        })
        .collect()
}
