//! `ppool`'s input: records split at newlines or NULs (`-0`), columns split by any `--colsep`
//! pattern, and the same bytes cut into `--pipe` / `--pipe-part` blocks with any block size
//! and separators (`process_pool_cli::fuzzing::records` and `blocks` say what must hold).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    nul: bool,
    colsep: Option<String>,
    block: u16,
    records: Option<u8>,
    recend: Vec<u8>,
    recstart: Vec<u8>,
    pipe_part: bool,
    data: Vec<u8>,
}

fuzz_target!(|input: Input| {
    // A pattern as long as a user types; longer ones only cost the regex compiler time.
    let colsep = input.colsep.filter(|c| c.len() <= 32);
    let delimiter = if input.nul { 0 } else { b'\n' };
    process_pool_cli::fuzzing::records(&input.data, delimiter, colsep.as_deref());
    // Separators as long as a user types them.
    let (recend, recstart) = (&input.recend, &input.recstart);
    if recend.len() <= 8 && recstart.len() <= 8 {
        process_pool_cli::fuzzing::blocks(
            &input.data,
            usize::from(input.block),
            input.records.map(usize::from),
            recend,
            recstart,
            input.pipe_part,
        );
    }
});
