//! [`RoutingSpawner`]: one pool, several backends, each job sent to one of them by a rule.

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use super::spawner::{Exit, RunContext, Spawner};
use crate::job::Job;

type Rule = Box<dyn Fn(&Job) -> bool + Send + Sync>;

/// Sends each job to the first backend whose rule matches it, or else to a fallback: so one
/// pool (one worker limit, one queue) runs, say, `.wasm` jobs sandboxed in WASI and the rest as
/// native processes.
///
/// ```
/// use process_pool::backend::{Exit, ExitStatus, RoutingSpawner, RunContext, Spawner};
/// use process_pool::{async_trait, Job, ProcessPool};
///
/// /// A stand-in backend that exits with its own code.
/// struct Exits(i32);
///
/// #[async_trait]
/// impl Spawner for Exits {
///     async fn spawn(&self, _: &Job, _: &RunContext) -> std::io::Result<Exit> {
///         Ok(Exit::new(ExitStatus::Code(self.0)))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let spawner = RoutingSpawner::new(Exits(0)).extensions(["wasm", "wat"], Exits(1));
/// let pool = ProcessPool::new(spawner, 2)?;
/// let results = pool.run_all([Job::new("echo"), Job::new("guest.wasm")]).await?;
/// assert_eq!(results[0].exit_code(), Some(0));
/// assert_eq!(results[1].exit_code(), Some(1));
/// # Ok(())
/// # }
/// ```
pub struct RoutingSpawner {
    routes: Vec<(Rule, Arc<dyn Spawner>)>,
    fallback: Arc<dyn Spawner>,
}

impl std::fmt::Debug for RoutingSpawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutingSpawner")
            .field("routes", &self.routes.len())
            .finish_non_exhaustive()
    }
}

impl RoutingSpawner {
    /// A router that sends every job to `fallback` until routes are added.
    pub fn new(fallback: impl Spawner) -> Self {
        RoutingSpawner {
            routes: Vec::new(),
            fallback: Arc::new(fallback),
        }
    }

    /// Sends the jobs for which `rule` holds to `spawner` (routes are tried in the order added).
    #[must_use]
    pub fn route(
        mut self,
        rule: impl Fn(&Job) -> bool + Send + Sync + 'static,
        spawner: impl Spawner,
    ) -> Self {
        self.routes.push((Box::new(rule), Arc::new(spawner)));
        self
    }

    /// Sends the jobs whose program has one of these file extensions (without the dot,
    /// compared without regard to case) to `spawner`.
    #[must_use]
    pub fn extensions<const N: usize>(
        self,
        extensions: [&'static str; N],
        spawner: impl Spawner,
    ) -> Self {
        self.route(
            move |job| has_extension(job.get_program(), &extensions),
            spawner,
        )
    }

    fn pick(&self, job: &Job) -> &dyn Spawner {
        self.routes
            .iter()
            .find(|(rule, _)| rule(job))
            .map_or(&*self.fallback, |(_, spawner)| &**spawner)
    }
}

fn has_extension(program: &OsStr, extensions: &[&str]) -> bool {
    Path::new(program)
        .extension()
        .and_then(OsStr::to_str)
        .is_some_and(|ext| extensions.iter().any(|e| e.eq_ignore_ascii_case(ext)))
}

#[async_trait]
impl Spawner for RoutingSpawner {
    async fn spawn(&self, job: &Job, ctx: &RunContext) -> io::Result<Exit> {
        self.pick(job).spawn(job, ctx).await
    }

    /// The smallest capacity of its backends: any of them may get every job.
    fn capacity(&self) -> Option<usize> {
        self.routes
            .iter()
            .map(|(_, spawner)| spawner)
            .chain([&self.fallback])
            .filter_map(|spawner| spawner.capacity())
            .min()
    }

    /// What the backend the job goes to carries.
    fn check_streams(&self, job: &Job) -> Result<(), crate::StreamUnsupported> {
        self.pick(job).check_streams(job)
    }

    /// The backend the job goes to; for any job, every backend.
    fn check_memory_limit(&self, job: Option<&Job>) -> Result<(), String> {
        match job {
            Some(job) => self.pick(job).check_memory_limit(Some(job)),
            None => self
                .routes
                .iter()
                .map(|(_, spawner)| spawner)
                .chain([&self.fallback])
                .try_for_each(|spawner| spawner.check_memory_limit(None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_match_the_file_extension_only() {
        let exts = ["wasm", "wat"];
        assert!(has_extension(OsStr::new("a/b/guest.wasm"), &exts));
        assert!(has_extension(OsStr::new("GUEST.WASM"), &exts));
        assert!(has_extension(OsStr::new("x.wat"), &exts));
        assert!(!has_extension(OsStr::new("wasm"), &exts));
        assert!(!has_extension(OsStr::new("guest.wasm.sh"), &exts));
        assert!(!has_extension(OsStr::new("echo"), &exts));
    }
}
