//! Bad input: one clear line on stderr, exit status 255 (GNU parallel's "other error"), and
//! nothing run.

// Unix only: the commands refused and the files they would leave are `sh` lines and Unix
// paths. Windows' own checks of bad input are in `windows.rs`.
#![cfg(unix)]

mod common;

use common::{ppool_run, text};

/// Runs `args` in a fresh directory where every job would leave a file; checks that the run
/// was refused with one line naming `needle`, and that no job ran.
fn refused(args: &[&str], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = common::ppool();
    command.current_dir(dir.path()).args(args);
    let out = common::run_with(command, b"");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{args:?}: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{args:?}: one line, got: {stderr}"
    );
    assert!(stderr.starts_with("ppool: "), "{stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: {stderr:?} should mention {needle:?}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "{args:?}: nothing ran"
    );
}

#[test]
fn an_unknown_option() {
    refused(
        &["--frobnicate", "touch", "x", ":::", "a"],
        "unexpected argument '--frobnicate'",
    );
}

#[test]
fn an_unreadable_argument_file() {
    refused(
        &["touch", "{}", "::::", "/nonexistent/list"],
        "cannot open `/nonexistent/list`",
    );
    refused(&["-a", "/", "touch", "{}"], "is a directory");
}

#[test]
fn a_command_that_does_not_exist_fails_each_job_as_in_gnu_parallel() {
    // The shell says so once per job (its 127), and the exit status counts the failed jobs.
    for (args, name) in [
        (
            &["no-such-command-anywhere", ":::", "a", "b"][..],
            "no-such-command-anywhere",
        ),
        (&["./not-here.sh", "{}", ":::", "a", "b"], "./not-here.sh"),
    ] {
        let mut command = common::ppool();
        command
            .env("SHELL", "/bin/sh")
            .env_remove("PARALLEL_SHELL")
            .args(args);
        let out = common::run_with(command, b"");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let said = stderr
            .lines()
            .filter(|l| l.contains(name) && l.contains("not found"));
        assert_eq!(said.count(), 2, "{args:?}: {stderr}");
    }
}

#[test]
fn a_module_that_is_not_wasm() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake.wasm");
    std::fs::write(&fake, "#!/bin/sh\necho not wasm\n").unwrap();
    refused(
        &["--wasi", fake.to_str().unwrap(), ":::", "a"],
        "is not a WebAssembly module",
    );
    refused(
        &["--wasi", "/nonexistent.wasm", ":::", "a"],
        "cannot read module `/nonexistent.wasm`",
    );
}

#[test]
fn a_number_of_jobs_that_is_not_one() {
    refused(&["-j", "-x", "touch", "{}", ":::", "a"], "-j `-x`");
    refused(&["-j", "many", "touch", "{}", ":::", "a"], "-j `many`");
    refused(
        &["-j", "-1000", "touch", "{}", ":::", "a"],
        "leaves no job to run",
    );
}

#[test]
fn bad_durations_halts_and_sizes() {
    refused(
        &["--timeout", "soon", "touch", "{}", ":::", "a"],
        "--timeout: `soon` is not a duration",
    );
    refused(
        &["--halt", "later,fail=1", "touch", "{}", ":::", "a"],
        "--halt `later,fail=1`",
    );
    refused(
        &["--max-output", "lots", "touch", "{}", ":::", "a"],
        "--max-output",
    );
    refused(
        &[
            "--retries",
            "3",
            "--retry-on",
            "crash",
            "touch",
            "{}",
            ":::",
            "a",
        ],
        "--retry-on `crash`",
    );
    refused(
        &["--colsep", "(", "touch", "{}", ":::", "a"],
        "--colsep `(`",
    );
    refused(&["touch", "{= $_ =}", ":::", "a"], "perl expressions");
    refused(&["--resume", "touch", "{}", ":::", "a"], "--joblog");
}

#[test]
fn jobs_zero_means_as_many_as_the_open_file_limit_allows() {
    // Under `ulimit -n 160`: (160 - 64) / 8 = 12 jobs at once. Each of the first 12 waits until
    // all 12 have started (so 12 run at once), and no job gets a slot past 12.
    let dir = tempfile::tempdir().unwrap();
    let line = "touch started.{#}; while [ $(ls | grep -c started) -lt 12 ]; do sleep 0.01; done; \
                echo {%}";
    let mut command = std::process::Command::new("sh");
    command
        .current_dir(dir.path())
        .args(["-c", "ulimit -n 160 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_ppool"))
        .args(["-j", "0", "--timeout", "60s", line, ":::"])
        .args((1..=30).map(|i| i.to_string()));
    let out = common::run_with(command, b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let slots: Vec<usize> = text(&out.stdout)
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(slots.len(), 30);
    assert_eq!(slots.iter().max(), Some(&12), "{slots:?}");
}

#[test]
fn gnu_parallel_options_left_out_say_so_and_what_to_do_instead() {
    for (args, hint) in [
        (&["--xargs", "echo", ":::", "a"][..], "use -m"),
        (&["--xargs=x", "echo", ":::", "a"][..], "use -m"),
        (
            &["--pipe", "--roundrobin", "wc", "-l"][..],
            "--pipe cuts at fixed",
        ),
        (
            &["--sshlogin", "host", "echo", ":::", "a"][..],
            "remote execution",
        ),
        (
            &["-I", "XX", "echo", "XX", ":::", "a"][..],
            "cannot be renamed",
        ),
    ] {
        refused(args, "options that ppool does not do");
        refused(args, hint);
    }
    refused(&["-s", "0", "echo", ":::", "a"], "-s 0");
    // An option GNU parallel does not have either is clap's plain refusal.
    refused(
        &["--no-such-option", "echo", ":::", "a"],
        "unexpected argument",
    );
}

/// Every option in GNU parallel's manual is known to `ppool`: done, or refused by name saying
/// what to do instead; none gets clap's plain "unexpected argument".
#[test]
fn every_gnu_parallel_option_is_done_or_refused_by_name() {
    common::require("parallel", "parallel");
    let manual = std::process::Command::new("zcat")
        .arg("/usr/share/man/man1/parallel.1.gz")
        .output()
        .expect("zcat runs");
    assert!(
        manual.status.success(),
        "GNU parallel's manual (/usr/share/man/man1/parallel.1.gz) is missing: apt-get install -y parallel"
    );
    // Its OPTIONS are items like `.IP "\fB\-\-block\fR \fIsize\fR" 4`.
    let options: std::collections::BTreeSet<String> = text(&manual.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix(".IP \"\\fB\\-"))
        .filter_map(|rest| rest.split("\\fR").next())
        .map(|name| format!("-{}", name.replace("\\-", "-")))
        .collect();
    assert!(options.len() > 150, "only {} options read", options.len());
    let mut unknown = Vec::new();
    let (mut done, mut refused) = (0, 0);
    for option in &options {
        let out = ppool_run(&[option, "--dry-run", "echo", ":::", "a"]);
        let stderr = text(&out.stderr);
        if stderr.contains("one of GNU parallel's options that ppool does not do") {
            refused += 1;
        } else if stderr.contains("unexpected argument") {
            unknown.push(option.as_str());
        } else {
            done += 1;
        }
    }
    assert!(unknown.is_empty(), "unknown to ppool: {unknown:?}");
    eprintln!(
        "{} options of GNU parallel's: {done} done, {refused} refused by name",
        options.len()
    );
}
