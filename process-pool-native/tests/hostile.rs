//! Hostile native workers are contained: the suite of
//! `process_pool_core::backend::conformance::hostile`, with `hostile-worker` built natively.
//! A file of its own: each attack measures the memory of the whole test process.

// Unix only: `hostile-worker` is built by `cargo xtask guests` from the test binary, and cargo
// cannot be run from a test binary under Wine; each attack's memory is read from `/proc`.
#![cfg(unix)]

use process_pool_core::backend::conformance::{HostileFixtures, guests};
use process_pool_native::NativeWorker;

struct Native;

impl HostileFixtures for Native {
    type Spawner = NativeWorker;

    fn hostile(&self, attack: &str) -> NativeWorker {
        NativeWorker::new(guests().join("release/hostile-worker")).arg(attack)
    }
}

process_pool_core::hostile_worker_tests!(Native);
