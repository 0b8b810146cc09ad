//! `ppool --resume` reading a joblog, whatever it holds, and jobs written to a joblog read
//! back (`process_pool_cli::fuzzing::{joblog, joblog_round_trip}` say what must hold).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[derive(Debug, arbitrary::Arbitrary)]
enum Input {
    Read(Vec<u8>),
    Written(Vec<(u64, i32, i32, String)>),
}

fuzz_target!(|input: Input| {
    match input {
        Input::Read(contents) => process_pool_cli::fuzzing::joblog(&contents),
        Input::Written(jobs) => process_pool_cli::fuzzing::joblog_round_trip(&jobs),
    }
});
