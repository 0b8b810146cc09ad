//! The WASI backend of process-pool: [`WasiSpawner`] runs jobs whose program is a WebAssembly
//! module, sandboxed in wasmtime, with the same API as OS processes.
//!
//! Each job gets a fresh instance of its module (compiled once per file, then only
//! instantiated) with no ambient authority: its arguments, its own environment variables, its
//! stdin bytes, and stdout and stderr captured up to the pool's limit. A `proc_exit(n)` is exit
//! code `n`, a trap is [`Outcome::Trapped`](process_pool_core::Outcome::Trapped) with wasm's
//! message, and a module that does not compile or link is a spawn failure naming its path.
//!
//! This first version runs WASIp1 core modules (`wasm32-wasip1`).
#![deny(missing_docs)]

mod cache;
mod engine;
mod pipe;
mod spawn;

pub use spawn::{WasiSpawner, WasiSpawnerBuilder};
