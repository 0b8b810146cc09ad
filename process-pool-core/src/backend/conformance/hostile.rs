//! The hostile-worker suite: a worker that attacks the pool reading it (floods it with
//! frames, sends the largest frames again and again, answers calls never sent or one call
//! thousands of times, mixes valid and invalid frames, sends every call back as `overloaded`,
//! never reads its stdin, writes to stderr without end) is contained. For each attack, in a pool next to another pool whose
//! worker behaves:
//!
//! - the process's memory stays bounded (its peak resident set grows by less than
//!   [`RSS_BOUND`]);
//! - the neighbour's calls are not slowed beyond [`LATENCY_BOUND`] times their median outside
//!   the attack (before and after it);
//! - the hostile worker is killed, and the next one started, within [`KILL_BOUND`];
//! - every call is answered, once: with the reply the worker owed, or a typed error; a
//!   [`CallError::ProtocolError`] names the worker's first violation (nothing it wrote after
//!   that is read).
//!
//! The workers are `guests/src/bin/hostile-worker.rs`, built natively and for WASI, so that
//! both backends face the same attacks. [`contain`] returns the figures it measured.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::HANG_BOUND;
use super::memory::{peak_rss, reset_peak_rss, rss};
use crate::backend::WorkerSpawner;
use crate::{Call, CallError, WorkerPool};

/// The most the process's peak resident set may grow during one attack.
pub const RSS_BOUND: u64 = 256 << 20;
/// The most the neighbour's median call may slow down during an attack, as a ratio (a bound
/// that catches a pool stalled by the attack, not a figure: see the report of each run).
pub const LATENCY_BOUND: f64 = 20.0;
/// The longest a hostile worker may take to be killed, and its successor to start.
pub const KILL_BOUND: Duration = Duration::from_secs(10);

/// How a backend starts `hostile-worker`.
pub trait HostileFixtures: Send + Sync + 'static {
    /// The backend under test.
    type Spawner: WorkerSpawner;

    /// Workers that run `hostile-worker ATTACK` (`echo` for a worker that behaves).
    fn hostile(&self, attack: &str) -> Self::Spawner;
}

/// What one attack cost, as measured.
#[derive(Debug, Clone)]
pub struct Contained {
    /// The attack.
    pub attack: String,
    /// How much the process's peak resident set grew during it, in bytes.
    pub rss_growth: u64,
    /// The neighbour's median call during the attack over its median outside it (the mean
    /// of the medians before and after).
    pub latency_ratio: f64,
    /// From the hostile worker's hello to its death.
    pub killed_after: Duration,
    /// From its death to the hello of the worker that replaced it.
    pub replaced_after: Duration,
    /// Hostile workers killed during the attack.
    pub kills: usize,
    /// Calls made to hostile workers, each answered once.
    pub calls: u64,
    /// How long the attack went on.
    pub lasted: Duration,
}

impl fmt::Display for Contained {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "| {} | {:.1} MiB | {:.2}× | {:.0?} | {:.0?} | {} kills, {} calls in {:.1?} |",
            self.attack,
            self.rss_growth as f64 / f64::from(1 << 20),
            self.latency_ratio,
            self.killed_after,
            self.replaced_after,
            self.kills,
            self.calls,
            self.lasted,
        )
    }
}

/// Attacks run one at a time: each measures the whole process's memory.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The payload of the hostile pool's calls: larger than a pipe's buffer, so that a worker
/// that does not read leaves the pool's write waiting.
const PAYLOAD: usize = 256 << 10;

/// How long the neighbour's calls are timed, before and during the attack.
const MEASURE: Duration = Duration::from_millis(1500);

