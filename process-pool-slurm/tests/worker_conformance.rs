//! The core `WorkerSpawner` conformance suite through workers on nodes: each check's workers
//! (the protocol's Python example) run as steps of a one-node allocation of their own, behind
//! the agent's relay.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::{HANG, agent, require_slurm, unique_name};
use process_pool_core::Call;
use process_pool_core::backend::conformance::WorkerFixtures;
use process_pool_slurm::{Allocation, SlurmWorker};

/// An allocation of one node, held for one check and given back when it ends; the check's
/// workers are its steps.
struct OnANode {
    job: String,
    name: String,
    salloc: Child,
}

impl OnANode {
    fn new() -> OnANode {
        require_slurm();
        let name = unique_name("worker-conformance");
        let salloc = Command::new("salloc")
            .args([
                "--nodes=1",
                &format!("--job-name={name}"),
                "--no-shell",
                "--time=10",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("salloc runs");
        let mut node = OnANode {
            job: String::new(),
            name,
            salloc,
        };
        let mut job = None;
        common::wait_until(
            HANG,
            "the allocation",
            || {
                job = common::slurm_jobs(&node.name)
                    .into_iter()
                    .find(|j| j.ends_with("RUNNING"))
                    .and_then(|j| j.split_whitespace().next().map(str::to_owned));
                job.clone()
            },
            Option::is_some,
        );
        node.job = job.expect("a job id");
        node
    }

    fn spawner(&self, program: &str, args: &[PathBuf]) -> SlurmWorker {
        // The suite asks for its spawner outside async code, inside a multi-threaded runtime.
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(
                SlurmWorker::builder(program)
                    .args(args)
                    .agent_program(agent())
                    .allocation(Allocation::Job(self.job.clone()))
                    .job_name(&self.name)
                    .build(),
            )
        })
        .expect("Slurm answers")
    }
}

impl Drop for OnANode {
    fn drop(&mut self) {
        let _ = Command::new("scancel")
            .arg(format!("--name={}", self.name))
            .status();
        // `--no-shell`: salloc ended once granted; the allocation lives until cancelled.
        let _ = self.salloc.wait();
    }
}

impl WorkerFixtures for OnANode {
    type Spawner = SlurmWorker;

    fn workers(&self) -> SlurmWorker {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../process-pool-protocol/examples/python_worker.py");
        self.spawner("python3", &[script])
    }

    fn missing(&self) -> SlurmWorker {
        self.spawner("/no/such/worker/program", &[])
    }

    fn crash(&self) -> Call {
        Call::new("die", "")
    }

    fn wedge(&self) -> Call {
        Call::new("wedge", "")
    }
}

process_pool_core::worker_conformance_tests!(OnANode::new());
