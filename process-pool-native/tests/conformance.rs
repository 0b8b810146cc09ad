//! The core conformance suites, run against `NativeSpawner` and `NativeWorker`: on Unix
//! with `sh` and the usual tools, on Windows with the test program `examples/test_job.rs`.

mod common;

use std::path::Path;

use process_pool_core::backend::conformance::{Fixtures, WorkerFixtures};
use process_pool_core::{Call, Job};
use process_pool_native::{NativeSpawner, NativeWorker};

/// Each behaviour expressed with `sh` and the usual POSIX tools (Unix), or with the test
/// program (Windows).
struct Native;

#[cfg(unix)]
fn sh(script: &str) -> Job {
    Job::new("sh").args(["-c", script])
}

#[cfg(unix)]
impl Fixtures for Native {
    type Spawner = NativeSpawner;

    fn spawner(&self) -> NativeSpawner {
        NativeSpawner::new()
    }

    fn exit_with(&self, code: i32) -> Job {
        sh(&format!("exit {code}"))
    }

    fn print(&self, out: &str, err: &str) -> Job {
        sh(r#"printf '%s' "$1"; printf '%s' "$2" >&2"#).args(["sh", out, err])
    }

    fn cat(&self) -> Job {
        Job::new("cat")
    }

    fn print_env(&self, key: &str) -> Job {
        sh(&format!("printf '%s' \"${key}\""))
    }

    fn read_relative(&self, dir: &Path, name: &str) -> Job {
        Job::new("cat").arg(name).cwd(dir)
    }

    fn forever(&self) -> Job {
        Job::new("sleep").arg("1000")
    }

    fn flood(&self, bytes: usize) -> Job {
        Job::new("head").args(["-c", &bytes.to_string(), "/dev/zero"])
    }

    fn missing_program(&self) -> Job {
        Job::new("process-pool-no-such-program")
    }
}

#[cfg(windows)]
impl Fixtures for Native {
    type Spawner = NativeSpawner;

    fn spawner(&self) -> NativeSpawner {
        NativeSpawner::new()
    }

    fn exit_with(&self, code: i32) -> Job {
        common::test_job().args(["exit", &code.to_string()])
    }

    fn print(&self, out: &str, err: &str) -> Job {
        common::test_job().args(["print", out, err])
    }

    fn cat(&self) -> Job {
        common::test_job().arg("cat")
    }

    fn print_env(&self, key: &str) -> Job {
        common::test_job().args(["env", key])
    }

    fn read_relative(&self, dir: &Path, name: &str) -> Job {
        common::test_job().args(["cat", name]).cwd(dir)
    }

    fn forever(&self) -> Job {
        common::test_job().args(["sleep", "1000000"])
    }

    fn flood(&self, bytes: usize) -> Job {
        common::test_job().args(["flood", &bytes.to_string()])
    }

    fn missing_program(&self) -> Job {
        Job::new("process-pool-no-such-program")
    }
}

process_pool_core::conformance_tests!(Native);

mod streams {
    process_pool_core::stream_conformance_tests!(super::Native);
}

/// Each worker behaviour expressed with the Rust test worker (`examples/test_worker.rs`).
struct Workers;

impl WorkerFixtures for Workers {
    type Spawner = NativeWorker;

    fn workers(&self) -> NativeWorker {
        common::test_worker()
    }

    fn missing(&self) -> NativeWorker {
        NativeWorker::new(if cfg!(windows) {
            r"C:\no\such\worker\program.exe"
        } else {
            "/no/such/worker/program"
        })
    }

    fn crash(&self) -> Call {
        Call::new("die", "")
    }

    fn wedge(&self) -> Call {
        Call::new("wedge", "")
    }
}

mod workers {
    use super::Workers;
    process_pool_core::worker_conformance_tests!(Workers);
}
