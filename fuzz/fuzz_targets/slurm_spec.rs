//! What a Slurm agent reads as a job's spec, and what the pool reads as the agent's reply,
//! whatever the bytes (`process_pool_slurm::fuzzing::{spec, reply}` say what must hold).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    process_pool_slurm::fuzzing::spec(data);
    process_pool_slurm::fuzzing::reply(data);
});
