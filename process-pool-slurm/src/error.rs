//! [`SlurmError`]: why Slurm could not give the pool what it asked for.

use std::path::PathBuf;
use std::time::Duration;

use process_pool_core::CallError;

/// Why an allocation, an agent or a step could not be had, with what is needed to act on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlurmError {
    /// The Slurm commands are missing or the controller does not answer.
    #[error(
        "Slurm is not reachable ({reason}); on a cluster, run on a login node or inside an allocation \
         (on one machine: `cargo xtask slurm up` as root)"
    )]
    NotReachable {
        /// What failed (the command and its message).
        reason: String,
    },
    /// Slurm's configuration file cannot be used: it does not exist, is a directory, cannot
    /// be read, or a command of Slurm's said it cannot open or use it. Found before any
    /// command runs when `SLURM_CONF` names the file, else from the first line the command
    /// writes about it, at once (Slurm itself retries a missing file for a minute).
    #[error(
        "Slurm's configuration file `{}` cannot be used: {reason} (point `SLURM_CONF` at \
         the cluster's `slurm.conf`)",
        path.display()
    )]
    Config {
        /// The file (`SLURM_CONF`, or the one the command named).
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// The partition asked for does not exist.
    #[error("unknown partition `{partition}` (this cluster has: {})", known.join(", "))]
    UnknownPartition {
        /// The partition asked for.
        partition: String,
        /// The partitions the cluster has.
        known: Vec<String>,
    },
    /// More CPUs were asked for on one node than any node of the partition has.
    #[error(
        "{asked} CPUs asked on one node, but no node of partition `{partition}` has more than {most}"
    )]
    TooManyCpus {
        /// CPUs asked for.
        asked: u32,
        /// The most CPUs a node of the partition has.
        most: u32,
        /// The partition.
        partition: String,
    },
    /// An allocation stayed pending past the pool's bound; it was cancelled.
    #[error("allocation {} still pending after {waited:?} (Slurm's reason: {reason}); cancelled", job.as_deref().unwrap_or("(no id yet)"))]
    Pending {
        /// Its job id, if Slurm had given one.
        job: Option<String>,
        /// How long it waited.
        waited: Duration,
        /// Why Slurm kept it pending (`Resources`, `Priority`, `JobHeldUser`...).
        reason: String,
    },
    /// Slurm refused what was asked (an allocation, a step) for another reason.
    #[error("`{command}` failed: {message}")]
    Refused {
        /// The command (`salloc`, `srun`).
        command: String,
        /// Slurm's message.
        message: String,
    },
    /// The agent program cannot be found.
    #[error(
        "the agent program `{path}` does not exist: build it (`cargo build -p process-pool-slurm`) or set `agent_program`"
    )]
    AgentMissing {
        /// Where it was looked for.
        path: String,
    },
    /// No agent could be started.
    #[error("no agent could be started: {0}")]
    AgentStart(CallError),
    /// A setting is invalid.
    #[error("invalid setting `{name}`: {reason}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

impl SlurmError {
    /// This error as an `io::Error` of a fitting kind, for a spawner's answer; the
    /// `SlurmError` stays reachable through [`std::io::Error::get_ref`].
    pub fn into_io(self) -> std::io::Error {
        let kind = match &self {
            SlurmError::NotReachable { .. } => std::io::ErrorKind::NotConnected,
            SlurmError::UnknownPartition { .. }
            | SlurmError::TooManyCpus { .. }
            | SlurmError::Invalid { .. } => std::io::ErrorKind::InvalidInput,
            SlurmError::Pending { .. } => std::io::ErrorKind::TimedOut,
            SlurmError::AgentMissing { .. } | SlurmError::Config { .. } => {
                std::io::ErrorKind::NotFound
            }
            SlurmError::Refused { .. } | SlurmError::AgentStart(_) => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, self)
    }
}
