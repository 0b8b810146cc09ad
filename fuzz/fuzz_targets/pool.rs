//! A worker pool whose worker writes anything, in any pieces, around its calls, pings,
//! timeouts and stops (`process_pool_core::fuzzing::pool_session` says what must hold).
//!
//! Input: the script's switches (1 byte: own hello, silent after, never reads, health
//! check, timeout, from the lowest bit), the concurrency in the hello written for it (1), the
//! calls made (1), a seed for the pieces (1), then what the worker writes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use process_pool_core::fuzzing::{Script, pool_session};
use process_pool_fuzz::Input;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let switches = input.byte();
    let bit = |n: u8| switches & (1 << n) != 0;
    let script = Script {
        own_hello: bit(0),
        silent_after: bit(1),
        never_reads: bit(2),
        health_check: bit(3),
        timeout: bit(4),
        concurrency: input.byte() % 8,
        calls: input.byte(),
    };
    let cuts = input.cuts();
    pool_session(input.rest(), &cuts, script);
});
