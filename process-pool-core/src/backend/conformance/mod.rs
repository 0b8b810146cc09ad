//! The conformance suites every backend runs, written once here: [`spawner`] for a
//! [`Spawner`](super::Spawner) (with [`conformance_tests!`](crate::conformance_tests)),
//! [`worker`] for a [`WorkerSpawner`](super::WorkerSpawner) (with
//! [`worker_conformance_tests!`](crate::worker_conformance_tests)).
//!
//! A backend describes how to express each behaviour by implementing [`Fixtures`] or
//! [`WorkerFixtures`], then generates one test per check with the macro:
//!
//! ```text
//! struct Native;
//! impl process_pool_core::backend::conformance::Fixtures for Native { /* ... */ }
//! process_pool_core::conformance_tests!(Native);
//! ```

use std::time::Duration;

pub mod spawner;
pub mod streams;
pub mod worker;

pub use self::spawner::Fixtures;
pub use self::worker::WorkerFixtures;

/// A bound that only catches a hang: no check waits on a job or a call longer than this.
pub const HANG_BOUND: Duration = Duration::from_secs(20);
