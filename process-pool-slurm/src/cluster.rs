//! Running Slurm's commands, and what the pool learns from them: the partitions and their
//! nodes' CPUs, job states, cancels.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use crate::error::SlurmError;

/// How long a query (`sinfo`, `squeue`) may take before Slurm counts as not reachable.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// The variable that names Slurm's configuration file for its commands.
const CONF_VAR: &str = "SLURM_CONF";
/// What a command of Slurm's says (on stderr, as it exits) when its configuration file is
/// there but unusable (empty, not a file, bad lines).
const UNUSABLE_CONFIG: &str = "Unable to process configuration file";

/// Checks the configuration file that `SLURM_CONF` names, if it names one, as the commands
/// will see it (they get this process's environment): it must be a file that can be read.
/// Without this, a command of Slurm's retries a missing one for a minute before it fails.
///
/// Without `SLURM_CONF`, Slurm looks in its own places (its built-in path, then a
/// configless controller), which are not checked here: a command that cannot find its
/// configuration there says so on stderr, which [`Commands::query`] reads as it comes.
pub(crate) fn check_config() -> Result<(), SlurmError> {
    let Some(path) = std::env::var_os(CONF_VAR).filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let path = PathBuf::from(path);
    let unusable = |reason: String| SlurmError::Config {
        path: path.clone(),
        reason,
    };
    let meta = std::fs::metadata(&path).map_err(|e| {
        unusable(if e.kind() == std::io::ErrorKind::NotFound {
            "it does not exist".to_owned()
        } else {
            format!("it cannot be looked at: {e}")
        })
    })?;
    if meta.is_dir() {
        return Err(unusable("it is a directory, not a file".to_owned()));
    }
    if !meta.is_file() {
        return Err(unusable("it is not a regular file".to_owned()));
    }
    std::fs::File::open(&path)
        .map_err(|e| unusable(format!("it cannot be read: {e}")))?;
    Ok(())
}

/// The error a line of a Slurm command's stderr tells, if it says the configuration file
/// cannot be had: `s_p_parse_file: cannot stat file PATH: REASON, retrying in 1sec up to 60sec`
/// (older Slurms: `unable to status file`). Only that: a controller that does not answer
/// (`Unable to contact slurm controller`) may come back, and is left to the command.
pub(crate) fn config_failure(line: &str) -> Option<SlurmError> {
    let (_, rest) = line.split_once("s_p_parse_file: ")?;
    let rest = ["cannot stat file ", "unable to status file "]
        .iter()
        .find_map(|phrase| rest.strip_prefix(phrase))?;
    let (path, reason) = rest.split_once(": ").unwrap_or((rest, "cannot be had"));
    let reason = reason.split(", retrying").next().unwrap_or(reason).trim();
    Some(SlurmError::Config {
        path: PathBuf::from(path),
        reason: format!("Slurm cannot open it: {reason}"),
    })
}

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
    /// [`SlurmError::NotReachable`], a broken configuration [`SlurmError::Config`].
    ///
    /// The configuration is checked first (see [`check_config`]), and the command's stderr is
    /// read as it comes: a line that says the configuration file cannot be had (Slurm then
    /// retries for a minute) ends the query at once with [`SlurmError::Config`].
    pub(crate) async fn query<I, S>(&self, name: &str, args: I) -> Result<String, SlurmError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        check_config()?;
        let mut command = self.command(name);
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let run = async {
            let mut child = command.spawn().map_err(|e| SlurmError::NotReachable {
                reason: if e.kind() == std::io::ErrorKind::NotFound {
                    format!("`{name}` not found")
                } else {
                    format!("cannot run `{name}`: {e}")
                },
            })?;
            let (Some(mut stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take())
            else {
                return Err(SlurmError::NotReachable {
                    reason: format!("`{name}`'s pipes were not set up"),
                });
            };
            let broken = |e: std::io::Error| SlurmError::NotReachable {
                reason: format!("cannot read what `{name}` says: {e}"),
            };
            let out = async {
                let mut out = Vec::new();
                stdout.read_to_end(&mut out).await.map_err(broken)?;
                Ok(out)
            };
            let err = async {
                // Bytes, not `lines()`: a line that is not UTF-8 is still read (lossily).
                let mut stderr = BufReader::new(stderr);
                let mut text = String::new();
                let mut line = Vec::new();
                while stderr.read_until(b'\n', &mut line).await.map_err(broken)? > 0 {
                    let read = String::from_utf8_lossy(&line);
                    if let Some(error) = config_failure(read.trim_end()) {
                        return Err(error);
                    }
                    text.push_str(&read);
                    line.clear();
                }
                Ok(text)
            };
            let wait = async { child.wait().await.map_err(broken) };
            // The first error (a fatal line on stderr) ends the query; dropping the child
            // kills the command.
            tokio::try_join!(out, err, wait)
        };
        let (stdout, stderr, status) = tokio::time::timeout(QUERY_TIMEOUT, run)
            .await
            .map_err(|_| SlurmError::NotReachable {
                reason: format!("`{name}` did not answer within {QUERY_TIMEOUT:?}"),
            })??;
        if !status.success() {
            let message = stderr.trim();
            if message.contains(UNUSABLE_CONFIG)
                && let Some(path) = std::env::var_os(CONF_VAR)
            {
                return Err(SlurmError::Config {
                    path: PathBuf::from(path),
                    reason: format!("`{name}` cannot use it: {message}"),
                });
            }
            return Err(SlurmError::NotReachable {
                reason: format!("`{name}` failed: {message}"),
            });
        }
        Ok(String::from_utf8_lossy(&stdout).into_owned())
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

    #[test]
    fn configuration_lines_that_end_a_query() {
        for line in [
            "sinfo: error: s_p_parse_file: cannot stat file /a/slurm.conf: No such file or directory, retrying in 1sec up to 60sec",
            "squeue: error: s_p_parse_file: unable to status file /a/slurm.conf: Permission denied, retrying in 1sec up to 60sec",
        ] {
            let Some(SlurmError::Config { path, reason }) = config_failure(line) else {
                panic!("not read as a configuration failure: {line}");
            };
            assert_eq!(path, PathBuf::from("/a/slurm.conf"));
            assert!(!reason.contains("retrying"), "{reason}");
        }
        for line in [
            "sinfo: error: Unable to contact slurm controller (connect failure)",
            "sinfo: error: slurm_receive_msg: Socket timed out on send/recv operation",
            "srun: error: cannot stat file /home/me/input: No such file or directory",
        ] {
            assert!(config_failure(line).is_none(), "{line}");
        }
    }
}
