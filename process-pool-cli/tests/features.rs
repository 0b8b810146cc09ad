//! What `ppool` adds to GNU parallel's habits, and its other options: `--json`, `--results`,
//! `--max-output`, retries with backoff by outcome, grouped output, `--dry-run`, `--wasi`,
//! completions and help.

// Unix only: the jobs are `sh` lines (printf, sleep, kill, ulimit). What a Windows user does is
// checked in `windows.rs`, under Wine.
#![cfg(unix)]

mod common;

use common::{ppool, ppool_run, run_with, text};
use serde_json::Value;

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    text(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn json_has_one_object_per_job_with_everything_known_of_it() {
    let out = ppool_run(&[
        "-k",
        "--json",
        "--timeout",
        "300ms",
        "{}",
        ":::",
        "echo out; echo err >&2",
        "exit 3",
        "sleep 30",
        "kill -9 $$",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 4);
    let first = &lines[0];
    assert_eq!(first["seq"], 1);
    assert_eq!(
        first["input"],
        serde_json::json!(["echo out; echo err >&2"])
    );
    assert_eq!(first["command"], "echo out; echo err >&2");
    assert_eq!(first["outcome"], "exited");
    assert_eq!(first["exit"], 0);
    assert_eq!(first["stdout"], "out\n");
    assert_eq!(first["stderr"], "err\n");
    assert_eq!(first["attempts"], 1);
    assert_eq!(first["stdout_truncated"], false);
    assert!(first["duration"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        (lines[1]["outcome"].as_str(), lines[1]["exit"].as_i64()),
        (Some("exited"), Some(3))
    );
    assert_eq!(lines[2]["outcome"], "timed_out");
    assert_eq!(lines[2]["timed_out"], true);
    assert_eq!(
        (lines[3]["outcome"].as_str(), lines[3]["signal"].as_i64()),
        (Some("signaled"), Some(9))
    );
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn results_keep_each_jobs_output_and_status_in_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let res = dir.path().join("res");
    let out = ppool_run(&[
        "--results",
        res.to_str().unwrap(),
        "echo {}; echo e{} >&2; exit {}",
        ":::",
        "0",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(1));
    for (seq, code) in [(1, "0"), (2, "2")] {
        let job = res.join(seq.to_string());
        let read = |name: &str| std::fs::read_to_string(job.join(name)).unwrap();
        assert_eq!(read("stdout"), format!("{code}\n"));
        assert_eq!(read("stderr"), format!("e{code}\n"));
        assert_eq!(read("exit"), format!("{code}\n"));
        assert_eq!(
            read("command"),
            format!("echo {code}; echo e{code} >&2; exit {code}\n")
        );
    }
}

#[test]
fn output_past_max_output_is_cut_and_said_to_be() {
    let out = ppool_run(&[
        "--max-output",
        "1K",
        "head -c 5000 /dev/zero | tr '\\0' x; : {}",
        ":::",
        "a",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout.len(), 1024);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("job 1: stdout cut at 1024 bytes"),
        "{stderr}"
    );
    let out = ppool_run(&["--json", "--max-output", "10", "seq 100; : {}", ":::", "a"]);
    let line = &json_lines(&out.stdout)[0];
    assert_eq!(
        (line["stdout"].as_str(), &line["stdout_truncated"]),
        (Some("1\n2\n3\n4\n5\n"), &Value::Bool(true))
    );
}

#[test]
fn retries_back_off_and_only_for_the_outcomes_asked() {
    let dir = tempfile::tempdir().unwrap();
    // Fails twice, then succeeds: a counter file per input.
    let flaky = "n=$(cat count.{} 2>/dev/null || echo 0); echo $((n+1)) > count.{}; [ $n -ge 2 ]";
    let mut command = ppool();
    command.current_dir(dir.path()).args([
        "--json",
        "--retries",
        "3",
        "--retry-delay",
        "50ms",
        flaky,
        ":::",
        "a",
    ]);
    let start = std::time::Instant::now();
    let out = run_with(command, b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json_lines(&out.stdout)[0]["attempts"], 3);
    // 50 ms, then 100 ms: the backoff doubles.
    assert!(start.elapsed() >= std::time::Duration::from_millis(150));

    // Only timeouts are retried: a failing exit is not.
    let out = ppool_run(&[
        "--json",
        "--retries",
        "3",
        "--retry-on",
        "timeout",
        "exit 1; : {}",
        ":::",
        "a",
    ]);
    assert_eq!(json_lines(&out.stdout)[0]["attempts"], 1);
    let out = ppool_run(&[
        "--json",
        "--retries",
        "2",
        "--retry-on",
        "timeout",
        "--timeout",
        "100ms",
        "sleep 10; : {}",
        ":::",
        "a",
    ]);
    assert_eq!(json_lines(&out.stdout)[0]["attempts"], 2);
}

#[test]
fn output_is_grouped_per_job_never_interleaved() {
    let out = ppool_run(&[
        "-j",
        "4",
        "for i in $(seq 200); do echo {}-$i; done",
        ":::",
        "a",
        "b",
        "c",
        "d",
    ]);
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 800);
    for block in lines.chunks(200) {
        let job = block[0].split('-').next().unwrap();
        let expected: Vec<String> = (1..=200).map(|i| format!("{job}-{i}")).collect();
        assert_eq!(block, expected.as_slice());
    }
}

#[test]
fn keep_order_prints_in_input_order_whatever_ends_first() {
    let out = ppool_run(&[
        "-k",
        "-j",
        "3",
        "sleep {}; echo {}",
        ":::",
        "0.3",
        "0.1",
        "0.2",
    ]);
    assert_eq!(text(&out.stdout), "0.3\n0.1\n0.2\n");
    // Jobs with nothing to print end first and in between: the order still holds.
    let out = ppool_run(&[
        "-k",
        "-j",
        "5",
        "sleep 0.{}; if [ $(({} % 2)) = 1 ]; then echo {}; fi",
        ":::",
        "5",
        "4",
        "3",
        "2",
        "1",
    ]);
    assert_eq!(text(&out.stdout), "5\n3\n1\n");
}

#[test]
fn dry_run_shows_the_commands_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dry_run = |quote: &[&str]| {
        let mut command = ppool();
        command
            .current_dir(dir.path())
            .arg("--dry-run")
            .args(quote)
            .args(["touch", "{}.done", "it's", ":::", "a b", "c"]);
        text(&run_with(command, b"").stdout)
    };
    // As GNU parallel: the words joined into the shell's line, the values quoted.
    assert_eq!(dry_run(&[]), "touch 'a b'.done it's\ntouch c.done it's\n");
    // -q: each word one argument, shown quoted.
    assert_eq!(
        dry_run(&["-q"]),
        "touch 'a b.done' 'it'\\''s'\ntouch c.done 'it'\\''s'\n"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_misspelt_option_gets_a_suggestion() {
    let out = ppool_run(&["--jbos", "2", "echo", ":::", "a"]);
    assert_eq!(out.status.code(), Some(255));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("did you mean `--jobs`?"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn help_version_and_completions() {
    let help = ppool_run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = text(&help.stdout);
    for needle in [
        "Examples:",
        ":::",
        "--halt",
        "Exit status:",
        "Ctrl-C",
        "{1} {2} ...",
    ] {
        assert!(help.contains(needle), "{needle} in --help");
    }
    // Every replacement string shown whole: none eaten as a line break (`{n}` was).
    assert!(!help.contains("slot, \n"), "{help}");
    let version = ppool_run(&["--version"]);
    assert_eq!(
        text(&version.stdout),
        format!("ppool {}\n", env!("CARGO_PKG_VERSION"))
    );
    let bash = ppool_run(&["--completions", "bash"]);
    assert_eq!(bash.status.code(), Some(0));
    assert!(text(&bash.stdout).contains("--joblog"));
}

#[cfg(feature = "wasi")]
mod wasi {
    use super::*;

    /// Writes "hello\n" to stdout, then exits with the code in its name's module (0).
    const HELLO: &str = r#"(module
        (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 16) "hello\n")
        (func (export "_start")
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const 6))
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;

    const SPIN: &str = r#"(module (memory (export "memory") 1)
        (func (export "_start") (loop $l (br $l))))"#;

    #[test]
    fn wasi_modules_run_sandboxed_once_per_input() {
        let dir = tempfile::tempdir().unwrap();
        let hello = dir.path().join("hello.wat");
        std::fs::write(&hello, HELLO).unwrap();
        let spin = dir.path().join("spin.wat");
        std::fs::write(&spin, SPIN).unwrap();
        let out = ppool_run(&[
            "--wasi",
            "-k",
            hello.to_str().unwrap(),
            ":::",
            "a",
            "b",
            "c",
        ]);
        assert_eq!(
            (out.status.code(), text(&out.stdout)),
            (Some(0), "hello\nhello\nhello\n".into())
        );

        let out = ppool_run(&[
            "--wasi",
            "--json",
            "--fuel",
            "100000",
            spin.to_str().unwrap(),
            ":::",
            "a",
        ]);
        assert_eq!(json_lines(&out.stdout)[0]["outcome"], "trapped");
        let out = ppool_run(&[
            "--wasi",
            "--json",
            "--timeout",
            "100ms",
            spin.to_str().unwrap(),
            ":::",
            "a",
        ]);
        assert_eq!(json_lines(&out.stdout)[0]["outcome"], "timed_out");
        let data = dir.path().to_str().unwrap();
        let out = ppool_run(&[
            "--wasi",
            "--dir",
            &format!("{data}:/data:ro"),
            "--max-memory",
            "16M",
            hello.to_str().unwrap(),
            ":::",
            "a",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
}

/// `--line-buffer` prints each line as a job writes it: the first line of a job that is still
/// running is already out, tagged with `--tag`.
#[test]
fn line_buffer_prints_lines_while_the_job_runs() {
    use std::io::{BufRead, BufReader};
    let mut child = ppool()
        .args([
            "--line-buffer",
            "--tag",
            "-q",
            "sh",
            "-c",
            "echo first-$0; sleep 30; echo never",
            ":::",
            "x",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ppool starts");
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    out.read_line(&mut line).expect("a line");
    assert_eq!(line, "x\tfirst-x\n");
    assert!(
        child.try_wait().expect("waitable").is_none(),
        "the job still runs: the line came live"
    );
    // SIGTERM ends every job's process tree, and ppool with them.
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let status = child.wait().expect("ppool ends");
    assert_eq!(status.code(), Some(143), "{status:?}");
}
