//! The scheduler's policy, checked without processes: an in-memory spawner runs each job as a
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
//!
//! Every waiting step honours the context: when it is cancelled, the job returns at once with
//! `ExitStatus::Signal(15)`, as a killed process would.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::future::{Future, pending};
use std::io;
use std::pin::pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt, poll};
use process_pool_core::{
    Backoff, ConfigError, Exit, ExitStatus, Job, JobError, JobHandle, JobId, JobResult, Outcome,
    PoolBuilder, ProcessPool, RetryOn, RetryPolicy, RunContext, Spawner, async_trait,
};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;

/// A bound that only catches a hang: nothing in these tests should come near it.
const HANG: Duration = Duration::from_secs(30);

/// The signal a stopped job reports, like a process killed by SIGTERM.
const SIGTERM: i32 = 15;

/// Events with the job name and the (tokio) time they happened.
type Timeline = Mutex<Vec<(String, Instant)>>;

/// What the scripted spawner saw, shared with the test, and the gates and counters the scripts
/// use.
struct Probe {
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
    fn new() -> Arc<Probe> {
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
    fn spawner(self: &Arc<Self>) -> Scripted {
        Scripted(Arc::clone(self))
    }

    /// Jobs running now.
    fn running(&self) -> usize {
        self.running.load(SeqCst)
    }

    /// The most jobs that have run at once since creation or [`Probe::reset_peak`].
    fn peak(&self) -> usize {
        self.peak.load(SeqCst)
    }

    /// Forgets the peak: from now on it counts from the jobs running now.
    fn reset_peak(&self) {
        self.peak.store(self.running(), SeqCst);
    }

    /// Attempts started so far.
    fn started(&self) -> usize {
        self.started.load(SeqCst)
    }

    /// Attempts ended so far, however they ended.
    fn ended(&self) -> usize {
        self.ended.load(SeqCst)
    }

    /// The names of the jobs in the order their attempts started.
    fn start_order(&self) -> Vec<String> {
        let starts = self.starts.lock().unwrap();
        starts.iter().map(|(name, _)| name.clone()).collect()
    }

    /// When each attempt of job `name` started.
    fn start_times(&self, name: &str) -> Vec<Instant> {
        let starts = self.starts.lock().unwrap();
        starts
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, at)| *at)
            .collect()
    }

    /// The names of the jobs that saw their context cancelled, sorted.
    fn cancelled_names(&self) -> Vec<String> {
        let mut names: Vec<_> = {
            let cancels = self.cancels.lock().unwrap();
            cancels.iter().map(|(name, _)| name.clone()).collect()
        };
        names.sort();
        names
    }

    /// When job `name` saw its context cancelled (its first such attempt).
    fn cancel_time(&self, name: &str) -> Instant {
        let cancels = self.cancels.lock().unwrap();
        let found = cancels.iter().find(|(n, _)| n == name);
        found
            .unwrap_or_else(|| panic!("`{name}` was never cancelled"))
            .1
    }

    /// The gate `name`, closed (no permits) when first named.
    fn gate(&self, name: &str) -> Arc<Semaphore> {
        let mut gates = self.gates.lock().unwrap();
        let gate = gates.entry(name.to_owned());
        Arc::clone(gate.or_insert_with(|| Arc::new(Semaphore::new(0))))
    }

    /// Lets `n` more jobs through the gate `name`.
    fn release(&self, name: &str, n: usize) {
        self.gate(name).add_permits(n);
    }

    /// Opens the gate `name` for good: every job waiting there or coming later passes.
    fn open(&self, name: &str) {
        self.gate(name).close();
    }

    /// Waits at the gate `name` until a permit is given or the gate is opened.
    async fn pass(&self, name: &str) {
        if let Ok(permit) = self.gate(name).acquire().await {
            permit.forget();
        }
    }

    /// Counts one more attempt of job `name`; returns its number (1 for the first).
    fn next_try(&self, name: &str) -> u32 {
        let mut tries = self.tries.lock().unwrap();
        let count = tries.entry(name.to_owned()).or_default();
        *count += 1;
        *count
    }

    /// Records the start of an attempt of job `name`; the guard records its end.
    fn enter(&self, name: &str) -> Attempt<'_> {
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
    fn saw_cancel(&self, name: &str) {
        self.cancels
            .lock()
            .unwrap()
            .push((name.to_owned(), Instant::now()));
    }

    /// Completes once `done` holds (checked now and after every change of the counters).
    async fn until(&self, done: impl Fn(&Probe) -> bool + Send) {
        let mut changes = self.changed.subscribe();
        // `wait_for` looks before it waits, so a change made before subscribing is not missed.
        let seen = changes.wait_for(|_| done(self)).await.is_ok();
        assert!(seen, "the probe outlives its watchers");
    }

    /// Like [`Probe::until`], but fails the test (naming `what`) if it takes too long.
    async fn wait_until(&self, what: &str, done: impl Fn(&Probe) -> bool + Send) {
        if tokio::time::timeout(HANG, self.until(done)).await.is_err() {
            panic!("timed out waiting until {what}");
        }
    }
}

/// One attempt in progress, counted in [`Probe::running`] until dropped, even by a panic.
struct Attempt<'a>(&'a Probe);

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, SeqCst);
        self.0.ended.fetch_add(1, SeqCst);
        self.0.changed.send_replace(());
    }
}

/// The in-memory backend: runs a job's arguments as a script (see the module docs).
#[derive(Clone)]
struct Scripted(Arc<Probe>);

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
    async fn run(
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
async fn unless_cancelled(ctx: &RunContext, wait: impl Future<Output = ()>) -> bool {
    tokio::select! {
        biased;
        () = ctx.cancelled() => false,
        () = wait => true,
    }
}

/// The number in a script step's argument.
fn number<T: FromStr<Err: Debug>>(arg: &str) -> T {
    arg.parse()
        .unwrap_or_else(|e| panic!("bad number `{arg}` in a script step: {e:?}"))
}

/// A job named `name` that runs `steps`.
fn script(name: &str, steps: &[&str]) -> Job {
    Job::new(name).args(steps)
}

/// One of two jobs that end only once both have run at once. Run exactly two, after
/// [`Probe::reset_peak`] if jobs have run before: any more would pass on the first two's meeting.
fn meet_pair() -> Job {
    script("meet", &["meet:2"])
}

/// A builder for a pool of `workers`, every other setting at its default.
fn builder(workers: usize) -> PoolBuilder {
    ProcessPool::builder().max_workers(workers)
}

/// A pool of `workers` with default settings, running scripts for `probe`.
fn pool(probe: &Arc<Probe>, workers: usize) -> ProcessPool {
    ProcessPool::new(probe.spawner(), workers).expect("a valid pool")
}

/// Awaits `future`, failing the test if it takes longer than [`HANG`].
async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(HANG, future)
        .await
        .expect("hung: no answer within the hang bound")
}

