//! The line escaping that carries an agent's stdio through srun: any stream read in any
//! pieces, and any bytes written with any flushes and read back
//! (`process_pool_slurm::fuzzing::{lines, lines_round_trip}` say what must hold).
//!
//! Input: a seed for the pieces read (1 byte), one for the writes and flushes (1), then the
//! bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use process_pool_fuzz::{Input, cuts};

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let reads = input.cuts();
    let writes_seed = input.byte();
    let data = input.rest();
    process_pool_slurm::fuzzing::lines(data, &reads);
    let writes = cuts(writes_seed, data.len());
    let flushes: Vec<bool> = writes.iter().map(|w| w % 3 == 0).collect();
    process_pool_slurm::fuzzing::lines_round_trip(data, &writes, &flushes, &reads);
});
