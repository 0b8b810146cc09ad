//! The core conformance suite through agent mode: each check's pool runs its jobs on an agent
//! that Slurm started on a node.

mod common;

use std::path::Path;

use process_pool_core::Job;
use process_pool_core::backend::conformance::Fixtures;
use process_pool_slurm::SlurmSpawner;

struct Agents;

fn sh(script: &str) -> Job {
    Job::new("sh").args(["-c", script])
}

impl Fixtures for Agents {
    type Spawner = SlurmSpawner;

    fn spawner(&self) -> SlurmSpawner {
        common::require_slurm();
        // The suite asks for its spawner outside async code, inside a multi-threaded runtime.
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(
                SlurmSpawner::builder()
                    .nodes(1)
                    .agent_program(common::agent())
                    .job_name(common::unique_name("conformance"))
                    .build(),
            )
        })
        .expect("an agent starts")
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

process_pool_core::conformance_tests!(Agents);
