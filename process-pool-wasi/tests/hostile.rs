//! Hostile sandboxed workers are contained: the suite of
//! `process_pool_core::backend::conformance::hostile`, with `hostile-worker` built for
//! `wasm32-wasip1` and run in wasmtime. A file of its own: each attack measures the memory of
//! the whole test process, guests included.

use std::sync::OnceLock;

use process_pool_core::backend::conformance::{HostileFixtures, guests};
use process_pool_wasi::{WasiSpawner, WasiWorker};

struct Wasi;

impl HostileFixtures for Wasi {
    type Spawner = WasiWorker;

    fn hostile(&self, attack: &str) -> WasiWorker {
        // One spawner for every pool: the module compiles once.
        static SPAWNER: OnceLock<WasiSpawner> = OnceLock::new();
        let spawner = SPAWNER.get_or_init(|| {
            WasiSpawner::builder()
                .max_instances(8)
                .build()
                .expect("a spawner")
        });
        spawner
            .worker(guests().join("wasm32-wasip1/release/hostile-worker.wasm"))
            .arg(attack)
    }
}

process_pool_core::hostile_worker_tests!(Wasi);
