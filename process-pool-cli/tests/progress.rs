//! The progress bar: drawn in a real terminal (tmux), absent when stdout or stderr is not one.

// Unix only: the terminal is tmux. On a Windows console the bar is drawn by indicatif (and its
// `console` crate's Windows support); no Windows terminal here can be read back by a test.
#![cfg(unix)]

mod common;

use std::time::Duration;

use common::{Tmux, count_files, wait_for};

fn status(dir: &std::path::Path) -> Option<i32> {
    std::fs::read_to_string(dir.join("status"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// Runs `ppool ARGS` (shell words) in a terminal, then `echo $? > status`, then keeps the pane.
fn terminal(dir: &std::path::Path, args: &str) -> Tmux {
    Tmux::start(&format!(
        "cd {} && {} {args}; echo $? > status; sleep 60",
        dir.display(),
        env!("CARGO_BIN_EXE_ppool")
    ))
}

#[test]
fn a_terminal_shows_done_running_failed_rate_and_eta() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = terminal(
        dir.path(),
        "-j 2 'touch started.{}; while [ ! -e release ]; do sleep 0.02; done; [ {} != 3 ]' ::: 1 2 3 4",
    );
    wait_for("two jobs to start", Duration::from_secs(20), || {
        count_files(dir.path(), "started.") == 2
    });
    wait_for("the bar", Duration::from_secs(20), || {
        tmux.screen().contains("0/4 done, 2 running, 0 failed")
    });
    let screen = tmux.screen();
    assert!(screen.contains("/s") && screen.contains("ETA"), "{screen}");
    // The rate with one decimal, not four.
    let rate = screen.split("/s").next().unwrap_or_default();
    let decimals = rate.rsplit_once('.').map_or(0, |(_, d)| d.len());
    assert_eq!(decimals, 1, "{screen}");
    std::fs::write(dir.path().join("release"), "").unwrap();
    wait_for("ppool to exit", Duration::from_secs(20), || {
        status(dir.path()).is_some()
    });
    assert_eq!(status(dir.path()), Some(1), "job 3 failed");
    // The bar is cleared at the end.
    let screen = tmux.screen();
    assert!(!screen.contains("done,"), "{screen}");
}

#[test]
fn inputs_read_from_the_terminal_are_announced() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = terminal(dir.path(), "echo got");
    wait_for("the announcement", Duration::from_secs(20), || {
        tmux.screen().contains("reading inputs from the terminal")
    });
    tmux.send_keys("a");
    tmux.send_keys("Enter");
    tmux.send_keys("C-d");
    wait_for("ppool to exit", Duration::from_secs(20), || {
        status(dir.path()).is_some()
    });
    assert!(tmux.screen().contains("got a"), "{}", tmux.screen());
    assert_eq!(status(dir.path()), Some(0));
}

#[test]
fn bar_draws_with_stdout_piped_while_stderr_is_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = terminal(
        dir.path(),
        "--bar -j 1 'touch started.{}; while [ ! -e release ]; do sleep 0.02; done' ::: 1 | cat",
    );
    wait_for("the bar", Duration::from_secs(20), || {
        tmux.screen().contains("0/1 done, 1 running")
    });
    std::fs::write(dir.path().join("release"), "").unwrap();
    wait_for("ppool to exit", Duration::from_secs(20), || {
        status(dir.path()).is_some()
    });
}

#[test]
fn nothing_is_drawn_when_stdout_or_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    // Jobs long enough (1 s) for a bar to have appeared (after 200 ms) were one enabled.
    let piped = terminal(dir.path(), "-j 1 'sleep 1; echo piped' ::: 1 | cat");
    wait_for("ppool to exit", Duration::from_secs(20), || {
        status(dir.path()).is_some()
    });
    let screen = piped.screen();
    assert!(screen.contains("piped"), "{screen}");
    assert!(
        !screen.contains("done") && !screen.contains("running"),
        "{screen}"
    );

    let dir = tempfile::tempdir().unwrap();
    let redirected = terminal(dir.path(), "-j 1 'sleep 1; echo redirected' ::: 1 2> err");
    wait_for("ppool to exit", Duration::from_secs(20), || {
        status(dir.path()).is_some()
    });
    let screen = redirected.screen();
    assert!(screen.contains("redirected"), "{screen}");
    assert!(!screen.contains("running"), "{screen}");
    assert_eq!(std::fs::read_to_string(dir.path().join("err")).unwrap(), "");
}
