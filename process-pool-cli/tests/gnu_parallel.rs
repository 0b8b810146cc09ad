//! The same commands through `ppool` and GNU parallel give the same output (with `-k`) and the
//! same exit status, for the subset `ppool` supports: replacement strings, `:::`/`::::`
//! combinations, `--colsep`, `-0`, `--tag`, exit status with failures, `--halt`.
//!
//! Needs GNU parallel (`apt-get install -y parallel`); fails saying so when it is missing.

// Unix only: GNU parallel (perl and /bin/sh) is the reference, and there is none on Windows.
#![cfg(unix)]

mod common;

use std::process::Command;

use common::{GnuParallel, ppool, run_with, text};

/// One command line, given to both tools after `-k`, in the same environment: GNU parallel's
/// home, `/bin/sh` as the shell, then `env` (a `None` value removes the variable).
struct Case {
    args: &'static [&'static str],
    stdin: &'static [u8],
    env: &'static [(&'static str, Option<&'static str>)],
}

const fn case(args: &'static [&'static str]) -> Case {
    Case {
        args,
        stdin: b"",
        env: &[],
    }
}

const fn piped(args: &'static [&'static str], stdin: &'static [u8]) -> Case {
    Case {
        args,
        stdin,
        env: &[],
    }
}

const fn with_env(
    args: &'static [&'static str],
    env: &'static [(&'static str, Option<&'static str>)],
) -> Case {
    Case {
        args,
        stdin: b"",
        env,
    }
}

/// Files the cases read with `::::` and `-a`.
const FILES: &[(&str, &[u8])] = &[
    ("nums", b"1\n2\n3\n"),
    ("letters", b"a\nb\n"),
    ("nul", b"x\0y z\0last"),
    ("empty", b""),
];

