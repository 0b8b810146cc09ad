//! The floor for WASI jobs, written by hand: the engine configuration `WasiSpawner` uses (see
//! `notes/wasmtime-floor.md`), modules compiled once and pre-instantiated, and per job only a
//! fresh WASI context, a store and a call, on `workers` tasks, with an epoch ticker for
//! deadlines. No scheduler, no cache lookup, no limits, no exit-code handling, no output cap.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasmtime::component::{Component, Linker as ComponentLinker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, InstancePre, Linker, Module,
    PoolingAllocationConfig, Store,
};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtxBuilder, WasiCtxView, WasiView};

/// A store's data: the WASI context.
struct FloorGuest(WasiP1Ctx);

impl WasiView for FloorGuest {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.0.ctx()
    }
}

/// A file ready to instantiate.
enum Ready {
    Module(InstancePre<FloorGuest>),
    Component(CommandPre<FloorGuest>),
}

/// A hand-written WASI runner for one file.
pub struct WasiFloor {
    engine: Engine,
    ready: Arc<Ready>,
}

impl std::fmt::Debug for WasiFloor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasiFloor").finish_non_exhaustive()
    }
}

impl WasiFloor {
    /// Compiles `bytes` (a core module, WAT, or a component) on an engine for `workers` jobs at
    /// once.
    pub fn new(bytes: &[u8], workers: u32) -> wasmtime::Result<Self> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(workers)
            .total_core_instances(workers * 8)
            .total_memories(workers * 8)
            .total_tables(workers * 8)
            .total_stacks(workers)
            .max_memory_size(256 << 20)
            .table_elements(20_000)
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(160_000)
            .pagemap_scan(Enabled::Auto);
        let mut config = Config::new();
        config
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .epoch_interruption(true)
            .memory_init_cow(false)
            .concurrency_support(false);
        let engine = Engine::new(&config)?;
        // The epoch ticker a real pool needs for deadlines (as in the notes' floor).
        let weak = engine.weak();
        std::thread::spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
        let ready = if bytes.get(4..8) == Some(&[0x0d, 0x00, 0x01, 0x00]) {
            let mut linker = ComponentLinker::new(&engine);
            wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
            let component = Component::new(&engine, bytes)?;
            Ready::Component(CommandPre::new(linker.instantiate_pre(&component)?)?)
        } else {
            let mut linker = Linker::new(&engine);
            wasmtime_wasi::p1::add_to_linker_async(&mut linker, |g: &mut FloorGuest| &mut g.0)?;
            Ready::Module(linker.instantiate_pre(&Module::new(&engine, bytes)?)?)
        };
        Ok(WasiFloor {
            engine,
            ready: Arc::new(ready),
        })
    }

    /// Runs `jobs` instances on `workers` tasks of the current runtime and returns how many
    /// wrote `expected` to stdout and ended without a trap.
    pub async fn run(&self, jobs: usize, workers: usize, expected: &'static str) -> usize {
        let next = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..workers)
            .map(|_| {
                let (engine, ready, next) = (
                    self.engine.clone(),
                    Arc::clone(&self.ready),
                    Arc::clone(&next),
                );
                tokio::spawn(async move {
                    let mut ok = 0;
                    while next.fetch_add(1, Ordering::Relaxed) < jobs {
                        if one(&engine, &ready).await.as_deref() == Some(expected.as_bytes()) {
                            ok += 1;
                        }
                    }
                    ok
                })
            })
            .collect();
        let mut ok = 0;
        for task in tasks {
            ok += task.await.expect("no panic");
        }
        ok
    }
}

/// One job: a fresh context and store, instantiate, run; its stdout if it ended cleanly.
async fn one(engine: &Engine, ready: &Ready) -> Option<Vec<u8>> {
    let stdout = MemoryOutputPipe::new(1 << 20);
    let stderr = MemoryOutputPipe::new(1 << 20);
    let wasi = WasiCtxBuilder::new()
        .stdout(stdout.clone())
        .stderr(stderr)
        .build_p1();
    let mut store = Store::new(engine, FloorGuest(wasi));
    store.epoch_deadline_async_yield_and_update(1);
    let ran = match ready {
        Ready::Module(pre) => {
            let instance = pre.instantiate_async(&mut store).await.ok()?;
            let start = instance
                .get_typed_func::<(), ()>(&mut store, "_start")
                .ok()?;
            start.call_async(&mut store, ()).await.is_ok()
        }
        Ready::Component(pre) => {
            let command = pre.instantiate_async(&mut store).await.ok()?;
            matches!(
                command.wasi_cli_run().call_run(&mut store).await,
                Ok(Ok(()))
            )
        }
    };
    drop(store);
    ran.then(|| stdout.contents().to_vec())
}