/// Runs `attack` next to a neighbour that behaves, asserts that it is contained (see the
/// module's documentation), and returns what it cost.
pub async fn contain<F: HostileFixtures>(fixtures: &F, attack: &str) -> Contained {
    let _alone = ONE_AT_A_TIME.lock().await;
    let neighbour = WorkerPool::builder()
        .max_workers(1)
        .min_workers(1)
        .build(fixtures.hostile("echo"))
        .expect("a pool");
    within("the neighbour's start", neighbour.ready())
        .await
        .expect("the neighbour starts");
    let before = median_call(&neighbour).await;

    let events: Arc<Mutex<Vec<(&'static str, Instant)>>> = Arc::default();
    let (on_start, on_crash) = (Arc::clone(&events), Arc::clone(&events));
    // No call timeout, no health check: what ends each hostile worker is the pool's own
    // reading and writing (the write timeout shortened from its 30 s, to keep the test short).
    let hostile = WorkerPool::builder()
        .max_workers(1)
        .max_calls_per_worker(4)
        .write_timeout(Duration::from_secs(1))
        .kill_grace(Duration::from_millis(200))
        .on_worker_start(move |_| lock(&on_start).push(("start", Instant::now())))
        .on_worker_crash(move |_| lock(&on_crash).push(("crash", Instant::now())))
        .build(fixtures.hostile(attack))
        .expect("a pool");

    reset_peak_rss();
    let rss_before = rss().unwrap_or(0);
    let attack_started = Instant::now();
    let payload = Bytes::from(vec![b'p'; PAYLOAD]);
    let attacking = {
        let (hostile, attack) = (hostile.clone(), attack.to_owned());
        tokio::spawn(async move {
            let (mut answered, mut violations) = (0, 0);
            // Calls keep coming (and hostile workers keep starting) while the neighbour is
            // timed, and after: at least two rounds, to see a worker replaced.
            let started = Instant::now();
            while answered < 8 || started.elapsed() < MEASURE {
                let calls = (0..4).map(|_| Call::new("echo", payload.clone()));
                for answer in hostile.call_many(calls).await {
                    // Checked and dropped: the replies are the caller's memory, not the pool's.
                    violations += u64::from(check(&attack, answer, &payload));
                    answered += 1;
                }
            }
            (answered, violations)
        })
    };
    let during = median_call(&neighbour).await;
    let (answered, violations) = within("the hostile calls", attacking)
        .await
        .expect("the attack's task does not panic");
    if first_violation(attack).is_some() {
        assert!(
            violations > 0,
            "{attack}: no call ended by the worker's violation"
        );
    }
    let lasted = attack_started.elapsed();
    let rss_growth = peak_rss().unwrap_or(0).saturating_sub(rss_before);

    let stats = hostile.stats();
    assert_eq!(stats.submitted, answered, "{attack}: {stats:?}");
    assert_eq!(stats.completed(), stats.submitted, "{attack}: {stats:?}");

    let events = lock(&events).clone();
    let kills = events.iter().filter(|(kind, _)| *kind == "crash").count();
    let (killed_after, replaced_after) = kill_and_replace(&events)
        .unwrap_or_else(|| panic!("{attack}: no worker killed and replaced: {events:?}"));
    within(
        "the hostile pool's shutdown",
        hostile.shutdown(Duration::ZERO),
    )
    .await;
    // Timed before and after, so that a machine whose load drifts does not make the figure.
    let after = median_call(&neighbour).await;
    within(
        "the neighbour's shutdown",
        neighbour.shutdown(Duration::ZERO),
    )
    .await;
    let normal = (before + after) / 2;

    let contained = Contained {
        attack: attack.to_owned(),
        rss_growth,
        latency_ratio: during.as_secs_f64() / normal.as_secs_f64().max(1e-9),
        killed_after,
        replaced_after,
        kills,
        calls: answered,
        lasted,
    };
    eprintln!("{contained}");
    assert!(
        contained.rss_growth < RSS_BOUND,
        "{attack}: the process grew by {} MiB",
        contained.rss_growth >> 20
    );
    assert!(
        contained.latency_ratio < LATENCY_BOUND,
        "{attack}: the neighbour's calls slowed {:.1}×",
        contained.latency_ratio
    );
    assert!(
        killed_after < KILL_BOUND && replaced_after < KILL_BOUND,
        "{attack}: killed after {killed_after:?}, replaced after {replaced_after:?}"
    );
    contained
}

/// A hostile call's answer is the reply it was owed, or a typed error saying what happened to
/// its worker; a broken protocol is reported as the worker's first violation. `true` for a
/// [`CallError::ProtocolError`].
fn check(attack: &str, answer: Result<Bytes, CallError>, payload: &Bytes) -> bool {
    match answer {
        Ok(reply) => assert_eq!(reply, *payload, "{attack}: a reply not owed"),
        Err(CallError::ProtocolError { reason, .. }) => {
            let first = first_violation(attack)
                .unwrap_or_else(|| panic!("{attack}: broke no protocol, yet: {reason}"));
            assert!(
                reason.contains(first),
                "{attack}: reported `{reason}`, not its first violation (`{first}`)"
            );
            return true;
        }
        Err(
            CallError::TimedOut { .. }
            | CallError::WorkerCrashed { .. }
            | CallError::WorkerStart { .. },
        ) => {}
        Err(other) => panic!("{attack}: an answer of the wrong kind: {other}"),
    }
    false
}

/// What the first frame that breaks the protocol in `attack` is reported as (`None` for the
/// attacks that break none: they are killed as hung).
fn first_violation(attack: &str) -> Option<&'static str> {
    match attack {
        // The first of its pongs (ping 1 << 40): thousands follow it, none read.
        "flood" => Some("a Pong frame for ping 1099511627776,"),
        "max-frames" => Some("a Reply frame for call 18446744073709551615,"),
        "unsent" | "repeat" => Some("which is not in flight on this worker"),
        "interleave" => Some("unknown frame kind 99"),
        "overloaded" => Some("an overloaded answer to call"),
        _ => None,
    }
}

/// The first hostile worker's time from start to death, and from death to the next start.
fn kill_and_replace(events: &[(&'static str, Instant)]) -> Option<(Duration, Duration)> {
    let start = events.iter().position(|(kind, _)| *kind == "start")?;
    let crash = start
        + events[start..]
            .iter()
            .position(|(kind, _)| *kind == "crash")?;
    let next = crash
        + events[crash..]
            .iter()
            .position(|(kind, _)| *kind == "start")?;
    Some((
        events[crash].1 - events[start].1,
        events[next].1 - events[crash].1,
    ))
}

/// The median time of the neighbour's calls, made one after another for [`MEASURE`].
async fn median_call(pool: &WorkerPool) -> Duration {
    let mut times = Vec::new();
    let started = Instant::now();
    while started.elapsed() < MEASURE {
        let call = Instant::now();
        let reply = within("a neighbour's call", pool.call("echo", "neighbour")).await;
        assert_eq!(reply.expect("the neighbour answers"), "neighbour");
        times.push(call.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG_BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not end within {HANG_BOUND:?}"))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Generates one `#[tokio::test]` per hostile-worker attack, for the fixtures `$fixtures`.
///
/// The calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a dev-dependency.
/// Put them in a test file of their own: each measures the memory of the whole process.
#[macro_export]
macro_rules! hostile_worker_tests {
    ($fixtures:expr) => {
        $crate::hostile_worker_tests!(@each $fixtures;
            flood => "flood",
            max_frames => "max-frames",
            unsent => "unsent",
            repeat => "repeat",
            interleave => "interleave",
            overloaded => "overloaded",
            deaf => "deaf",
            stderr => "stderr",
        );
    };
    (@each $fixtures:expr; $($name:ident => $attack:literal),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::backend::conformance::hostile::contain(&$fixtures, $attack).await;
            }
        )*
    };
}
