//! The conformance suites every backend runs, written once here: [`spawner`] for a
//! [`Spawner`](super::Spawner) (with [`conformance_tests!`](crate::conformance_tests)),
//! [`worker`] for a [`WorkerSpawner`](super::WorkerSpawner) (with
//! [`worker_conformance_tests!`](crate::worker_conformance_tests)), and [`hostile`]: workers
//! that attack the pool, contained (with [`hostile_worker_tests!`](crate::hostile_worker_tests)).
//!
//! A backend describes how to express each behaviour by implementing [`Fixtures`] or
//! [`WorkerFixtures`], then generates one test per check with the macro:
//!
//! ```text
//! struct Native;
//! impl process_pool_core::backend::conformance::Fixtures for Native { /* ... */ }
//! process_pool_core::conformance_tests!(Native);
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

pub mod hostile;
pub mod memory;
pub mod spawner;
pub mod streams;
pub mod worker;

pub use self::hostile::HostileFixtures;
pub use self::spawner::Fixtures;
pub use self::worker::WorkerFixtures;

/// A bound that only catches a hang: no check waits on a job or a call longer than this.
pub const HANG_BOUND: Duration = Duration::from_secs(20);

/// The variable that names a directory of guests built beforehand, for [`guests`].
pub const GUESTS_VAR: &str = "PROCESS_POOL_GUESTS";

/// Where the repository's guest programs (`guests/`) are, built once per test binary by
/// `cargo xtask guests` (a no-op when they are up to date): `wasm32-wasip1/release/NAME.wasm`,
/// `wasm32-wasip2/release/NAME.wasm`, and the native `release/{wordcount,hostile-worker}`.
///
/// With `PROCESS_POOL_GUESTS` ([`GUESTS_VAR`]) set, the guests are that directory, built
/// beforehand, and nothing is built: how the Windows tests find them, as a Windows test binary
/// (under Wine, or on a Windows machine, where xtask does not build) cannot run the build.
///
/// # Panics
///
/// If they cannot be built (the message above it says why), or `PROCESS_POOL_GUESTS` names no
/// directory.
pub fn guests() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        if let Some(dir) = std::env::var_os(GUESTS_VAR).filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            assert!(
                dir.is_dir(),
                "{GUESTS_VAR}={} is not a directory: build the guests there first \
                 (`cargo xtask guests` builds them into target/guests)",
                dir.display()
            );
            return dir;
        }
        // A test runs from <target>/<profile>/deps/<test>.
        let exe = std::env::current_exe().expect("the test's own path");
        let target = exe
            .ancestors()
            .nth(3)
            .expect("tests run from <target>/<profile>/deps")
            .to_path_buf();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace holds this crate");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root)
            .args(["run", "--quiet", "--package", "xtask", "--", "guests"])
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .expect("cargo can be started");
        assert!(
            status.success(),
            "`cargo xtask guests` failed ({status}): these tests need the guests; see its \
             message above"
        );
        target.join("guests")
    })
}
