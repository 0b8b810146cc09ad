//! `ppool`: run a command once per input, many at a time, with GNU parallel's habits (`:::`,
//! replacement strings, `-k`, `--joblog`/`--resume`, `--halt`, `--tag`) on process-pool's
//! guarantees (whole process trees ended on timeout and interrupt, retries with backoff,
//! output capped per job, sandboxed WASI jobs).
//!
//! The tool is a thin layer over the `process-pool` facade: it parses, feeds the pool and
//! presents results; limits, timeouts, retries, backoff, ending process trees and output caps
//! are the pool's.
//!
//! This library is the tool itself ([`ppool`]); its binary only calls it. It is a library so
//! that the fuzz targets (`fuzz/` at the repository's root) reach its parsers.

mod args;
mod backend;
mod dry_run;
mod exit;
mod group;
mod halt;
mod input;
mod joblog;
mod json;
mod os_text;
mod output;
mod pipe;
mod plan;
mod program;
mod progress;
mod results;
mod run;
mod shell;
mod signals;
mod slots;
mod stop;
mod template;
mod units;
#[cfg(feature = "wasi")]
mod wasi;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::Cli;
use crate::plan::Plan;

/// Runs `ppool` with this process's arguments, and returns the status it exits with.
pub fn ppool() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return clap_error(&error),
    };
    if let Some(shell) = cli.completions {
        clap_complete::generate(shell, &mut Cli::command(), "ppool", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let plan = match Plan::new(cli) {
        Ok(plan) => plan,
        Err(message) => {
            eprintln!("ppool: {message}");
            return ExitCode::from(255);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ppool: cannot start the runtime: {error}");
            return ExitCode::from(255);
        }
    };
    // On a worker thread rather than this one, the loop is woken where jobs end, not across
    // threads (measured: 2,000 `true` jobs at -j 2 took 1.19x as long from the main thread).
    let status = runtime.block_on(async {
        tokio::spawn(run::run(plan))
            .await
            .unwrap_or_else(|e| run::fail(&format!("the run failed: {e}")))
    });
    // The input reader may be blocked reading a stdin nobody will finish: do not wait for it.
    runtime.shutdown_background();
    shell::clean_up();
    exit::code(status)
}

/// GNU parallel's options that `ppool` leaves out, and what to do instead. With the options
/// `ppool` has, they are every option of GNU parallel's manual (`tests/bad_input.rs` checks).
const LEFT_OUT: &[(&[&str], &str)] = &[
    (
        &["--link", "--xapply"],
        "link input sources with :::+ or ::::+ (the shortest source decides the length; GNU \
         parallel's --link reuses the shorter ones)",
    ),
    (
        &[
            "--arg-sep",
            "--arg-file-sep",
            "--skip-first-line",
            "--no-run-if-empty",
            "-r",
            "--shuf",
            "--group-by",
            "--shard",
            "--bin",
            "-x",
            "-l",
            "--max-line-length-allowed",
            "--total-jobs",
            "--total",
            "-e",
        ],
        "inputs are read as they are given: ::: values, :::: files or stdin lines (-0, \
         --colsep); -L N for lines a job, -s for a line's length",
    ),
    (
        &[
            "--color",
            "--color-failed",
            "--cf",
            "--ctag",
            "--ctagstring",
            "--latest-line",
            "--ll",
            "--tee",
            "--files",
            "--output-as-files",
            "--outputasfiles",
            "--compress",
            "--compress-program",
            "--decompress-program",
            "--tmpdir",
        ],
        "output is printed grouped per job (kept on disk in $TMPDIR past 64 KiB): use --tag or \
         --tagstring, --results DIR for files, --json for programs",
    ),
    (
        &[
            "--verbose",
            "-t",
            "-v",
            "--silent",
            "--interactive",
            "-p",
            "--tty",
            "-o",
            "--open-tty",
        ],
        "commands are not echoed or confirmed: --dry-run prints them, --joblog records them",
    ),
    (
        &[
            "--shebang",
            "--hashbang",
            "--shebang-wrap",
            "--embed",
            "--parens",
            "--_parset",
            "--template",
            "--tmpl",
            "--filter",
            "--plain",
            "--profile",
            "-J",
            "--shell-quote",
            "--exit",
        ],
        "ppool runs a command line per input: no scripts, templates, profiles or quoting \
         helpers",
    ),
    (
        &[
            "--number-of-cpus",
            "--number-of-cores",
            "--number-of-sockets",
            "--number-of-threads",
            "--use-cores-instead-of-threads",
            "--use-cpus-instead-of-cores",
            "--use-sockets-instead-of-threads",
            "--minversion",
            "--gnu",
            "--shell-completion",
        ],
        "ppool counts what the OS says it may use (-j 100% is one job per CPU); its shell \
         completions come from --completions SHELL",
    ),
    (
        &[
            "--memsuspend",
            "--block-timeout",
            "--bt",
            "--term-seq",
            "--retry-failed",
            "--process-slot-var",
            "--session",
        ],
        "not done: jobs are stopped with SIGTERM, the grace, then SIGKILL (--kill-grace), and \
         --resume-failed runs failed jobs again",
    ),
    (
        &["--xargs", "--show-limits"],
        "use -m (as many inputs as a line holds, spread over the job slots) or -n N, and -s \
         for the line's length",
    ),
    (
        &[
            "--roundrobin",
            "--round-robin",
            "--round",
            "--regexp",
            "--remove-rec-sep",
            "--removerecsep",
            "--rrs",
        ],
        "--pipe cuts at fixed record ends: --recend and --recstart are text, and each block \
         goes to a job of its own",
    ),
    (
        &[
            "-S",
            "--sshlogin",
            "--slf",
            "--sshloginfile",
            "--transfer",
            "--transferfile",
            "--tf",
            "--return",
            "--cleanup",
            "--trc",
            "--basefile",
            "--bf",
            "--controlmaster",
            "-M",
            "--ssh",
            "--ssh-delay",
            "--rsync-opts",
            "--filter-hosts",
            "--hostgroups",
            "--hgrp",
            "--env",
            "--record-env",
            "--workdir",
            "--wd",
            "--nonall",
            "--onall",
        ],
        "remote execution is left out: run jobs on a cluster with process-pool-slurm, or use GNU \
         parallel",
    ),
    (
        &[
            "--semaphore",
            "--sem",
            "--fg",
            "--bg",
            "--semaphorename",
            "--semaphoretimeout",
            "--semaphore-name",
            "--semaphore-timeout",
            "--id",
            "--wait",
            "--st",
        ],
        "semaphores are left out: use GNU parallel's `sem`",
    ),
    (
        &[
            "-I",
            "--replace",
            "-i",
            "--extensionreplace",
            "--er",
            "--basenamereplace",
            "--bnr",
            "--dirnamereplace",
            "--dnr",
            "--basenameextensionreplace",
            "--bner",
            "--seqreplace",
            "--slotreplace",
            "--rpl",
            "--plus",
        ],
        "replacement strings cannot be renamed: use {} {.} {/} {//} {/.} {#} {%} or {n}",
    ),
    (&["--csv"], "CSV is not read: give columns with --colsep"),
    (
        &["--tmux", "--tmuxpane"],
        "not done: jobs' output is captured and printed by ppool",
    ),
    (
        &["--fifo", "--cat", "--header"],
        "input headers and --pipe's blocks as files are not done: a job gets its inputs as \
         arguments and its --pipe block on stdin (`cat > f; prog f` writes it to a file)",
    ),
    (
        &["--memfree", "--load", "--limit", "--noswap", "--nice"],
        "the machine's load is not watched: set the number of jobs with -j",
    ),
    (
        &["-u", "--ungroup"],
        "output is grouped per job: use --line-buffer for lines as they are written",
    ),
    (
        &[
            "--sqlmaster",
            "--sqlworker",
            "--sqlandworker",
            "--sql",
            "--sql-master",
            "--sql-worker",
            "--sql-and-worker",
        ],
        "SQL queues are left out",
    ),
    (
        &["-d", "--delimiter", "-E", "--eof", "--trim"],
        "input is read as lines (or NUL-separated with -0); these are not read",
    ),
];

/// What `ppool` says of an unknown argument that is one of GNU parallel's left-out options.
fn left_out(error: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    // `--pipe-part=x` and `-n2` name `--pipe-part` and `-n`.
    let name = match arg.strip_prefix("--") {
        Some(long) => &arg[..2 + long.find('=').unwrap_or(long.len())],
        None => arg.get(..2)?,
    };
    let (_, hint) = LEFT_OUT.iter().find(|(names, _)| names.contains(&name))?;
    Some(format!(
        "`{name}` is one of GNU parallel's options that ppool does not do: {hint} \
         (see \"Where ppool differs\" in the README, or ppool --help)"
    ))
}

/// clap's errors say what is wrong on their first line, then add usage and tips: one line
/// is kept, and the status is 255 (GNU parallel's for errors), not clap's 2.
fn clap_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        ErrorKind::UnknownArgument if let Some(said) = left_out(error) => {
            eprintln!("ppool: {said}");
            ExitCode::from(255)
        }
        _ => {
            let text = error.render().to_string();
            let mut lines = text.lines();
            let mut first = lines.next().unwrap_or("bad arguments").to_owned();
            // "required arguments were not provided:" lists them on the lines that follow.
            if first.ends_with(':') {
                let listed: Vec<&str> = lines
                    .take_while(|l| l.starts_with(' '))
                    .map(str::trim)
                    .collect();
                first = format!("{first} {}", listed.join(", "));
            }
            let first = first.strip_prefix("error: ").unwrap_or(&first);
            match error.get(clap::error::ContextKind::SuggestedArg) {
                Some(clap::error::ContextValue::String(similar)) => {
                    eprintln!("ppool: {first}: did you mean `{similar}`? (see ppool --help)");
                }
                _ => eprintln!("ppool: {first} (see ppool --help)"),
            }
            ExitCode::from(255)
        }
    }
}
