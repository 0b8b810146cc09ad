//! `ppool`'s command template: any words, replacement strings and modifiers, rendered for any
//! input (`process_pool_cli::fuzzing::template` says what must hold).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    shell: bool,
    direct_only: bool,
    seq: u64,
    slot: u16,
    args: Vec<Vec<u8>>,
    words: Vec<Vec<u8>>,
}

fuzz_target!(|input: Input| {
    process_pool_cli::fuzzing::template(
        &input.words,
        input.shell,
        input.direct_only,
        &input.args,
        input.seq,
        usize::from(input.slot),
    );
});
