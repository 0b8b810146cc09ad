//! The core conformance suites, run against `WasiSpawner` and `WasiWorker`: once with the
//! guests built as WASIp1 core modules, once with them built as WASIp2 command components.

mod common;

use std::path::{Path, PathBuf};

use process_pool_core::backend::conformance::{Fixtures, WorkerFixtures};
use process_pool_core::{Call, Job};
use process_pool_wasi::{WasiSpawner, WasiWorker};

/// Each behaviour expressed with a Rust guest from `guests/`.
struct Wasi {
    /// The guest's file for a name.
    guest: fn(&str) -> PathBuf,
}

impl Fixtures for Wasi {
    type Spawner = WasiSpawner;

    fn spawner(&self) -> WasiSpawner {
        WasiSpawner::builder().max_instances(4).build().unwrap()
    }

    fn exit_with(&self, code: i32) -> Job {
        Job::new((self.guest)("exit-code")).arg(code.to_string())
    }

    fn print(&self, out: &str, err: &str) -> Job {
        Job::new((self.guest)("print")).args([out, err])
    }

    fn cat(&self) -> Job {
        Job::new((self.guest)("cat"))
    }

    fn print_env(&self, key: &str) -> Job {
        Job::new((self.guest)("env-dump")).arg(key)
    }

    fn read_relative(&self, dir: &Path, name: &str) -> Job {
        Job::new((self.guest)("cat")).arg(name).cwd(dir)
    }

    fn forever(&self) -> Job {
        Job::new((self.guest)("spin"))
    }

    fn flood(&self, bytes: usize) -> Job {
        Job::new((self.guest)("flood")).arg(bytes.to_string())
    }

    fn missing_program(&self) -> Job {
        Job::new("/nonexistent/process-pool-no-such-module.wasm")
    }
}

mod module {
    use super::*;
    process_pool_core::conformance_tests!(Wasi {
        guest: common::guest
    });
    mod streams {
        use super::*;
        process_pool_core::stream_conformance_tests!(Wasi {
            guest: common::guest
        });
    }
}

mod component {
    use super::*;
    process_pool_core::conformance_tests!(Wasi {
        guest: common::component
    });
    mod streams {
        use super::*;
        process_pool_core::stream_conformance_tests!(Wasi {
            guest: common::component
        });
    }
}

/// Each worker behaviour expressed with the `echo-worker` guest.
struct Workers {
    /// The guest's file for a name.
    guest: fn(&str) -> PathBuf,
}

impl WorkerFixtures for Workers {
    type Spawner = WasiWorker;

    fn workers(&self) -> WasiWorker {
        WasiSpawner::builder()
            .max_instances(4)
            .build()
            .unwrap()
            .worker((self.guest)("echo-worker"))
    }

    fn missing(&self) -> WasiWorker {
        WasiSpawner::builder()
            .build()
            .unwrap()
            .worker("/nonexistent/process-pool-no-such-worker.wasm")
    }

    fn crash(&self) -> Call {
        Call::new("die", "")
    }

    fn wedge(&self) -> Call {
        // A single-threaded guest spinning in a call answers nothing, pings included.
        Call::new("spin", "")
    }
}

mod module_workers {
    use super::*;
    process_pool_core::worker_conformance_tests!(Workers {
        guest: common::guest
    });
}

mod component_workers {
    use super::*;
    process_pool_core::worker_conformance_tests!(Workers {
        guest: common::component
    });
}
