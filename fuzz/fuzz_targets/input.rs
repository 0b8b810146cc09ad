//! `ppool`'s input: records split at newlines or NULs (`-0`), and columns split by any
//! `--colsep` pattern (`process_pool_cli::fuzzing::records` says what must hold).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    nul: bool,
    colsep: Option<String>,
    data: Vec<u8>,
}

fuzz_target!(|input: Input| {
    // A pattern as long as a user types; longer ones only cost the regex compiler time.
    let colsep = input.colsep.filter(|c| c.len() <= 32);
    let delimiter = if input.nul { 0 } else { b'\n' };
    process_pool_cli::fuzzing::records(&input.data, delimiter, colsep.as_deref());
});
