//! A worker's hello, and the name of an error frame, whatever they hold
//! (`process_pool_protocol::fuzzing::{hello, error_code}` say what must hold).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    process_pool_protocol::fuzzing::hello(data);
    if let Ok(name) = std::str::from_utf8(data) {
        process_pool_protocol::fuzzing::error_code(name);
    }
});
