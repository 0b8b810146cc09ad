//! Where workers go: an allocation per worker, or steps of one job, checked against the
//! cluster before any worker starts.

use std::sync::Mutex;
use std::time::Duration;

use super::Placement;
use crate::cluster::{Commands, Partitions};
use crate::error::SlurmError;
use crate::resources::Resources;

/// Where workers go, checked against the cluster: `job` (an allocation to run in) or one
/// allocation per worker of `resources`. Returns the placement, the CPUs a worker gets, and
/// how many workers fit (`nodes`, or the job's node count if fewer).
pub(crate) async fn place(
    commands: &Commands,
    resources: &Resources,
    job: Option<&str>,
    pending_timeout: Duration,
    whole_node: bool,
    nodes: usize,
) -> Result<(Placement, u32, usize), SlurmError> {
    let partitions = commands.partitions().await?;
    match job {
        None => {
            let (partition, most) = partitions.resolve(resources.get_partition())?;
            check_cpus(resources.get_cpus(), most, &partition)?;
            let placement = Placement::Own {
                salloc: resources.args(whole_node, false),
                pending_timeout,
            };
            let cpus = resources
                .get_cpus()
                .unwrap_or(if whole_node { most } else { 1 });
            Ok((placement, cpus, nodes))
        }
        Some(job) => {
            if let Some(name) = resources.job_level() {
                return Err(SlurmError::Invalid {
                    name,
                    reason: format!("the workers run in job {job}, whose {name} is set"),
                });
            }
            let names = commands.job_nodes(job).await?;
            if names.is_empty() {
                return Err(SlurmError::Refused {
                    command: "squeue".into(),
                    message: format!("job {job} has no nodes (is it running?)"),
                });
            }
            let cpus = within_cpus(&partitions, job);
            let nodes = nodes.min(names.len());
            let load = names.into_iter().map(|n| (n, 0)).collect();
            let placement = Placement::Within {
                job: job.to_owned(),
                load: Mutex::new(load),
            };
            Ok((placement, cpus, nodes))
        }
    }
}

pub(crate) fn check_cpus(asked: Option<u32>, most: u32, partition: &str) -> Result<(), SlurmError> {
    match asked {
        Some(0) => Err(SlurmError::Invalid {
            name: "cpus",
            reason: "must be at least 1".into(),
        }),
        Some(asked) if most > 0 && asked > most => Err(SlurmError::TooManyCpus {
            asked,
            most,
            partition: partition.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// The CPUs an agent in `job` gets on its node: this program's share if it runs in that job,
/// else the most a node of the default partition has.
fn within_cpus(partitions: &Partitions, job: &str) -> u32 {
    let here = std::env::var("SLURM_JOB_ID").is_ok_and(|j| j == job);
    if here
        && let Some(cpus) = std::env::var("SLURM_CPUS_ON_NODE")
            .ok()
            .and_then(|c| c.parse().ok())
    {
        return cpus;
    }
    partitions.resolve(None).map_or(1, |(_, most)| most.max(1))
}
