//! What the job pool's policy tests share. The policy is checked without processes: an in-memory spawner runs each job as a
//! tiny script taken from its arguments, and reports what it saw (start order, how many jobs ran
//! at once, which jobs were told to stop).
//!
//! A job's program is its name; its arguments are the steps of its script, run in order:
//!
//! | step           | effect                                                              |
//! |----------------|---------------------------------------------------------------------|
//! | `out:TEXT`     | appends `TEXT` to stdout                                            |
//! | `ctx`          | appends the context's output limit and kill grace to stdout         |
//! | `exit:N`       | ends with exit code `N` (without it a script ends with 0)           |
//! | `fail-first:N` | ends with exit code 1 on the first `N` attempts of this job name    |
//! | `spawn-error`  | fails to start (`Err(NotFound)`)                                    |
//! | `panic`        | panics                                                              |
//! | `yield:N`      | yields to the runtime `N` times                                     |
//! | `sleep:MS`     | sleeps `MS` milliseconds                                            |
//! | `gate:NAME`    | waits for a permit of the gate `NAME` (see [`Probe::release`])      |
//! | `meet:N`       | waits until at least `N` jobs have run at once (the probe's peak)   |
//! | `hang`         | waits until cancelled                                               |
//! | `deaf`         | waits for ever, ignoring its context (a backend that does not stop) |
//! | `held:MS`      | sleeps `MS` milliseconds holding the attempt's timeout              |
//!
//! Every waiting step honours the context: when it is cancelled, the job returns at once with
//! `ExitStatus::Signal(15)`, as a killed process would.

#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod workers;

pub use std::collections::{HashMap, HashSet};
pub use std::fmt::Debug;
pub use std::future::{Future, pending};
pub use std::io;
pub use std::pin::pin;
pub use std::str::FromStr;
pub use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
pub use std::sync::{Arc, Mutex};
pub use std::time::Duration;

pub use futures::{FutureExt, StreamExt, poll};
pub use process_pool_core::backend::{Exit, ExitStatus, RunContext, Spawner};
pub use process_pool_core::{
    Backoff, ConfigError, Job, JobError, JobHandle, JobId, JobResult, Outcome, PoolBuilder,
    ProcessPool, RetryOn, RetryPolicy, async_trait,
};
pub use tokio::sync::{Notify, Semaphore, watch};
pub use tokio::time::Instant;

/// A bound that only catches a hang: nothing in these tests should come near it.
pub const HANG: Duration = Duration::from_secs(30);

/// The signal a stopped job reports, like a process killed by SIGTERM.
pub const SIGTERM: i32 = 15;

/// Events with the job name and the (tokio) time they happened.
pub type Timeline = Mutex<Vec<(String, Instant)>>;

/// What the scripted spawner saw, shared with the test, and the gates and counters the scripts
/// use.
pub struct Probe {
    running: AtomicUsize,
    peak: AtomicUsize,
    started: AtomicUsize,
    ended: AtomicUsize,
    /// Every attempt's start, in order.
    starts: Timeline,
    /// Every attempt that saw its context cancelled.
    cancels: Timeline,
    gates: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Attempts per job name, for `fail-first`.
    tries: Mutex<HashMap<String, u32>>,
    /// Bumped after every change of the counters, to wake [`Probe::until`].
    changed: watch::Sender<()>,
}

impl Probe {
    /// A fresh probe with nothing seen yet.
    pub fn new() -> Arc<Probe> {
        Arc::new(Probe {
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
            ended: AtomicUsize::new(0),
            starts: Mutex::default(),
            cancels: Mutex::default(),
            gates: Mutex::default(),
            tries: Mutex::default(),
            changed: watch::channel(()).0,
        })
    }

    /// A spawner that runs scripts and reports to this probe.
    pub fn spawner(self: &Arc<Self>) -> Scripted {
        Scripted(Arc::clone(self))
    }

    /// Jobs running now.
    pub fn running(&self) -> usize {
        self.running.load(SeqCst)
    }

    /// The most jobs that have run at once since creation or [`Probe::reset_peak`].
    pub fn peak(&self) -> usize {
        self.peak.load(SeqCst)
    }

    /// Forgets the peak: from now on it counts from the jobs running now.
    pub fn reset_peak(&self) {
        self.peak.store(self.running(), SeqCst);
    }

    /// Attempts started so far.
    pub fn started(&self) -> usize {
        self.started.load(SeqCst)
    }

    /// Attempts ended so far, however they ended.
    pub fn ended(&self) -> usize {
        self.ended.load(SeqCst)
    }

