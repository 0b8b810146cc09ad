//! `process-pool-agent`: started by `srun` on a node, for a pool of `process-pool-slurm`.
//!
//! - `process-pool-agent agent [--concurrency N] [--release-allocation]`: runs the pool's jobs
//!   on this node (the worker protocol on stdin and stdout).
//! - `process-pool-agent relay -- PROGRAM [ARGS...]`: runs a worker program on this node and
//!   carries its protocol to the pool.
//!
//! Both exit when their input ends, taking everything they started with them.

use std::ffi::OsString;
use std::process::ExitCode;

use process_pool_slurm::agent::{AgentOptions, run_agent, run_relay};

const USAGE: &str = "usage: process-pool-agent agent [--concurrency N] [--release-allocation]
       process-pool-agent relay -- PROGRAM [ARGS...]";

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("process-pool-agent: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[OsString]) -> Result<u8, String> {
    let Some((mode, rest)) = args.split_first() else {
        return Err(USAGE.to_owned());
    };
    match mode.to_str() {
        Some("agent") => {
            let mut options = AgentOptions::default();
            let mut rest = rest.iter();
            while let Some(arg) = rest.next() {
                match arg.to_str() {
                    Some("--concurrency") => {
                        let value = rest.next().and_then(|v| v.to_str()?.parse().ok());
                        options.concurrency = Some(
                            value
                                .filter(|&n| n > 0)
                                .ok_or("--concurrency takes a number above 0")?,
                        );
                    }
                    Some("--release-allocation") => options.release_allocation = true,
                    _ => return Err(format!("unexpected argument {arg:?}\n{USAGE}")),
                }
            }
            run_agent(&options).map_err(|e| e.to_string())?;
            Ok(0)
        }
        Some("relay") => {
            let rest = match rest.split_first() {
                Some((dashes, rest)) if dashes == "--" => rest,
                _ => rest,
            };
            let Some((program, args)) = rest.split_first() else {
                return Err(format!("relay needs a program\n{USAGE}"));
            };
            let code = run_relay(program, args).map_err(|e| e.to_string())?;
            Ok(u8::try_from(code).unwrap_or(1))
        }
        _ => Err(USAGE.to_owned()),
    }
}
