//! The WASI backend of process-pool: [`WasiSpawner`] runs jobs whose program is a WebAssembly
//! module or component, sandboxed in wasmtime, with the same API as OS processes.
//!
//! Each job gets a fresh instance of its file (compiled once, then only instantiated) with no
//! ambient authority: its arguments, its own environment variables, its stdin bytes, stdout and
//! stderr captured up to the pool's limit, and only the directories it is granted. A
//! `proc_exit(n)` is exit code `n`, a trap is
//! [`Outcome::Trapped`](process_pool_core::Outcome::Trapped) with wasm's message, and a file
//! that does not compile or link is a spawn failure naming its path.
//!
//! It runs WASIp1 core modules (`wasm32-wasip1`) and WASIp2 command components
//! (`wasm32-wasip2`).
#![deny(missing_docs)]

mod builder;
mod cache;
mod compile;
mod engine;
mod guest;
mod instance;
mod linker;
mod pipe;
mod spawn;
mod stream;
mod worker;

pub use builder::WasiSpawnerBuilder;
pub use guest::DirAccess;
pub use spawn::WasiSpawner;
pub use worker::WasiWorker;
