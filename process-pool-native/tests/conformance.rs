//! The core conformance suite, run against `NativeSpawner`.

use std::path::Path;

use process_pool_core::Job;
use process_pool_core::conformance::Fixtures;
use process_pool_native::NativeSpawner;

/// Each behaviour expressed with `sh` and the usual POSIX tools.
struct Native;

fn sh(script: &str) -> Job {
    Job::new("sh").args(["-c", script])
}

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

process_pool_core::conformance_tests!(Native);
