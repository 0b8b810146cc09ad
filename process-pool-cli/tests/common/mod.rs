//! What the tests of the `ppool` binary share: running it, finding the tools it is compared
//! with, a terminal (tmux), and checking that processes are gone.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn ppool() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ppool"))
}

/// Runs `command` with `stdin`, collecting everything.
pub fn run_with(mut command: Command, stdin: &[u8]) -> Output {
    use std::io::Write;
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the command starts");
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let output = child.wait_with_output().expect("the command runs");
    feeder.join().unwrap();
    output
}

/// Runs `ppool` with these arguments and empty stdin.
pub fn ppool_run(args: &[&str]) -> Output {
    let mut command = ppool();
    command.args(args);
    run_with(command, b"")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A program the tests need, or a panic saying how to install it.
pub fn require(program: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{program}` is not installed; install it with: apt-get install -y {package}")
        })
}

/// GNU parallel, run with its citation notice already acknowledged in a HOME of its own and
/// with `sh` as its shell (the shell `ppool` uses).
pub struct GnuParallel {
    path: PathBuf,
    home: tempfile::TempDir,
}

impl GnuParallel {
    pub fn find() -> GnuParallel {
        let path = require("parallel", "parallel");
        let version = Command::new(&path).arg("--version").output().unwrap();
        assert!(
            text(&version.stdout).starts_with("GNU parallel"),
            "`{}` is not GNU parallel (moreutils has one too); install it with: apt-get install -y parallel",
            path.display()
        );
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".parallel")).unwrap();
        std::fs::write(home.path().join(".parallel/will-cite"), "").unwrap();
        GnuParallel { path, home }
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.path);
        self.same_env(&mut command);
        command
    }

    /// Gives `command` the environment GNU parallel runs in: its home (where it finds its
    /// will-cite file) and `/bin/sh` as the shell.
    pub fn same_env(&self, command: &mut Command) {
        command
            .env("HOME", self.home.path())
            .env("SHELL", "/bin/sh")
            .env("PARALLEL_SHELL", "/bin/sh");
    }
}

/// Whether a process is alive: in /proc and not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// The pids the jobs wrote into `dir` (files named `pid.*`).
pub fn pids_in(dir: &Path) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with("pid.") {
            let content = std::fs::read_to_string(entry.path()).unwrap();
            pids.extend(
                content
                    .split_whitespace()
                    .map(|p| p.parse::<i32>().unwrap()),
            );
        }
    }
    pids
}

/// Asserts that every pid the jobs recorded is gone.
pub fn assert_all_gone(dir: &Path) {
    let pids = pids_in(dir);
    assert!(
        !pids.is_empty(),
        "the jobs recorded no pids in {}",
        dir.display()
    );
    // An ended process is reaped by init, shortly after its parent's exit at most.
    wait_for(
        "every job process to be gone",
        Duration::from_secs(10),
        || pids.iter().all(|&p| !alive(p)),
    );
}

/// Polls `done` every 20 ms; panics after `bound`, which only catches a hang.
pub fn wait_for(what: &str, bound: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < bound, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Counts files in `dir` whose names start with `prefix`.
pub fn count_files(dir: &Path, prefix: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().starts_with(prefix))
                })
                .count()
        })
        .unwrap_or(0)
}

/// A terminal: a tmux server of our own, running one command in a pane.
pub struct Tmux {
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmux {
    /// Starts `command` (a shell command line) in a 100x30 terminal.
    pub fn start(command: &str) -> Tmux {
        let tmux = require("tmux", "tmux");
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("socket");
        let status = Command::new(&tmux)
            .arg("-S")
            .arg(&socket)
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "100",
                "-y",
                "30",
            ])
            .arg(command)
            .env_remove("TMUX")
            .status()
            .unwrap();
        assert!(status.success(), "tmux starts");
        Tmux { socket, _dir: dir }
    }

    fn tmux(&self) -> Command {
        let mut command = Command::new("tmux");
        command.arg("-S").arg(&self.socket);
        command
    }

    /// Types keys (tmux key names: `C-c`).
    pub fn send_keys(&self, keys: &str) {
        let status = self.tmux().args(["send-keys", keys]).status().unwrap();
        assert!(status.success(), "tmux send-keys {keys}");
    }

    /// What the terminal shows now (empty once the command has ended).
    pub fn screen(&self) -> String {
        let out = self.tmux().args(["capture-pane", "-p"]).output().unwrap();
        text(&out.stdout)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self
            .tmux()
            .arg("kill-server")
            .stderr(Stdio::null())
            .status();
    }
}

/// Waits for `child` to exit, reading its peak resident set (`VmHWM`, in KiB) from /proc every
/// few milliseconds while it runs: the last value read before it exits. Panics after `bound`.
#[cfg(target_os = "linux")]
#[allow(dead_code)] // Not every test binary measures memory.
pub fn wait_reading_peak_rss(child: &mut std::process::Child, bound: Duration) -> u64 {
    let status = format!("/proc/{}/status", child.id());
    let started = std::time::Instant::now();
    let mut peak_kib = 0u64;
    while child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < bound, "the process hangs");
        if let Some(hwm) = std::fs::read_to_string(&status).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        }) {
            peak_kib = peak_kib.max(hwm);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(peak_kib > 0, "the process's memory was read");
    peak_kib
}
