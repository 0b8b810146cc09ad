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
mod halt;
mod input;
mod joblog;
mod json;
mod os_text;
mod output;
mod plan;
mod program;
mod progress;
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
            eprintln!("ppool: {first} (see ppool --help)");
            ExitCode::from(255)
        }
    }
}