/// Runs every case through both tools; panics with every difference at once.
fn compare(cases: &[Case]) {
    let gnu = GnuParallel::find();
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in FILES {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let mut differences = Vec::new();
    for case in cases {
        let run = |mut command: Command| {
            gnu.same_env(&mut command);
            for (key, value) in case.env {
                match value {
                    Some(value) => command.env(key, value),
                    None => command.env_remove(key),
                };
            }
            command.current_dir(dir.path()).arg("-k").args(case.args);
            run_with(command, case.stdin)
        };
        let theirs = run(gnu.command());
        let ours = run(ppool());
        if ours.stdout != theirs.stdout || ours.status.code() != theirs.status.code() {
            differences.push(format!(
                "{:?}\n  GNU parallel: {:?} exit {:?}\n  ppool:        {:?} exit {:?}\n  ppool stderr: {}",
                case.args,
                text(&theirs.stdout),
                theirs.status.code(),
                text(&ours.stdout),
                ours.status.code(),
                text(&ours.stderr),
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

#[test]
fn replacement_strings() {
    compare(&[
        case(&[
            "echo",
            "{}",
            "{.}",
            "{/}",
            "{//}",
            "{/.}",
            "{#}",
            ":::",
            "a.tar.gz",
            ".bashrc",
            "foo.",
            "sub.dir/bar",
            "/x/y/",
            "a//b",
            "/",
            "noslash",
            "sp ace.x",
        ]),
        case(&["-j1", "echo", "{%}", "{#}", ":::", "a", "b", "c"]),
        case(&[
            "echo", "{2}", "{1.}", "{-1/}", "{3}", ":::", "a.x", "b.y", ":::", "d/c.z", "e",
        ]),
        case(&[
            "echo", "{1//}", "{2/.}", ":::", "a/b/c", "/top", ":::", "x/y.z",
        ]),
        case(&["echo", "{#}", ":::", "a", "b"]),
        case(&["echo", "x{}y", ":::", "a", "b", ":::", "1"]),
        case(&["echo", "fixed", "words", ":::", "a b", "it's", "$HOME"]),
        case(&[
            "echo {} | tr a-z A-Z",
            ":::",
            "it's",
            "a  b",
            "$HOME",
            "*",
            "`id`",
        ]),
        case(&["echo x", ":::", "a b", "c"]),
        case(&["{} --version", ":::", "echo"]),
        case(&[":::", "echo a", "echo b; echo c"]),
    ]);
}

#[test]
fn input_sources() {
    compare(&[
        case(&[
            "echo", ":::", "1", "2", ":::", "a", "b", "c", ":::", "X", "Y",
        ]),
        case(&[
            "echo",
            "{1}{2}{3}",
            ":::",
            "a",
            "b",
            "c",
            ":::+",
            "1",
            "2",
            ":::",
            "X",
            "Y",
        ]),
        case(&["echo", "{1}-{2}", "::::", "nums", ":::", "p", "q"]),
        case(&["echo", "::::", "nums", "::::+", "letters"]),
        case(&["echo", "::::", "letters", "nums"]),
        case(&["-a", "nums", "echo", "{2}{1}", ":::", "x", "y"]),
        piped(&["echo", "[{}]"], b"a b\n\nc\n"),
        piped(&["echo", "{1}{2}", "::::", "-", ":::", "x"], b"1\n2\n"),
        piped(&["echo"], b""),
        piped(&["echo"], b"no newline at the end"),
    ]);
}

#[test]
fn columns_and_nul() {
    compare(&[
        case(&[
            "--colsep",
            ",",
            "echo",
            "{2}-{1}-{}",
            ":::",
            " a , b ",
            "c,d,e",
        ]),
        piped(&["--colsep", "\t", "echo", "{2}", "{1}"], b"a\tb\nc\td\n"),
        piped(&["--colsep", "[:;]+", "echo", "{3}{1}"], b"a:;b;c\n"),
        case(&[
            "--colsep", "-", "echo", "{4}", "{3}", "{2}", "{1}", ":::", "A-B", "C-D", ":::", "e-f",
            "g-h",
        ]),
        piped(&["-0", "echo", "[{}]"], b"a\nb\0c d\0"),
        case(&["-0", "echo", "::::", "nul"]),
    ]);
}

#[test]
fn tags() {
    compare(&[
        case(&["--tag", "echo", "out", ":::", "a", "b", ":::", "1"]),
        case(&["--tag", "printf 'l1\\n%s' {}", ":::", "a", "b"]),
        case(&["--tag", "--colsep", ",", "echo", "{2}", ":::", "a,b"]),
    ]);
}

#[test]
fn exit_status_with_failures() {
    let many: &'static [&'static str] = Box::leak(
        ["false", ":::"]
            .into_iter()
            .map(str::to_owned)
            .chain((1..=102).map(|i| i.to_string()))
            .map(|s| &*Box::leak(s.into_boxed_str()))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    compare(&[
        case(&["exit {}", ":::", "0", "1", "2", "3"]),
        case(&["true", ":::", "a", "b"]),
        case(&["echo {}; kill -9 $$", ":::", "a", "b"]),
        case(many),
    ]);
}

#[test]
fn halt() {
    compare(&[
        case(&[
            "-j1",
            "--halt",
            "now,fail=1",
            "echo {}; exit {}",
            ":::",
            "0",
            "3",
            "0",
            "0",
        ]),
        case(&[
            "-j1",
            "--halt",
            "soon,fail=2",
            "echo {}; exit {}",
            ":::",
            "0",
            "3",
            "4",
            "5",
            "0",
        ]),
        case(&[
            "-j1",
            "--halt",
            "now,success=1",
            "echo {}; exit {}",
            ":::",
            "1",
            "1",
            "0",
            "5",
            "0",
        ]),
        case(&[
            "-j1",
            "--halt",
            "now,fail=50%",
            "echo {}; exit {}",
            ":::",
            "1",
            "0",
            "0",
            "0",
            "1",
            "0",
            "1",
            "1",
        ]),
        case(&[
            "-j1",
            "--halt",
            "soon,done=2",
            "echo {}; exit {}",
            ":::",
            "1",
            "0",
            "0",
            "0",
        ]),
        case(&["-j1", "--halt", "2", "echo {}; kill -9 $$", ":::", "a", "b"]),
        case(&[
            "-j1",
            "--halt",
            "1",
            "echo {}; exit {}",
            ":::",
            "0",
            "4",
            "5",
        ]),
        case(&[
            "-j1",
            "--halt",
            "soon,success=3",
            "echo {}; exit {}",
            ":::",
            "1",
            "0",
            "0",
            "2",
        ]),
    ]);
}

#[test]
fn command_lines_as_gnu_parallel_runs_them() {
    compare(&[
        // The words joined with spaces, then split again by the shell.
        case(&["echo", "a  b", ":::", "x"]),
        // Variables, redirections, `;` and assignments in the words.
        case(&["echo", "$HOME/{}", ":::", "x"]),
        case(&["cat", "{}", ">{}.copy;", "cat", "{}.copy", ":::", "nums"]),
        case(&["sleep", "{};", "echo", "{}", ":::", "0.1"]),
        case(&["X=1", "sh", "-c", "'echo $X $0'", ":::", "a"]),
        case(&[
            "[", "{}", "=", "a", "]", "&&", "echo", "yes", ":::", "a", "b",
        ]),
        // Builtins, and a command that does not exist (the shell's 127, one failed job).
        case(&["--joblog", "log", "exit", ":::", "1", "2", "3", "0"]),
        case(&["no-such-command", ":::", "a"]),
        case(&["cd", "/", "&&", "pwd", ":::", "a"]),
        // Builtins that have a program too: the shell's answer, whatever the arguments.
        case(&["echo", ":::", "-n", "a\\tb", "plain"]),
        case(&["true", ":::", "--version"]),
        // -q: each word one argument.
        case(&["-q", "printf", "[%s]\\n", "a  b", ":::", "$HOME", "x y"]),
        case(&["-q", "sh", "-c", "echo $0; exit 2", ":::", "a"]),
    ]);
}

#[test]
fn several_inputs_per_command() {
    compare(&[
        case(&["-n2", "echo", ":::", "a", "b", "c", "d", "e"]),
        case(&[
            "-n2", "echo", "{1}-{2}", "{#}", ":::", "a", "b", "c", "d", "e",
        ]),
        case(&["-N2", "echo", "{1}-{2}", ":::", "a", "b", "c", "d", "e"]),
        case(&["-n2", "echo", "x{}y", ":::", "a", "b", "c"]),
        case(&["-n2", "echo", "{2.}", ":::", "a.x", "b.y", "c.z"]),
        case(&["-N0", "echo", "x", ":::", "a", "b"]),
        case(&["-n2", "echo", "{}", ":::", "a", "b", ":::", "1", "2"]),
        case(&[
            "-n3", "--colsep", ",", "echo", "{1}/{2}", ":::", "a,b", "c,d",
        ]),
        // As many as fit, spread evenly over the job slots.
        case(&[
            "-j2", "-X", "echo", ":::", "1", "2", "3", "4", "5", "6", "7",
        ]),
        case(&[
            "-j3",
            "-X",
            "echo",
            "pre-{}-post",
            ":::",
            "1",
            "2",
            "3",
            "4",
        ]),
        case(&[
            "-j5",
            "-m",
            "echo",
            "pre-{}-post",
            ":::",
            "1",
            "2",
            "3",
            "4",
            "5",
            "6",
            "7",
        ]),
        case(&[
            "-n", "3", "-j2", "-X", "echo", ":::", "1", "2", "3", "4", "5", "6", "7",
        ]),
        case(&["-j1", "-X", "echo {.}.o | tr a-z A-Z", ":::", "a.c", "b.c"]),
        case(&["-j1", "-m", "wc -l", "::::", "nums", "letters"]),
        case(&["-L2", "echo", "x{}y", ":::", "a", "b", "c"]),
        piped(&["-j1", "-X", "echo"], b"1\n2\n3\n"),
    ]);
}

#[test]
fn pipe_cuts_the_input_into_blocks() {
    // 200,000 numbered lines (1.3 MB): several blocks of 100 KiB and of the default 1 MiB.
    let lines: String = (1..=200_000).map(|i| format!("{i}\n")).collect();
    let lines: &'static [u8] = Box::leak(lines.into_bytes().into_boxed_slice());
    std::fs::write(std::env::temp_dir().join("ppool-pipe-part-lines"), lines).unwrap();
    compare(&[
        piped(&["--pipe", "wc", "-c"], lines),
        piped(&["--pipe", "--block", "100K", "wc", "-lc"], lines),
        piped(&["--pipe", "--block", "64k", "wc", "-l"], lines),
        piped(
            &["-j1", "--pipe", "--block", "100k", "echo {#}; tail -n1"],
            lines,
        ),
        piped(
            &["--pipe", "-N3", "echo {#} {}; cat"],
            b"1\n2\n3\n4\n5\n6\n7\n",
        ),
        piped(
            &["--pipe", "--recstart", ">", "-N1", "cat; echo ="],
            b">a\nx\n>b\ny\n",
        ),
        piped(&["--pipe", "--recend", ",", "-N1", "cat; echo"], b"a,b,c,d"),
        piped(
            &["--pipe", "--recend", "\\n", "-N2", "cat; echo ="],
            b"a\nb\nc\n",
        ),
        piped(&["--pipe", "echo never"], b""),
        case(&["--pipe-part", "--block", "2", "-a", "nums", "cat; echo ="]),
    ]);
    let part = std::env::temp_dir().join("ppool-pipe-part-lines");
    let part = Box::leak(part.to_str().unwrap().to_owned().into_boxed_str());
    compare(&[case(Box::leak(Box::new([
        "--pipe-part",
        "--block",
        "100K",
        "-a",
        &*part,
        "wc",
        "-c",
    ])))]);
}

#[test]
fn exported_bash_functions_run_under_bash() {
    // `doit() { echo "doit $1"; }; export -f doit` in bash, the user's shell.
    const FUNCTION: (&str, Option<&str>) = ("BASH_FUNC_doit%%", Some("() {  echo \"doit $1\"\n}"));
    const BASH: &[(&str, Option<&str>)] = &[
        FUNCTION,
        ("SHELL", Some("/bin/bash")),
        ("PARALLEL_SHELL", None),
    ];
    compare(&[
        with_env(&["doit", ":::", "1", "2"], BASH),
        with_env(&["doit {} | tr a-z A-Z", ":::", "x"], BASH),
    ]);
}

#[test]
fn options_as_gnu_parallel_reads_them() {
    compare(&[
        // Repeated (`compare` gives `-k` once more): the last one counts.
        case(&["-k", "-j", "1", "-j", "2", "echo", ":::", "a", "b"]),
        // The old forms of --halt, as separate words.
        case(&[
            "-j1",
            "--halt",
            "-1",
            "echo {}; exit {}",
            ":::",
            "1",
            "0",
            "2",
            "3",
        ]),
        case(&[
            "-j1",
            "--halt",
            "2",
            "echo {}; exit {}",
            ":::",
            "0",
            "4",
            "0",
        ]),
        // The CPUs plus or minus N: three jobs at once get slots 1 to 3 (on 2 CPUs and up).
        case(&["-j", "+1", "sleep 0.3; echo {%}", ":::", "a", "b", "c"]),
        case(&["-j", "-1", "echo {%}", ":::", "a", "b"]),
        // An empty source beside another is one empty value; all empty, no job.
        case(&["echo [{1}] [{2}]", "::::", "empty", ":::", "a", "b"]),
        case(&["echo [{1}] [{2}]", "::::", "empty", "::::", "empty"]),
        // The job's number and slot in its environment.
        case(&[
            "-j1",
            "echo $PARALLEL_SEQ $PARALLEL_JOBSLOT {}",
            ":::",
            "a",
            "b",
        ]),
        // --tagstring with replacement strings, then a TAB.
        case(&["--tagstring", "<{}-{#}>", "echo", "x", ":::", "a", "b"]),
        case(&["--tagstring", "{1}:{2.}", "echo", ":::", "a", ":::", "b.c"]),
        // -j 0: as many at once as can be: three jobs get three slots.
        case(&["-j0", "sleep 0.3; echo {%}", ":::", "a", "b", "c"]),
        // None left: both refuse.
        case(&["-j", "-100", "echo {%}", ":::", "a", "b"]),
    ]);
}

#[test]
fn retries_with_halt() {
    // The first job fails both its attempts: the halt comes before the second job starts.
    compare(&[
        case(&[
            "-j1",
            "--retries",
            "2",
            "--halt",
            "soon,fail=1",
            "echo {}; exit 3",
            ":::",
            "a",
            "b",
            "c",
        ]),
        case(&[
            "-j1",
            "--retries",
            "2",
            "--halt",
            "now,fail=1",
            "echo {}; exit 3",
            ":::",
            "a",
            "b",
        ]),
    ]);
}

/// `--results FILE.csv` and `FILE.json`: the same table as GNU parallel's, but for the times.
#[test]
fn results_as_a_csv_or_json_table() {
    let gnu = GnuParallel::find();
    let dir = tempfile::tempdir().unwrap();
    let run = |mut command: Command, file: &str| {
        gnu.same_env(&mut command);
        command.current_dir(dir.path()).args([
            "-k",
            "--results",
            file,
            "echo {}; echo err >&2; exit {#}",
            ":::",
            "a",
            "b, \"c\"",
        ]);
        run_with(command, b"");
        std::fs::read_to_string(dir.path().join(file)).unwrap()
    };
    // CSV: the times (third and fourth columns) blanked.
    let times = regex::Regex::new(r"(?m)^(\d+),:,[0-9.]+,[0-9.]+,").unwrap();
    let csv = |text: String| times.replace_all(&text, "$1,:,T,T,").into_owned();
    assert_eq!(
        csv(run(ppool(), "ours.csv")),
        csv(run(gnu.command(), "theirs.csv"))
    );
    // JSON: the same objects, but for the times.
    let json = |text: String| -> Vec<serde_json::Value> {
        text.lines()
            .map(|line| {
                let mut row: serde_json::Value = serde_json::from_str(line).unwrap();
                let row_map = row.as_object_mut().unwrap();
                row_map.remove("Starttime");
                row_map.remove("JobRuntime");
                row
            })
            .collect()
    };
    assert_eq!(
        json(run(ppool(), "ours.json")),
        json(run(gnu.command(), "theirs.json"))
    );
}
