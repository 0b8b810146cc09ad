//! The wasmtime `Engine` of a spawner: configured for many short instances, and its epoch ticker.

use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the longest a running guest goes before it yields to the
/// runtime, and so the latency of a cancel or a timeout.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// A linear memory kept resident per used pool slot, reset by a page-map scan of what the job
/// dirtied (Linux 6.7+; elsewhere wasmtime falls back to clearing it).
const KEEP_RESIDENT: usize = 2 << 20;

/// An engine for many short instances (measured in `notes/wasmtime-floor.md`): the pooling
/// allocator sized for `instances` at once with memories of at most `max_memory` bytes, memory
/// kept resident and reset by page-map scan, epoch interruption for deadlines.
/// With `fuel`, guests also count their instructions (which costs some speed).
pub(crate) fn engine(instances: u32, max_memory: usize, fuel: bool) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_core_instances(instances)
        .total_memories(instances)
        .total_tables(instances)
        .total_stacks(instances)
        .max_memory_size(max_memory)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .pagemap_scan(Enabled::Auto);
    // No decommit batching: a batch holds freed slots back from reuse, and a pool sized to the
    // worker count then runs out of slots ("maximum concurrent limit reached").
    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .epoch_interruption(true)
        .consume_fuel(fuel)
        .memory_init_cow(false)
        // Component-model async is not used; leaving it on doubles a component's cost.
        .concurrency_support(false);
    Engine::new(&config)
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] on a thread of its own, until the engine is
/// dropped.
pub(crate) fn start_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("process-pool-wasi-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the epoch ticker; running guests will not yield");
    }
}
