//! Running Slurm's commands, and what the pool learns from them: the partitions and their
//! nodes' CPUs, job states, cancels.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::error::SlurmError;

/// How long a query (`sinfo`, `squeue`) may take before Slurm counts as not reachable.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Where Slurm's commands are: a directory, or the `PATH`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Commands {
    pub(crate) bin_dir: Option<PathBuf>,
}

impl Commands {
    /// The path of one of Slurm's commands (`srun`), or its bare name to look up in `PATH`.
    pub(crate) fn bin(&self, name: &str) -> PathBuf {
        match &self.bin_dir {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        }
    }

    /// A command of Slurm's (`srun`, `salloc`...), stdin closed.
    pub(crate) fn command(&self, name: &str) -> Command {
        let mut command = Command::new(self.bin(name));
        command.stdin(Stdio::null());
        command
    }

    /// The same as a blocking `std` command, for a drop or a kill outside async code.
    pub(crate) fn std_command(&self, name: &str) -> std::process::Command {
        let mut command = std::process::Command::new(self.bin(name));
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    /// Runs a query and returns its stdout; a missing command or a failure is
    /// [`SlurmError::NotReachable`].
    pub(crate) async fn query<I, S>(&self, name: &str, args: I) -> Result<String, SlurmError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = self.command(name);
        command.args(args).kill_on_drop(true);
        let output = tokio::time::timeout(QUERY_TIMEOUT, command.output())
            .await
            .map_err(|_| SlurmError::NotReachable {
                reason: format!("`{name}` did not answer within {QUERY_TIMEOUT:?}"),
            })?
            .map_err(|e| SlurmError::NotReachable {
                reason: if e.kind() == std::io::ErrorKind::NotFound {
                    format!("`{name}` not found")
                } else {
                    format!("cannot run `{name}`: {e}")
                },
            })?;
        if !output.status.success() {
            return Err(SlurmError::NotReachable {
                reason: format!(
                    "`{name}` failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Cancels a job or a step (`JOB` or `JOB.STEP`) without waiting for `scancel`: a thread
    /// reaps it. Usable from a drop.
    pub(crate) fn cancel_detached(&self, id: &str, signal: Option<&str>) {
        let mut command = self.std_command("scancel");
        if let Some(signal) = signal {
            command.arg(format!("--signal={signal}"));
        }
        command.arg(id);
        if let Ok(mut child) = command.spawn() {
            std::thread::spawn(move || child.wait());
        }
    }

    /// Why Slurm keeps a job pending, as `squeue` says (`Resources`, `JobHeldUser`...).
    pub(crate) async fn pending_reason(&self, job: &str) -> String {
        self.query("squeue", ["-h", "-j", job, "-o", "%r"])
            .await
            .map(|s| s.trim().to_owned())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".to_owned())
    }

    /// The partitions and the most CPUs a node of each has.
    pub(crate) async fn partitions(&self) -> Result<Partitions, SlurmError> {
        let table = self.query("sinfo", ["-h", "-N", "-o", "%P %c"]).await?;
        Ok(Partitions::parse(&table))
    }

    /// Each node's name and state, as `sinfo -o %t` shows them (`idle`, `mix*`, `down*`...).
    pub(crate) async fn node_states(&self) -> Result<Vec<(String, String)>, SlurmError> {
        let table = self.query("sinfo", ["-h", "-N", "-o", "%N %t"]).await?;
        Ok(table
            .lines()
            .filter_map(|line| {
                let (node, state) = line.split_once(' ')?;
                Some((node.to_owned(), state.trim().to_owned()))
            })
            .collect())
    }

    /// The node names of a job's allocation.
    pub(crate) async fn job_nodes(&self, job: &str) -> Result<Vec<String>, SlurmError> {
        let list = self.query("squeue", ["-h", "-j", job, "-o", "%N"]).await?;
        let names = self
            .query("scontrol", ["show", "hostnames", list.trim()])
            .await?;
        Ok(names.split_whitespace().map(str::to_owned).collect())
    }
}

/// What `sinfo` says of the partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Partitions {
    /// Each partition and the most CPUs one of its nodes has.
    pub(crate) cpus: Vec<(String, u32)>,
    /// The default partition.
    pub(crate) default: Option<String>,
}

impl Partitions {
    /// Reads `sinfo -h -N -o "%P %c"`: one line per node and partition, the default marked
    /// with `*`.
    pub(crate) fn parse(table: &str) -> Partitions {
        let mut out = Partitions::default();
        for line in table.lines() {
            let mut words = line.split_whitespace();
            let (Some(name), Some(cpus)) = (words.next(), words.next()) else {
                continue;
            };
            let (name, default) = match name.strip_suffix('*') {
                Some(name) => (name, true),
                None => (name, false),
            };
            if default {
                out.default = Some(name.to_owned());
            }
            let cpus: u32 = cpus.trim_end_matches('+').parse().unwrap_or(0);
            match out.cpus.iter_mut().find(|(n, _)| n == name) {
                Some((_, most)) => *most = (*most).max(cpus),
                None => out.cpus.push((name.to_owned(), cpus)),
            }
        }
        out
    }

    /// The partition a request lands in: the one named, else the default. Errors name the
    /// known ones.
    pub(crate) fn resolve(&self, asked: Option<&str>) -> Result<(String, u32), SlurmError> {
        let name = match asked {
            Some(name) => name.to_owned(),
            None => self.default.clone().ok_or_else(|| SlurmError::Refused {
                command: "sinfo".into(),
                message: "the cluster has no default partition: set `partition`".into(),
            })?,
        };
        self.cpus
            .iter()
            .find(|(n, _)| *n == name)
            .cloned()
            .ok_or_else(|| SlurmError::UnknownPartition {
                partition: name,
                known: self.cpus.iter().map(|(n, _)| n.clone()).collect(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_from_sinfo() {
        let p = Partitions::parse("debug* 2\ndebug* 4\nbig 64\nbig 32\n");
        assert_eq!(p.default.as_deref(), Some("debug"));
        assert_eq!(p.resolve(None).unwrap(), ("debug".to_owned(), 4));
        assert_eq!(p.resolve(Some("big")).unwrap().1, 64);
        let error = p.resolve(Some("gpu")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown partition `gpu` (this cluster has: debug, big)"
        );
    }
}
