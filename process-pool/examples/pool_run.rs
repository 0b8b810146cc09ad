//! `pool_run [-j N] PROGRAM [ARGS...]`: runs PROGRAM once per line of stdin, with the line as
//! its last argument, N at a time (default: the number of CPUs), like `xargs -P N -n 1` or
//! GNU `parallel -j N -k`. Prints each job's stdout in input order; exits 1 if any job failed,
//! naming it on stderr.
//!
//! ```sh
//! seq 1000 | cargo run --release --example pool_run -- -j 2 echo
//! ```

use std::io::{BufRead, Write};
use std::process::ExitCode;

use process_pool::{Job, NativeSpawner};

fn usage(problem: &str) -> ExitCode {
    eprintln!("pool_run: {problem}\nusage: pool_run [-j N] PROGRAM [ARGS...] < lines");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut workers = std::thread::available_parallelism().map_or(1, usize::from);
    if args.first().is_some_and(|a| a == "-j") {
        match args.get(1).and_then(|n| n.parse().ok()) {
            Some(n) => workers = n,
            None => return usage("-j needs a number of workers"),
        }
        args.drain(..2);
    }
    let Some((program, fixed)) = args.split_first() else {
        return usage("no program given");
    };
    let pool = match NativeSpawner::pool(workers) {
        Ok(pool) => pool,
        Err(error) => return usage(&error.to_string()),
    };
    let lines: Vec<String> = match std::io::stdin().lock().lines().collect() {
        Ok(lines) => lines,
        Err(error) => return usage(&format!("cannot read stdin: {error}")),
    };
    let jobs = lines
        .iter()
        .map(|line| Job::new(program).args(fixed).arg(line));
    let results = match pool.run_all(jobs).await {
        Ok(results) => results,
        Err(error) => return usage(&error.to_string()),
    };
    let mut out = std::io::stdout().lock();
    let mut failed = false;
    for result in &results {
        let _ = out.write_all(&result.stdout);
        if !result.success() {
            failed = true;
            eprintln!(
                "pool_run: job {} ({}): {}",
                result.index, lines[result.index], result.outcome
            );
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