/// A list that hooks append to and the test reads.
type Log<T> = Arc<Mutex<Vec<T>>>;

/// A copy of what `log` holds now.
fn read<T: Clone>(log: &Log<T>) -> Vec<T> {
    log.lock().unwrap().clone()
}

/// A small xorshift generator: reproducible choices without a dependency.
struct Rng(u64);

impl Rng {
    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % n as u64).expect("below n")
    }
}

/// Occupies the only worker of `pool` with a job held at the gate "blocker", and waits until it
/// runs, so that what is submitted next queues behind it.
async fn block_the_worker(pool: &ProcessPool, probe: &Probe) -> JobHandle {
    let blocker = pool
        .try_submit(script("blocker", &["gate:blocker"]))
        .unwrap();
    probe
        .wait_until("the blocker runs", |p| p.started() == 1)
        .await;
    blocker
}

// ----- priority and the worker limit ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_jobs_start_highest_priority_first_and_fifo_among_equals() {
    let probe = Probe::new();
    let pool = pool(&probe, 1);
    let blocker = block_the_worker(&pool, &probe).await;

    let queued = [
        ("a", 0),
        ("b", 5),
        ("c", 0),
        ("d", 5),
        ("e", -1),
        ("f", 10),
        ("g", 5),
    ];
    let mut handles = Vec::new();
    for (name, priority) in queued {
        let job = script(name, &[]).priority(priority);
        handles.push(pool.submit(job).await.unwrap());
    }
    assert_eq!(pool.queue_len(), queued.len());

    probe.open("blocker");
    assert!(within(blocker).await.success());
    for handle in handles {
        assert!(within(handle).await.success());
    }
    assert_eq!(
        probe.start_order(),
        ["blocker", "f", "b", "d", "g", "a", "c", "e"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_job_goes_back_ahead_of_jobs_submitted_after_it() {
    let probe = Probe::new();
    let pool = pool(&probe, 1);
    let blocker = block_the_worker(&pool, &probe).await;
    let flaky = script("flaky", &["fail-first:1"]).retry(RetryPolicy::attempts(2));
    let mut handles = vec![blocker, pool.submit(flaky).await.unwrap()];
    for name in ["later-1", "later-2"] {
        handles.push(pool.submit(script(name, &[])).await.unwrap());
    }

    probe.open("blocker");
    for handle in handles {
        assert!(within(handle).await.success());
    }
    assert_eq!(
        probe.start_order(),
        ["blocker", "flaky", "flaky", "later-1", "later-2"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_never_exceeds_max_workers() {
    for workers in [1, 2, 8] {
        let probe = Probe::new();
        let pool = pool(&probe, workers);
        // The first `workers` jobs wait for each other, so the limit is surely reached; the
        // rest yield a little so that jobs overlap.
        let meet = format!("meet:{workers}");
        let jobs = (0..200).map(|i| {
            if i < workers {
                script("first", &[&meet])
            } else {
                script("job", &["yield:3"])
            }
        });
        let results = within(pool.run_all(jobs)).await.unwrap();
        assert!(results.iter().all(JobResult::success));
        assert_eq!(
            probe.peak(),
            workers,
            "peak concurrency with max_workers = {workers}"
        );
        assert_eq!(probe.started(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_max_workers_grows_at_once_and_shrinks_without_stopping_running_jobs() {
    let probe = Probe::new();
    let pool = pool(&probe, 1);
    let mut handles = Vec::new();
    for i in 0..5 {
        let name = format!("j{i}");
        let job = script(&name, &[&format!("gate:{name}")]);
        handles.push(pool.submit(job).await.unwrap());
    }
    probe.wait_until("j0 runs", |p| p.running() == 1).await;
    assert_eq!(pool.queue_len(), 4);

    // Growing starts queued jobs in the call itself.
    pool.set_max_workers(4).unwrap();
    assert_eq!(pool.max_workers(), 4);
    assert_eq!(pool.stats().running, 4);
    assert_eq!(pool.queue_len(), 1);
    probe
        .wait_until("four jobs run", |p| p.running() == 4)
        .await;

    // Shrinking stops nothing: the four go on, and j4 waits until fewer than two run.
    pool.set_max_workers(2).unwrap();
    assert_eq!(pool.max_workers(), 2);
    assert_eq!(pool.stats().running, 4);
    let mut handles = handles.into_iter();
    for name in ["j0", "j1"] {
        probe.open(name);
        let result = within(handles.next().unwrap()).await;
        assert!(result.success(), "{name}: {}", result.outcome);
    }
    assert_eq!(pool.stats().running, 2);
    assert_eq!(pool.queue_len(), 1);
    assert_eq!(probe.started(), 4, "j4 started above the lowered limit");

    probe.open("j2");
    probe.wait_until("j4 runs", |p| p.started() == 5).await;
    assert_eq!(pool.stats().running, 2);
    probe.open("j3");
    probe.open("j4");
    for handle in handles {
        assert!(within(handle).await.success());
    }
    assert!(
        probe.cancelled_names().is_empty(),
        "a running job was stopped"
    );
    assert_eq!(probe.peak(), 4);

    // Later jobs respect the lower limit.
    probe.reset_peak();
    let jobs = (0..50).map(|i| {
        if i < 2 {
            script("first", &["meet:2"])
        } else {
            script("job", &["yield:3"])
        }
    });
    let results = within(pool.run_all(jobs)).await.unwrap();
    assert!(results.iter().all(JobResult::success));
    assert_eq!(probe.peak(), 2);

    assert_eq!(pool.set_max_workers(0), Err(ConfigError::ZeroWorkers));
    assert_eq!(pool.max_workers(), 2);
}

// ----- cancel ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_answers_queued_and_running_jobs_and_keeps_a_finished_result() {
    let probe = Probe::new();
    let pool = pool(&probe, 1);
    let running = pool.submit(script("running", &["hang"])).await.unwrap();
    probe
        .wait_until("`running` runs", |p| p.started() == 1)
        .await;

    // A queued job is answered by the cancel itself, while the only worker is still busy.
    let queued = pool.submit(script("queued", &[])).await.unwrap();
    queued.cancel();
    let result = queued.now_or_never().expect("answered at once");
    assert!(result.cancelled(), "{}", result.outcome);
    assert_eq!(result.attempts, 0);
    assert_eq!(pool.stats().running, 1);
    assert_eq!(probe.start_order(), ["running"]);
    assert!(probe.cancelled_names().is_empty());

    // A running job is stopped and answered.
    running.cancel();
    let result = within(running).await;
    assert!(result.cancelled(), "{}", result.outcome);
    assert_eq!(result.attempts, 1);
    assert_eq!(probe.cancelled_names(), ["running"]);

    // A finished job keeps its result.
    let done = pool
        .submit(script("done", &["out:kept", "exit:3"]))
        .await
        .unwrap();
    within(pool.drain()).await;
    done.cancel();
    let result = within(done).await;
    assert_eq!(result.exit_code(), Some(3));
    assert_eq!(result.stdout_lossy(), "kept");

    let stats = pool.stats();
    assert_eq!((stats.cancelled, stats.failed), (2, 1));
    assert_eq!(stats.completed(), stats.submitted);
}

// ----- retries --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_failing_twice_then_succeeding_reports_three_attempts() {
    let probe = Probe::new();
    let retries: Log<(String, u32, Option<i32>)> = Log::default();
    let pool = {
        let retries = Arc::clone(&retries);
        builder(2)
            .retry(RetryPolicy::attempts(3))
            .on_retry(move |retry| {
                let failed = retry.failed;
                let entry = (
                    failed.program.clone(),
                    retry.next_attempt,
                    failed.exit_code(),
                );
                retries.lock().unwrap().push(entry);
            })
            .build(probe.spawner())
            .unwrap()
    };
    let flaky = script("flaky", &["fail-first:2", "out:done"]);
    let results = within(pool.run_all([flaky])).await.unwrap();

    assert!(results[0].success(), "{}", results[0].outcome);
    assert_eq!(results[0].attempts, 3);
    assert_eq!(results[0].stdout_lossy(), "done");
    let stats = pool.stats();
    assert_eq!(stats.retried, 2);
    assert_eq!(stats.attempts, 3);
    assert_eq!((stats.succeeded, stats.failed), (1, 0));
    assert_eq!(
        read(&retries),
        [("flaky".into(), 2, Some(1)), ("flaky".into(), 3, Some(1))]
    );
}

#[tokio::test(start_paused = true)]
async fn retries_wait_out_their_backoff() {
    let probe = Probe::new();
    let delays: Log<Duration> = Log::default();
    let backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10));
    let pool = {
        let delays = Arc::clone(&delays);
        builder(2)
            .retry(RetryPolicy::attempts(3).backoff(backoff))
            .on_retry(move |retry| delays.lock().unwrap().push(retry.delay))
            .build(probe.spawner())
            .unwrap()
    };
    let began = Instant::now();
    let handle = pool
        .submit(script("flaky", &["fail-first:2"]))
        .await
        .unwrap();
    let result = within(handle).await;

    assert!(result.success(), "{}", result.outcome);
    assert_eq!(result.attempts, 3);
    let ms = Duration::from_millis;
    assert_eq!(read(&delays), [ms(100), ms(200)]);
    let starts = probe.start_times("flaky");
    assert_eq!(starts.len(), 3);
    assert!(
        starts[1] - starts[0] >= ms(100),
        "{:?}",
        starts[1] - starts[0]
    );
    assert!(
        starts[2] - starts[1] >= ms(200),
        "{:?}",
        starts[2] - starts[1]
    );
    assert!(began.elapsed() >= ms(300));
}

#[tokio::test(start_paused = true)]
async fn retry_on_decides_which_outcomes_are_retried() {
    let probe = Probe::new();
    let pool = pool(&probe, 5);
    let limit = Duration::from_millis(50);
    let no_timeouts = RetryPolicy::attempts(3).on(RetryOn::default().timeout(false));
    let spawn_failures = RetryPolicy::attempts(3).on(RetryOn::NONE.spawn_failure(true));
    let jobs = [
        script("timeout", &["hang"])
            .timeout(limit)
            .retry(no_timeouts.clone()),
        script("exit", &["exit:1"]).retry(no_timeouts.clone()),
        script("spawn", &["spawn-error"]).retry(no_timeouts),
        script("timeout-retried", &["hang"])
            .timeout(limit)
            .retry(RetryPolicy::attempts(2)),
        script("spawn-retried", &["spawn-error"]).retry(spawn_failures),
    ];
    let results = within(pool.run_all(jobs)).await.unwrap();

    let attempts: Vec<_> = results
        .iter()
        .map(|r| (r.program.as_str(), r.attempts))
        .collect();
    assert_eq!(
        attempts,
        [
            ("timeout", 1),
            ("exit", 3),
            ("spawn", 1),
            ("timeout-retried", 2),
            ("spawn-retried", 3),
        ]
    );
    assert!(results[0].timed_out() && results[3].timed_out());
    assert_eq!(results[1].exit_code(), Some(1));
    assert!(matches!(results[2].outcome, Outcome::SpawnFailed(_)));
    assert!(matches!(results[4].outcome, Outcome::SpawnFailed(_)));
    for result in &results {
        let starts = probe.start_times(&result.program).len();
        assert_eq!(starts, result.attempts as usize, "{}", result.program);
    }
    assert_eq!(pool.stats().retried, 2 + 1 + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_job_is_never_retried() {
    let probe = Probe::new();
    // Signals are retried by default and a stopped job reports SIGTERM: only the cancel itself
    // can keep it from running again.
    let pool = builder(1)
        .retry(RetryPolicy::attempts(5))
        .build(probe.spawner())
        .unwrap();
    let handle = pool.submit(script("victim", &["hang"])).await.unwrap();
    probe
        .wait_until("the victim runs", |p| p.started() == 1)
        .await;
    handle.cancel();
    let result = within(handle).await;
    within(pool.drain()).await;

    assert!(result.cancelled(), "{}", result.outcome);
    assert_eq!(result.attempts, 1);
    assert_eq!(probe.started(), 1);
    assert_eq!(pool.stats().retried, 0);
    assert_eq!(pool.stats().cancelled, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_job_waiting_out_its_backoff_answers_it_without_the_wait() {
    let probe = Probe::new();
    let pool = pool(&probe, 1);
    let hour = Backoff::fixed(Duration::from_secs(3600));
    let failing = script("failing", &["exit:1"]).retry(RetryPolicy::attempts(3).backoff(hour));
    let failing = pool.submit(failing).await.unwrap();
    let marker = pool
        .submit(script("marker", &["gate:marker"]))
        .await
        .unwrap();
    // With one worker, `marker` starts only once `failing` has given the worker up to wait.
    probe
        .wait_until("the marker runs", |p| p.started() == 2)
        .await;
    assert_eq!(pool.stats().retried, 1);

    failing.cancel();
    let result = within(failing).await;
    assert!(result.cancelled(), "{}", result.outcome);
    assert_eq!(result.attempts, 1);

    probe.open("marker");
    assert!(within(marker).await.success());
    assert_eq!(probe.start_order(), ["failing", "marker"]);
    assert_eq!(pool.stats().cancelled, 1);
}

/// A cancel that lands while a failed attempt is being handed over to its retry (here from the
/// `on_retry` hook, which makes the timing exact) must still end the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_as_its_retry_is_scheduled_is_not_retried() {
    let probe = Probe::new();
    let victim: Arc<Mutex<Option<JobHandle>>> = Arc::default();
    let retried = Arc::new(Notify::new());
    let pool = {
        let (victim, retried) = (Arc::clone(&victim), Arc::clone(&retried));
        builder(1)
            .on_retry(move |_| {
                if let Some(handle) = victim.lock().unwrap().as_ref() {
                    handle.cancel();
                }
                retried.notify_one();
            })
            .build(probe.spawner())
            .unwrap()
    };
    let job = script("victim", &["gate:go", "exit:1"]).retry(RetryPolicy::attempts(2));
    let handle = pool.submit(job).await.unwrap();
    *victim.lock().unwrap() = Some(handle);
    // Let a second attempt through too, so that a retry would show as a second exit.
    probe.release("go", 2);
    within(retried.notified()).await;
    let handle = victim.lock().unwrap().take().expect("the handle");
    let result = within(handle).await;

    assert!(
        result.cancelled(),
        "cancelled before its retry, yet it ended as `{}` after {} attempts",
        result.outcome,
        result.attempts
    );
    assert_eq!(result.attempts, 1);
    assert_eq!(probe.started(), 1, "the cancelled job was started again");
}

// ----- timeouts -------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_pool_timeout_applies_unless_a_job_sets_its_own() {
    let probe = Probe::new();
    let ms = Duration::from_millis;
    let pool = builder(4).timeout(ms(200)).build(probe.spawner()).unwrap();
    let jobs = [
        script("default", &["hang"]),
        script("shorter", &["hang"]).timeout(ms(50)),
        script("longer", &["sleep:500", "out:slow"]).timeout(ms(1000)),
        script("quick", &["out:quick"]),
    ];
    let results = within(pool.run_all(jobs)).await.unwrap();

    assert!(results[0].timed_out(), "{}", results[0].outcome);
    assert_eq!(results[0].time_limit, Some(ms(200)));
    assert!(results[1].timed_out(), "{}", results[1].outcome);
    assert_eq!(results[1].time_limit, Some(ms(50)));
    assert!(results[2].success(), "{}", results[2].outcome);
    assert_eq!(results[2].time_limit, Some(ms(1000)));
    assert_eq!(results[2].stdout_lossy(), "slow");
    assert!(results[3].success(), "{}", results[3].outcome);
    assert_eq!(results[3].time_limit, Some(ms(200)));

    // Each timed-out job was told to stop at its own limit.
    assert_eq!(probe.cancelled_names(), ["default", "shorter"]);
    for (name, limit) in [("default", ms(200)), ("shorter", ms(50))] {
        let ran = probe.cancel_time(name) - probe.start_times(name)[0];
        assert_eq!(ran, limit, "{name} was stopped after {ran:?}");
    }
    assert!(matches!(
        results[1].error(),
        Some(JobError::TimedOut { index: 1, limit, .. }) if limit == ms(50)
    ));
    assert_eq!(pool.stats().timed_out, 2);
}

#[tokio::test(start_paused = true)]
async fn a_job_timeout_works_without_a_pool_default() {
    let probe = Probe::new();
    let pool = pool(&probe, 2);
    let limit = Duration::from_millis(250);
    let jobs = [
        script("forever", &["hang"]).timeout(limit),
        script("quick", &[]),
    ];
    let results = within(pool.run_all(jobs)).await.unwrap();

    assert!(results[0].timed_out(), "{}", results[0].outcome);
    assert_eq!(results[0].time_limit, Some(limit));
    assert_eq!(results[0].attempts, 1);
    assert!(results[1].success());
    assert_eq!(results[1].time_limit, None);
    assert_eq!(probe.cancelled_names(), ["forever"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_limit_and_kill_grace_reach_the_spawner() {
    for pool_timeout in [None, Some(Duration::from_secs(60))] {
        let probe = Probe::new();
        let mut builder = builder(2)
            .output_limit(1000)
            .kill_grace(Duration::from_millis(7));
        if let Some(limit) = pool_timeout {
            builder = builder.timeout(limit);
        }
        let pool = builder.build(probe.spawner()).unwrap();
        let jobs = [
            script("default", &["ctx"]),
            script("own", &["ctx"]).output_limit(5),
        ];
        let results = within(pool.run_all(jobs)).await.unwrap();
        let seen: Vec<_> = results.iter().map(JobResult::stdout_lossy).collect();
        assert_eq!(
            seen,
            ["limit=1000 grace=7ms", "limit=5 grace=7ms"],
            "with pool timeout {pool_timeout:?}"
        );
    }
}

// ----- hooks and panics -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_complete_and_on_error_run_once_per_job_before_run_all_returns() {
    let probe = Probe::new();
    let completed: Log<JobId> = Log::default();
    let errors: Log<JobId> = Log::default();
    let pool = {
        let (completed, errors) = (Arc::clone(&completed), Arc::clone(&errors));
        builder(3)
            .on_complete(move |result| completed.lock().unwrap().push(result.id))
            .on_error(move |result| errors.lock().unwrap().push(result.id))
            .build(probe.spawner())
            .unwrap()
    };
    let jobs = (0..24).map(|i| match i % 4 {
        0 => script("ok", &["out:ok"]),
        1 => script("exit", &["exit:2"]),
        2 => script("spawn", &["spawn-error"]),
        _ => script("panic", &["panic"]),
    });
    let results = within(pool.run_all(jobs)).await.unwrap();

    let sorted = |mut ids: Vec<JobId>| {
        ids.sort();
        ids
    };
    let all = sorted(results.iter().map(|r| r.id).collect());
    let failed = sorted(
        results
            .iter()
            .filter(|r| !r.success())
            .map(|r| r.id)
            .collect(),
    );
    assert_eq!(failed.len(), 18);
    assert_eq!(sorted(read(&completed)), all);
    assert_eq!(sorted(read(&errors)), failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_hooks_lose_no_result_and_the_pool_goes_on() {
    let probe = Probe::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let pool = {
        let (on_start, on_complete, on_error) =
            (Arc::clone(&calls), Arc::clone(&calls), Arc::clone(&calls));
        builder(2)
            .on_start(move |_| {
                on_start.fetch_add(1, SeqCst);
                panic!("on_start hook panics");
            })
            .on_complete(move |_| {
                on_complete.fetch_add(1, SeqCst);
                panic!("on_complete hook panics");
            })
            .on_error(move |_| {
                on_error.fetch_add(1, SeqCst);
                panic!("on_error hook panics");
            })
            .build(probe.spawner())
            .unwrap()
    };
    let jobs = (0..20).map(|i| {
        let out = format!("out:{i}");
        if i % 5 == 0 {
            script("fails", &[&out, "exit:1"])
        } else {
            script("ok", &[&out])
        }
    });
    let results = within(pool.run_all(jobs)).await.unwrap();

    assert_eq!(results.len(), 20);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result.stdout_lossy(), i.to_string());
        assert_eq!(result.success(), i % 5 != 0, "{}", result.outcome);
    }
    // Each job: on_start and on_complete, and on_error for the four failures.
    assert_eq!(calls.load(SeqCst), 20 + 20 + 4);

    // The pool still runs jobs, at full concurrency: two jobs that wait for each other both end.
    probe.reset_peak();
    let results = within(pool.run_all([meet_pair(), meet_pair()]))
        .await
        .unwrap();
    assert!(results.iter().all(JobResult::success));
    assert_eq!(probe.peak(), 2);
    let stats = pool.stats();
    assert_eq!((stats.submitted, stats.completed()), (22, 22));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_spawner_fails_only_its_job_and_the_pool_keeps_its_workers() {
    let probe = Probe::new();
    let pool = pool(&probe, 2);
    let jobs = (0..9).map(|i| {
        if i % 3 == 0 {
            script("panics", &["panic"])
        } else {
            script("ok", &[&format!("out:{i}")])
        }
    });
    let results = within(pool.run_all(jobs)).await.unwrap();

    for (i, result) in results.iter().enumerate() {
        if i % 3 == 0 {
            let Outcome::SpawnFailed(error) = &result.outcome else {
                panic!("job {i}: expected SpawnFailed, got {}", result.outcome);
            };
            assert!(error.to_string().contains("panicked"), "{error}");
        } else {
            assert!(result.success(), "job {i}: {}", result.outcome);
            assert_eq!(result.stdout_lossy(), i.to_string());
        }
    }
    assert_eq!(pool.stats().failed, 3);

    // Both workers are still there: two jobs that wait for each other both end.
    probe.reset_peak();
    let results = within(pool.run_all([meet_pair(), meet_pair()]))
        .await
        .unwrap();
    assert!(results.iter().all(JobResult::success));
    assert_eq!(probe.peak(), 2);
}

// ----- batches --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_checked_reports_the_first_failure_in_input_order() {
    let probe = Probe::new();
    let pool = pool(&probe, 4);
    let ok = pool
        .run_all_checked((0..3).map(|i| script("ok", &[&format!("out:{i}")])))
        .await
        .unwrap();
    let outs: Vec<_> = ok.iter().map(JobResult::stdout_lossy).collect();
    assert_eq!(outs, ["0", "1", "2"]);

    // Job 2 fails first in time; job 1 fails later, but comes first in the input.
    let jobs = [
        script("ok", &[]),
        script("late", &["gate:late", "exit:3"]),
        script("early", &["exit:4"]),
        script("ok", &[]),
    ];
    let batch = tokio::spawn({
        let pool = pool.clone();
        async move { pool.run_all_checked(jobs).await }
    });
    probe
        .wait_until("all but `late` have ended", |p| p.ended() == 3 + 3)
        .await;
    probe.open("late");
    let error = within(batch).await.unwrap().unwrap_err();

    assert!(
        matches!(
            &error,
            JobError::ProcessFailed { index: 1, program, exit_code: Some(3), .. } if program == "late"
        ),
        "{error:?}"
    );
    assert_eq!(
        probe.ended(),
        3 + 4,
        "every job of the batch ran to its end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_fail_fast_cancels_the_rest_and_returns_the_first_failure() {
    let probe = Probe::new();
    let outcomes: Log<(usize, Outcome)> = Log::default();
    let pool = {
        let outcomes = Arc::clone(&outcomes);
        builder(2)
            .on_complete(move |r| outcomes.lock().unwrap().push((r.index, r.outcome.clone())))
            .build(probe.spawner())
            .unwrap()
    };
    let jobs = [
        script("running", &["hang"]),
        script("fails", &["gate:go", "exit:5"]),
        script("queued-2", &["hang"]),
        script("queued-3", &["hang"]),
        script("queued-4", &["hang"]),
    ];
    let batch = tokio::spawn({
        let pool = pool.clone();
        async move { pool.run_all_fail_fast(jobs).await }
    });
    probe.wait_until("two jobs run", |p| p.started() == 2).await;
    probe.open("go");
    let error = within(batch).await.unwrap().unwrap_err();

    assert!(
        matches!(
            &error,
            JobError::ProcessFailed {
                index: 1,
                exit_code: Some(5),
                ..
            }
        ),
        "{error:?}"
    );
    // Everything was stopped and reaped before the batch returned.
    assert_eq!(probe.running(), 0);
    let mut outcomes = read(&outcomes);
    outcomes.sort_by_key(|(index, _)| *index);
    // The batch keeps at most 2 × 2 workers of its jobs in the pool: job 4 was still waiting
    // to be submitted at the failure, and never was.
    assert_eq!(
        outcomes.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    for (index, outcome) in &outcomes {
        if *index == 1 {
            assert!(matches!(outcome, Outcome::Exited(5)), "{outcome}");
        } else {
            assert!(
                matches!(outcome, Outcome::Cancelled),
                "job {index}: {outcome}"
            );
        }
    }
    // The running job was told to stop, and so was any queued job that got a worker before its
    // cancel reached it: every job that started, but the failed one.
    let cancelled = probe.cancelled_names();
    assert!(cancelled.contains(&"running".to_owned()), "{cancelled:?}");
    assert_eq!(probe.started(), cancelled.len() + 1, "{cancelled:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_over_an_endless_iterator_submits_only_a_window() {
    let probe = Probe::new();
    let pool = pool(&probe, 2);
    let endless = (0..).map(|i| script(&format!("job-{i}"), &[]));
    let mut results = pool.stream(endless);
    for _ in 0..5 {
        assert!(within(results.next()).await.unwrap().unwrap().success());
    }
    let submitted = pool.stats().submitted;
    assert!(
        submitted <= 5 + 2 * 2,
        "{submitted} jobs submitted for 5 results taken with 2 workers"
    );
    drop(results);
    within(pool.drain()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_on_a_bounded_queue_stops_submitting_at_the_first_failure() {
    let probe = Probe::new();
    let pool = builder(1).queue_capacity(1).build(probe.spawner()).unwrap();
    let mut jobs = vec![script("fails", &["exit:3"])];
    jobs.extend((0..30).map(|i| script(&format!("later-{i}"), &["yield:1"])));
    let outcome = within(pool.run_all_fail_fast(jobs)).await;
    assert!(
        matches!(
            outcome,
            Err(JobError::ProcessFailed {
                index: 0,
                exit_code: Some(3),
                ..
            })
        ),
        "{outcome:?}"
    );
    let ran = probe.started();
    assert!(
        ran <= 4,
        "{ran} jobs ran after the first failure of a fail-fast batch"
    );
    within(pool.drain()).await;
    assert_eq!(pool.stats().running, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_yields_results_in_completion_order_each_index_once() {
    let probe = Probe::new();
    let pool = pool(&probe, 2);
    let jobs = vec![
        script("slow", &["gate:slow", "out:slow"]),
        script("fast", &["out:fast"]),
        script("faster", &["out:faster"]),
    ];
    let mut stream = pool.stream(jobs);
    let mut next = async || {
        let item = within(stream.next()).await.expect("one more result");
        item.expect("the job was accepted")
    };

    let first = next().await;
    let second = next().await;
    assert_eq!((first.index, first.stdout_lossy()), (1, "fast".into()));
    assert_eq!((second.index, second.stdout_lossy()), (2, "faster".into()));
    probe.open("slow");
    let third = next().await;
    assert_eq!((third.index, third.stdout_lossy()), (0, "slow".into()));
    assert!(within(stream.next()).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_stream_cancels_its_jobs() {
    let probe = Probe::new();
    let pool = pool(&probe, 2);
    let jobs: Vec<_> = (0..3)
        .map(|i| script(&format!("h{i}"), &["hang"]))
        .collect();
    let mut stream = pool.stream(jobs);
    // The first poll submits the jobs; none of them can end.
    assert!(stream.next().now_or_never().is_none());
    probe.wait_until("two jobs run", |p| p.started() == 2).await;
    drop(stream);
    within(pool.drain()).await;

    let stats = pool.stats();
    assert_eq!((stats.submitted, stats.cancelled), (3, 3));
    assert_eq!(probe.running(), 0);
    assert_eq!(
        probe.cancelled_names().len(),
        probe.started(),
        "every job that started was told to stop"
    );
}

// ----- bounded queue, close, drain, shutdown --------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_bounded_queue_refuses_try_submit_and_makes_submit_wait() {
    let probe = Probe::new();
    let pool = builder(1).queue_capacity(2).build(probe.spawner()).unwrap();
    let blocker = block_the_worker(&pool, &probe).await;
    let a = pool.try_submit(script("a", &[])).unwrap();
    let b = pool.try_submit(script("b", &[])).unwrap();
    match pool.try_submit(script("c", &[])) {
        Err(JobError::QueueFull { capacity }) => assert_eq!(capacity, 2),
        other => panic!("expected QueueFull, got {other:?}"),
    }

    let mut waiting = pin!(pool.submit(script("d", &[])));
    assert!(poll!(waiting.as_mut()).is_pending(), "submit did not wait");
    probe.open("blocker");
    let d = within(waiting).await.unwrap();

    for handle in [blocker, a, b, d] {
        assert!(within(handle).await.success());
    }
    assert_eq!(probe.start_order(), ["blocker", "a", "b", "d"]);
    assert_eq!(pool.stats().submitted, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_closed_while_waiting_for_room_fails_and_leaves_nothing_behind() {
    let probe = Probe::new();
    let pool = builder(1).queue_capacity(1).build(probe.spawner()).unwrap();
    let blocker = block_the_worker(&pool, &probe).await;
    // "a" takes the one place in the queue; the batch then waits for room for "b".
    let jobs = ["a", "b", "c"].map(|name| script(name, &[]));
    let mut batch = pin!(pool.run_all(jobs));
    assert!(poll!(batch.as_mut()).is_pending());
    assert_eq!(pool.queue_len(), 1);

    pool.close();
    let outcome = within(batch).await;
    assert!(matches!(outcome, Err(JobError::PoolClosed)), "{outcome:?}");
    assert_eq!(pool.queue_len(), 0, "the batch's queued job was taken back");
    probe.open("blocker");
    assert!(within(blocker).await.success());
    assert_eq!(
        probe.start_order(),
        ["blocker"],
        "no job of the failed batch ran"
    );
    let stats = pool.stats();
    assert_eq!((stats.submitted, stats.cancelled), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_refuses_new_jobs_and_wakes_waiting_submitters() {
    let probe = Probe::new();
    let pool = builder(1).queue_capacity(1).build(probe.spawner()).unwrap();
    let blocker = block_the_worker(&pool, &probe).await;
    let queued = pool.submit(script("queued", &[])).await.unwrap();
    let mut waiting = pin!(pool.submit(script("waiting", &[])));
    assert!(poll!(waiting.as_mut()).is_pending());

    pool.close();
    assert!(pool.is_closed());
    assert!(matches!(within(waiting).await, Err(JobError::PoolClosed)));
    assert!(matches!(
        pool.try_submit(script("late", &[])),
        Err(JobError::PoolClosed)
    ));
    assert!(matches!(
        pool.submit(script("late", &[])).await,
        Err(JobError::PoolClosed)
    ));
    assert!(matches!(
        pool.run_all([script("late", &[])]).await,
        Err(JobError::PoolClosed)
    ));

    // The accepted jobs go on.
    probe.open("blocker");
    assert!(within(blocker).await.success());
    assert!(within(queued).await.success());
    assert_eq!(probe.start_order(), ["blocker", "queued"]);
    let stats = pool.stats();
    assert_eq!((stats.submitted, stats.completed()), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_waits_for_every_job_and_keeps_the_pool_open() {
    let probe = Probe::new();
    let pool = pool(&probe, 2);
    let mut handles = Vec::new();
    for i in 0..6 {
        let job = script("job", &["gate:g", &format!("out:{i}")]);
        handles.push(pool.submit(job).await.unwrap());
    }
    let mut drain = pin!(pool.drain());
    assert!(poll!(drain.as_mut()).is_pending(), "drain did not wait");
    probe.open("g");
    within(drain).await;

    assert_eq!(pool.stats().completed(), 6);
    for (i, handle) in handles.into_iter().enumerate() {
        let result = handle
            .now_or_never()
            .expect("answered before drain returned");
        assert_eq!(result.stdout_lossy(), i.to_string());
    }
    assert!(!pool.is_closed());
    let after = pool.submit(script("after", &[])).await.unwrap();
    assert!(within(after).await.success());
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_jobs_finish_within_grace_then_cancels_the_rest() {
    let probe = Probe::new();
    let answered: Log<JobId> = Log::default();
    let pool = {
        let answered = Arc::clone(&answered);
        builder(2)
            .on_complete(move |r| answered.lock().unwrap().push(r.id))
            .build(probe.spawner())
            .unwrap()
    };
    let jobs = [
        script("finishes", &["gate:finish"]),
        script("running", &["hang"]),
        script("queued-hang", &["hang"]),
        script("queued", &[]),
        script("queued-late", &["hang"]),
    ];
    let mut handles = Vec::new();
    for job in jobs {
        handles.push(pool.submit(job).await.unwrap());
    }
    probe.wait_until("two jobs run", |p| p.started() == 2).await;

    let grace = Duration::from_secs(5);
    let began = Instant::now();
    let mut shutdown = pin!(pool.shutdown(grace));
    assert!(poll!(shutdown.as_mut()).is_pending());
    assert!(pool.is_closed());
    // `finishes` ends within the grace; its worker then starts `queued-hang`.
    probe.open("finish");
    let stats = within(shutdown).await;
    assert!(began.elapsed() >= grace);

    let mut results = Vec::new();
    for handle in handles {
        results.push(within(handle).await);
    }
    assert!(results[0].success(), "{}", results[0].outcome);
    for result in &results[1..] {
        assert!(result.cancelled(), "{}: {}", result.program, result.outcome);
    }
    assert_eq!(probe.cancelled_names(), ["queued-hang", "running"]);
    let mut started = probe.start_order();
    started.sort();
    assert_eq!(started, ["finishes", "queued-hang", "running"]);
    assert_eq!(probe.running(), 0);

    // Exactly one result per job, and counters that add up.
    let mut ids: Vec<_> = results.iter().map(|r| r.id).collect();
    let mut hooked = read(&answered);
    ids.sort();
    hooked.sort();
    assert_eq!(hooked, ids);
    assert_eq!(stats.submitted, 5);
    assert_eq!(stats.completed(), 5);
    assert_eq!((stats.succeeded, stats.cancelled), (1, 4));
    assert_eq!((stats.running, stats.queued), (0, 0));
    assert!(matches!(
        pool.submit(script("late", &[])).await,
        Err(JobError::PoolClosed)
    ));
}

// ----- invalid input --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_job_fails_its_batch_before_anything_starts() {
    let probe = Probe::new();
    let pool = pool(&probe, 2);
    let batches = [
        (
            vec![script("ok", &[]), script("ok", &[]), Job::new("")],
            "job 2",
        ),
        (
            vec![
                script("ok", &[]),
                script("zero", &[]).timeout(Duration::ZERO),
            ],
            "job 1",
        ),
    ];
    for (jobs, named) in batches {
        match pool.run_all(jobs).await {
            Err(JobError::InvalidJob { reason }) => assert!(reason.contains(named), "{reason}"),
            other => panic!("expected InvalidJob, got {other:?}"),
        }
    }
    assert!(matches!(
        pool.submit(Job::new("")).await,
        Err(JobError::InvalidJob { .. })
    ));
    assert!(matches!(
        pool.try_submit(Job::new("")),
        Err(JobError::InvalidJob { .. })
    ));
    assert_eq!(pool.stats().submitted, 0);
    assert_eq!(probe.started(), 0);

    let results = within(pool.run_all([script("ok", &[])])).await.unwrap();
    assert!(results[0].success());
}

#[tokio::test]
async fn zero_workers_or_zero_queue_capacity_is_a_config_error() {
    let probe = Probe::new();
    assert_eq!(
        ProcessPool::new(probe.spawner(), 0).unwrap_err(),
        ConfigError::ZeroWorkers
    );
    assert_eq!(
        builder(0).build(probe.spawner()).unwrap_err(),
        ConfigError::ZeroWorkers
    );
    assert_eq!(
        builder(2)
            .queue_capacity(0)
            .build(probe.spawner())
            .unwrap_err(),
        ConfigError::ZeroQueueCapacity
    );
}

#[test]
fn building_outside_a_runtime_is_a_config_error() {
    let probe = Probe::new();
    assert_eq!(
        ProcessPool::new(probe.spawner(), 2).unwrap_err(),
        ConfigError::NoRuntime
    );
}

// ----- stress ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_jobs_with_random_cancels_each_get_exactly_one_result() {
    const JOBS: usize = 20_000;
    let probe = Probe::new();
    let answered: Log<JobId> = Log::default();
    let pool = {
        let answered = Arc::clone(&answered);
        builder(2)
            .on_complete(move |r| answered.lock().unwrap().push(r.id))
            .build(probe.spawner())
            .unwrap()
    };
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut handles = Vec::with_capacity(JOBS);
    for i in 0..JOBS {
        let name = format!("s{i}");
        let job = match rng.below(4) {
            0 => script(&name, &["fail-first:1"]).retry(RetryPolicy::attempts(2)),
            1 => script(&name, &["exit:3"]),
            _ => script(&name, &[&format!("yield:{}", rng.below(3))]),
        };
        handles.push(pool.submit(job).await.unwrap());
        if rng.below(3) == 0 {
            handles[rng.below(i + 1)].cancel();
        }
    }
    let ids: Vec<JobId> = handles.iter().map(JobHandle::id).collect();
    let results = tokio::time::timeout(Duration::from_secs(120), async {
        let mut results = Vec::with_capacity(JOBS);
        for handle in handles {
            results.push(handle.await);
        }
        results
    })
    .await
    .expect("every job answered in time");

    let result_ids: Vec<JobId> = results.iter().map(|r| r.id).collect();
    assert_eq!(result_ids, ids, "each handle got its own job's result");
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        JOBS,
        "ids are unique"
    );
    let mut hooked = read(&answered);
    hooked.sort();
    let mut sorted_ids = ids.clone();
    sorted_ids.sort();
    assert_eq!(hooked, sorted_ids, "on_complete saw each job exactly once");

    let stats = pool.stats();
    let count = |keep: fn(&JobResult) -> bool| results.iter().filter(|r| keep(r)).count() as u64;
    assert_eq!(stats.submitted, JOBS as u64);
    assert_eq!(stats.completed(), stats.submitted);
    assert_eq!(stats.cancelled, count(JobResult::cancelled));
    assert_eq!(stats.succeeded, count(JobResult::success));
    assert!(stats.cancelled > 0, "the cancels did something");
    assert_eq!((stats.running, stats.queued), (0, 0));
    assert_eq!(stats.attempts, probe.started() as u64);
    assert_eq!(probe.running(), 0);
}

/// Records when each attempt's job was submitted, as its context tells.
#[derive(Debug, Default, Clone)]
struct SubmittedAt(Arc<Mutex<Vec<std::time::Instant>>>);

#[async_trait]
impl Spawner for SubmittedAt {
    async fn spawn(&self, job: &Job, ctx: &RunContext) -> io::Result<Exit> {
        self.0.lock().unwrap().push(ctx.submitted_at());
        let fail = job.get_args().first().is_some_and(|a| a == "fail");
        Ok(Exit::new(ExitStatus::Code(i32::from(fail))))
    }
}

#[tokio::test]
async fn an_attempt_knows_when_its_job_was_submitted_even_when_retried() {
    let seen = SubmittedAt::default();
    let pool = builder(1)
        .retry(RetryPolicy::attempts(2).backoff(Backoff::fixed(Duration::from_millis(5))))
        .build(seen.clone())
        .unwrap();
    let before = std::time::Instant::now();
    let results = within(pool.run_all([Job::new("ok"), Job::new("x").arg("fail")])).await;
    let between = std::time::Instant::now();
    within(pool.run_all([Job::new("later")])).await.unwrap();
    assert_eq!(results.unwrap()[1].attempts, 2);

    let seen = seen.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "two jobs, one of them twice, then one more");
    for submitted in &seen[..3] {
        assert!(*submitted >= before && *submitted <= between);
    }
    assert_eq!(seen[1], seen[2], "a retry keeps its job's submission time");
    assert!(seen[3] >= between, "a later batch is submitted later");
}

// ----- pause, resume, and the time statistics -------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_pool_queues_jobs_until_resumed_and_lets_running_ones_finish() {
    let probe = Probe::new();
    let pool = pool(&probe, 2);
    let blocker = block_the_worker(&pool, &probe).await;
    pool.pause();
    let mut handles = Vec::new();
    for name in ["a", "b", "c"] {
        handles.push(pool.submit(script(name, &[])).await.unwrap());
    }
    // A worker is free, yet nothing starts.
    let stats = pool.stats();
    assert_eq!((stats.running, stats.queued, stats.paused), (1, 3, true));
    // The running job is not disturbed.
    probe.open("blocker");
    assert!(within(blocker).await.success());
    assert_eq!(pool.stats().queued, 3);
    pool.resume();
    for handle in handles {
        assert!(within(handle).await.success());
    }
    // Two workers: a, b and c start in some order, all after the blocker.
    let order = probe.start_order();
    assert_eq!(order[0], "blocker");
    let mut rest = order[1..].to_vec();
    rest.sort();
    assert_eq!(rest, ["a", "b", "c"]);
    let stats = pool.stats();
    assert!(!stats.paused);
    assert_eq!((stats.wait.count, stats.run.count), (4, 4));
}

#[tokio::test(start_paused = true)]
async fn pause_for_resumes_after_its_time_unless_overtaken() {
    let probe = Probe::new();
    let pool = pool(&probe, 1);
    pool.pause_for(Duration::from_secs(3));
    let started = tokio::time::Instant::now();
    let handle = pool.submit(script("later", &[])).await.unwrap();
    assert!(within(handle).await.success());
    assert!(started.elapsed() >= Duration::from_secs(3));
    // Counted once each (the times themselves are wall-clock, not the test's paused clock).
    let stats = pool.stats();
    assert_eq!((stats.wait.count, stats.run.count), (1, 1));

    // A pause after a timed one: the timer does not end it.
    pool.pause_for(Duration::from_secs(1));
    pool.pause();
    let held = pool.submit(script("held", &[])).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        pool.stats().queued,
        1,
        "still paused after the timed pause ran out"
    );
    pool.resume();
    assert!(within(held).await.success());
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_hint_pauses_dispatch_before_the_retry() {
    let probe = Probe::new();
    let pool = builder(2)
        .retry(RetryPolicy::attempts(3))
        .pause_when(|result| (result.exit_code() == Some(1)).then_some(Duration::from_secs(3)))
        .build(probe.spawner())
        .unwrap();
    let started = tokio::time::Instant::now();
    let results = within(pool.run_all([
        script("limited", &["fail-first:1", "out:done"]),
        script("other", &["out:fine"]),
    ]))
    .await
    .unwrap();
    assert!(results[0].success() && results[1].success());
    assert_eq!(results[0].attempts, 2);
    // The retry waited out the pause the failed attempt asked for.
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert!(!pool.stats().paused);
}