    /// The names of the jobs in the order their attempts started.
    pub fn start_order(&self) -> Vec<String> {
        let starts = self.starts.lock().unwrap();
        starts.iter().map(|(name, _)| name.clone()).collect()
    }

    /// When each attempt of job `name` started.
    pub fn start_times(&self, name: &str) -> Vec<Instant> {
        let starts = self.starts.lock().unwrap();
        starts
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, at)| *at)
            .collect()
    }

    /// The names of the jobs that saw their context cancelled, sorted.
    pub fn cancelled_names(&self) -> Vec<String> {
        let mut names: Vec<_> = {
            let cancels = self.cancels.lock().unwrap();
            cancels.iter().map(|(name, _)| name.clone()).collect()
        };
        names.sort();
        names
    }

    /// When job `name` saw its context cancelled (its first such attempt).
    pub fn cancel_time(&self, name: &str) -> Instant {
        let cancels = self.cancels.lock().unwrap();
        let found = cancels.iter().find(|(n, _)| n == name);
        found
            .unwrap_or_else(|| panic!("`{name}` was never cancelled"))
            .1
    }

    /// The gate `name`, closed (no permits) when first named.
    pub fn gate(&self, name: &str) -> Arc<Semaphore> {
        let mut gates = self.gates.lock().unwrap();
        let gate = gates.entry(name.to_owned());
        Arc::clone(gate.or_insert_with(|| Arc::new(Semaphore::new(0))))
    }

    /// Lets `n` more jobs through the gate `name`.
    pub fn release(&self, name: &str, n: usize) {
        self.gate(name).add_permits(n);
    }

    /// Opens the gate `name` for good: every job waiting there or coming later passes.
    pub fn open(&self, name: &str) {
        self.gate(name).close();
    }

    /// Waits at the gate `name` until a permit is given or the gate is opened.
    pub async fn pass(&self, name: &str) {
        if let Ok(permit) = self.gate(name).acquire().await {
            permit.forget();
        }
    }

    /// Counts one more attempt of job `name`; returns its number (1 for the first).
    pub fn next_try(&self, name: &str) -> u32 {
        let mut tries = self.tries.lock().unwrap();
        let count = tries.entry(name.to_owned()).or_default();
        *count += 1;
        *count
    }

    /// Records the start of an attempt of job `name`; the guard records its end.
    pub fn enter(&self, name: &str) -> Attempt<'_> {
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        self.started.fetch_add(1, SeqCst);
        self.starts
            .lock()
            .unwrap()
            .push((name.to_owned(), Instant::now()));
        self.changed.send_replace(());
        Attempt(self)
    }

    /// Records that job `name` was told to stop.
    pub fn saw_cancel(&self, name: &str) {
        self.cancels
            .lock()
            .unwrap()
            .push((name.to_owned(), Instant::now()));
    }

    /// Completes once `done` holds (checked now and after every change of the counters).
    pub async fn until(&self, done: impl Fn(&Probe) -> bool + Send) {
        let mut changes = self.changed.subscribe();
        // `wait_for` looks before it waits, so a change made before subscribing is not missed.
        let seen = changes.wait_for(|_| done(self)).await.is_ok();
        assert!(seen, "the probe outlives its watchers");
    }

    /// Like [`Probe::until`], but fails the test (naming `what`) if it takes too long.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&Probe) -> bool + Send) {
        if tokio::time::timeout(HANG, self.until(done)).await.is_err() {
            panic!("timed out waiting until {what}");
        }
    }
}

/// One attempt in progress, counted in [`Probe::running`] until dropped, even by a panic.
pub struct Attempt<'a>(&'a Probe);

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, SeqCst);
        self.0.ended.fetch_add(1, SeqCst);
        self.0.changed.send_replace(());
    }
}

/// The in-memory backend: runs a job's arguments as a script (see the module docs).
#[derive(Clone)]
pub struct Scripted(pub Arc<Probe>);

#[async_trait]
impl Spawner for Scripted {
    async fn spawn(&self, job: &Job, ctx: &RunContext) -> io::Result<Exit> {
        let name = job.program_lossy();
        let _attempt = self.0.enter(&name);
        let mut stdout = String::new();
        let status = self.run(&name, job, ctx, &mut stdout).await?;
        Ok(Exit::new(status).with_stdout(stdout.into(), false))
    }
}

