//! The Rust `Worker` as a worker program runs it: any bytes on its stdin, in any pieces
//! (`process_pool_protocol::fuzzing::worker_session` says what must hold).
//!
//! Input: the worker's concurrency (1 byte), its frame limit (2), a seed for the pieces (1),
//! then what the pool sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use process_pool_fuzz::Input;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let concurrency = u32::from(input.byte());
    let max_frame = input.max_frame();
    let cuts = input.cuts();
    process_pool_protocol::fuzzing::worker_session(input.rest(), &cuts, concurrency, max_frame);
});
