//! [`Resources`]: what a pool asks Slurm for, as `salloc`/`srun` options.

use std::time::Duration;

/// What to ask Slurm for: where (partition, account, QoS, node features) and how much (CPUs,
/// memory, time, generic resources).
///
/// In agent mode these describe each agent's one-node allocation (without `cpus`, the whole
/// node: `--exclusive`); in step mode, each job's step.
///
/// ```
/// use std::time::Duration;
/// use process_pool_slurm::Resources;
///
/// let resources = Resources::new()
///     .partition("debug")
///     .time_limit(Duration::from_secs(3600))
///     .memory_mb(2048)
///     .cpus(4);
/// assert_eq!(resources.get_partition(), Some("debug"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    partition: Option<String>,
    account: Option<String>,
    qos: Option<String>,
    constraint: Option<String>,
    time_limit: Option<Duration>,
    gres: Option<String>,
    memory_mb: Option<u64>,
    cpus: Option<u32>,
    extra: Vec<String>,
}

impl Resources {
    /// Nothing asked: the cluster's defaults.
    pub fn new() -> Resources {
        Resources::default()
    }

    /// The partition (`-p`); default: the cluster's default partition.
    #[must_use]
    pub fn partition(mut self, name: impl Into<String>) -> Self {
        self.partition = Some(name.into());
        self
    }

    /// The account charged (`-A`).
    #[must_use]
    pub fn account(mut self, name: impl Into<String>) -> Self {
        self.account = Some(name.into());
        self
    }

    /// The quality of service (`--qos`).
    #[must_use]
    pub fn qos(mut self, name: impl Into<String>) -> Self {
        self.qos = Some(name.into());
        self
    }

    /// Node features required (`-C`, e.g. `"skylake&ib"`).
    #[must_use]
    pub fn constraint(mut self, expression: impl Into<String>) -> Self {
        self.constraint = Some(expression.into());
        self
    }

    /// The wall-clock limit (`-t`), rounded up to a whole second.
    #[must_use]
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// Generic resources (`--gres`, e.g. `"gpu:1"`).
    #[must_use]
    pub fn gres(mut self, spec: impl Into<String>) -> Self {
        self.gres = Some(spec.into());
        self
    }

    /// Memory per node, in MiB (`--mem`).
    #[must_use]
    pub fn memory_mb(mut self, mb: u64) -> Self {
        self.memory_mb = Some(mb);
        self
    }

    /// CPUs (`-c`): per agent in agent mode (default: the whole node), per job in step mode
    /// (default 1).
    #[must_use]
    pub fn cpus(mut self, cpus: u32) -> Self {
        self.cpus = Some(cpus);
        self
    }

    /// More options for `salloc` (agent mode) or `srun` (step mode), as given, e.g.
    /// `"--reservation=maint"` or `"--hold"`.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra.push(arg.into());
        self
    }

    /// The partition, if set.
    pub fn get_partition(&self) -> Option<&str> {
        self.partition.as_deref()
    }

    /// The CPUs, if set.
    pub fn get_cpus(&self) -> Option<u32> {
        self.cpus
    }

    /// Whether any option that only a whole job can have (partition, account, QoS,
    /// constraint) is set: a step inside an existing allocation cannot change them.
    pub(crate) fn job_level(&self) -> Option<&'static str> {
        if self.partition.is_some() {
            Some("partition")
        } else if self.account.is_some() {
            Some("account")
        } else if self.qos.is_some() {
            Some("qos")
        } else if self.constraint.is_some() {
            Some("constraint")
        } else {
            None
        }
    }

    /// The options, for `salloc` or `srun`. `whole_node`: without `cpus`, ask for the node.
    pub(crate) fn args(&self, whole_node: bool, step_only: bool) -> Vec<String> {
        let mut args = Vec::new();
        if !step_only {
            let mut push = |flag: &str, value: &Option<String>| {
                if let Some(value) = value {
                    args.push(format!("{flag}={value}"));
                }
            };
            push("--partition", &self.partition);
            push("--account", &self.account);
            push("--qos", &self.qos);
            push("--constraint", &self.constraint);
        }
        if let Some(limit) = self.time_limit {
            args.push(format!("--time={}", slurm_time(limit)));
        }
        if let Some(gres) = &self.gres {
            args.push(format!("--gres={gres}"));
        }
        if let Some(mb) = self.memory_mb {
            args.push(format!("--mem={mb}M"));
        }
        match self.cpus {
            Some(cpus) => args.push(format!("--cpus-per-task={cpus}")),
            None if whole_node => args.push("--exclusive".to_owned()),
            None => {}
        }
        args.extend(self.extra.iter().cloned());
        args
    }
}

/// A duration as Slurm's `days-hours:minutes:seconds`, rounded up to a second (at least 1).
pub(crate) fn slurm_time(limit: Duration) -> String {
    let mut secs = limit.as_secs() + u64::from(limit.subsec_nanos() > 0);
    secs = secs.max(1);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    format!(
        "{days}-{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_up() {
        assert_eq!(slurm_time(Duration::from_millis(1)), "0-00:00:01");
        assert_eq!(slurm_time(Duration::from_secs(3661)), "0-01:01:01");
        assert_eq!(slurm_time(Duration::from_secs(90_000)), "1-01:00:00");
    }

    #[test]
    fn options_for_salloc_and_steps() {
        let r = Resources::new()
            .partition("debug")
            .account("a")
            .memory_mb(100)
            .arg("--hold");
        assert_eq!(
            r.args(true, false),
            [
                "--partition=debug",
                "--account=a",
                "--mem=100M",
                "--exclusive",
                "--hold"
            ]
        );
        assert_eq!(r.args(false, true), ["--mem=100M", "--hold"]);
        assert_eq!(r.job_level(), Some("partition"));
        assert_eq!(
            Resources::new().cpus(2).args(true, true),
            ["--cpus-per-task=2"]
        );
    }
}