impl Scripted {
    /// Runs the steps of `job`, writing to `stdout`, and returns how the job ended.
    pub async fn run(
        &self,
        name: &str,
        job: &Job,
        ctx: &RunContext,
        stdout: &mut String,
    ) -> io::Result<ExitStatus> {
        let probe = &*self.0;
        for step in job.get_args() {
            let step = step.to_str().expect("script steps are UTF-8");
            let (op, arg) = step.split_once(':').unwrap_or((step, ""));
            let went_on = match op {
                "out" => {
                    stdout.push_str(arg);
                    true
                }
                "ctx" => {
                    let limit = ctx.output_limit();
                    let grace = ctx.kill_grace();
                    stdout.push_str(&format!("limit={limit} grace={grace:?}"));
                    true
                }
                "exit" => return Ok(ExitStatus::Code(number(arg))),
                "fail-first" => {
                    if probe.next_try(name) <= number(arg) {
                        return Ok(ExitStatus::Code(1));
                    }
                    true
                }
                "spawn-error" => {
                    let message = format!("no program named `{name}`");
                    return Err(io::Error::new(io::ErrorKind::NotFound, message));
                }
                "panic" => panic!("scripted panic in `{name}`"),
                "yield" => {
                    for _ in 0..number::<u32>(arg) {
                        tokio::task::yield_now().await;
                    }
                    true
                }
                "sleep" => {
                    let nap = tokio::time::sleep(Duration::from_millis(number(arg)));
                    unless_cancelled(ctx, nap).await
                }
                "gate" => unless_cancelled(ctx, probe.pass(arg)).await,
                "meet" => {
                    let n: usize = number(arg);
                    // The peak only grows, so a job that has met its partners stays met.
                    unless_cancelled(ctx, probe.until(move |p| p.peak() >= n)).await
                }
                "hang" => unless_cancelled(ctx, pending::<()>()).await,
                "held" => {
                    let _hold = ctx.hold_timeout();
                    let nap = tokio::time::sleep(Duration::from_millis(number(arg)));
                    unless_cancelled(ctx, nap).await
                }
                "deaf" => {
                    pending::<()>().await;
                    true
                }
                other => panic!("unknown script step `{other}`"),
            };
            if !went_on {
                probe.saw_cancel(name);
                return Ok(ExitStatus::Signal(SIGTERM));
            }
        }
        Ok(ExitStatus::Code(0))
    }
}

/// Awaits `wait` unless `ctx` is cancelled first; `false` means the job must stop.
pub async fn unless_cancelled(ctx: &RunContext, wait: impl Future<Output = ()>) -> bool {
    tokio::select! {
        biased;
        () = ctx.cancelled() => false,
        () = wait => true,
    }
}

/// The number in a script step's argument.
pub fn number<T: FromStr<Err: Debug>>(arg: &str) -> T {
    arg.parse()
        .unwrap_or_else(|e| panic!("bad number `{arg}` in a script step: {e:?}"))
}

/// A job named `name` that runs `steps`.
pub fn script(name: &str, steps: &[&str]) -> Job {
    Job::new(name).args(steps)
}

/// One of two jobs that end only once both have run at once. Run exactly two, after
/// [`Probe::reset_peak`] if jobs have run before: any more would pass on the first two's meeting.
pub fn meet_pair() -> Job {
    script("meet", &["meet:2"])
}

/// A builder for a pool of `workers`, every other setting at its default.
pub fn builder(workers: usize) -> PoolBuilder {
    ProcessPool::builder().max_workers(workers)
}

/// A pool of `workers` with default settings, running scripts for `probe`.
pub fn pool(probe: &Arc<Probe>, workers: usize) -> ProcessPool {
    ProcessPool::new(probe.spawner(), workers).expect("a valid pool")
}

/// Awaits `future`, failing the test if it takes longer than [`HANG`].
pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(HANG, future)
        .await
        .expect("hung: no answer within the hang bound")
}

/// A list that hooks append to and the test reads.
pub type Log<T> = Arc<Mutex<Vec<T>>>;

/// A copy of what `log` holds now.
pub fn read<T: Clone>(log: &Log<T>) -> Vec<T> {
    log.lock().unwrap().clone()
}

/// A small xorshift generator: reproducible choices without a dependency.
pub struct Rng(pub u64);

impl Rng {
    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % n as u64).expect("below n")
    }
}

/// Occupies the only worker of `pool` with a job held at the gate "blocker", and waits until it
/// runs, so that what is submitted next queues behind it.
pub async fn block_the_worker(pool: &ProcessPool, probe: &Probe) -> JobHandle {
    let blocker = pool
        .try_submit(script("blocker", &["gate:blocker"]))
        .unwrap();
    probe
        .wait_until("the blocker runs", |p| p.started() == 1)
        .await;
    blocker
}
