//! The frame codec as the pool reads a worker's stdout: any bytes, in any pieces, under any
//! frame limit (`process_pool_protocol::fuzzing::frame_stream` says what must hold).
//!
//! Input: the frame limit (2 bytes), a seed for the pieces (1), then the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use process_pool_fuzz::Input;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let max_frame = input.max_frame();
    let cuts = input.cuts();
    process_pool_protocol::fuzzing::frame_stream(input.rest(), &cuts, max_frame);
});
