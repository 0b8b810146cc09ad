//! The wasmtime `Engine` of a spawner: configured for many short instances, and its epoch ticker.

use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the longest a running guest goes before it yields to the
/// runtime, and so the latency of a cancel or a timeout.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// A linear memory kept resident per used pool slot, reset by a page-map scan of what the job
/// dirtied (Linux 6.7+; elsewhere wasmtime falls back to clearing it).
const KEEP_RESIDENT: usize = 2 << 20;

/// Core instances, memories and tables one component job may use: a Rust `wasm32-wasip2`
/// command has a few of each (its program and the glue of the component model).
pub(crate) const PER_COMPONENT: u32 = 8;

/// The pool's sizes and a guest's limits, from the spawner's builder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizing {
    /// Jobs that may run at once.
    pub(crate) instances: u32,
    /// The most linear memory of one memory, in bytes.
    pub(crate) max_memory: usize,
    /// The most elements of one table.
    pub(crate) max_table_elements: usize,
    /// Whether guests count fuel.
    pub(crate) fuel: bool,
}

/// An engine for many short instances (measured in `notes/wasmtime-floor.md`): the pooling
/// allocator sized for `instances` jobs at once (core modules or components), memory kept
/// resident and reset by page-map scan, epoch interruption for deadlines.
pub(crate) fn engine(sizing: Sizing) -> wasmtime::Result<Engine> {
    let n = sizing.instances;
    let parts = n.saturating_mul(PER_COMPONENT);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(n)
        .total_core_instances(parts)
        .total_memories(parts)
        .total_tables(parts)
        .total_stacks(n)
        .max_core_instances_per_component(PER_COMPONENT)
        .max_memories_per_component(PER_COMPONENT)
        .max_tables_per_component(PER_COMPONENT)
        .max_memory_size(sizing.max_memory)
        .table_elements(sizing.max_table_elements)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        // A whole table slot (8 bytes an element): without it every job madvises its table,
        // and on 2 cores each madvise is a cross-CPU interrupt that makes 2 workers slower than 1.
        .table_keep_resident(table_bytes(sizing.max_table_elements))
        .pagemap_scan(Enabled::Auto);
    // No decommit batching: a batch holds freed slots back from reuse, and a pool sized to the
    // worker count then runs out of slots ("maximum concurrent limit reached").
    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .epoch_interruption(true)
        .consume_fuel(sizing.fuel)
        .memory_init_cow(false)
        // Component-model async is not used; leaving it on doubles a component's cost.
        .concurrency_support(false);
    Engine::new(&config)
}

/// The bytes of a table slot of `elements`, at most 1 MiB (kept resident between jobs).
fn table_bytes(elements: usize) -> usize {
    elements.saturating_mul(8).min(1 << 20)
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
