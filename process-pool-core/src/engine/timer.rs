//! [`Timer`]: the one mechanism behind every delayed action of a pool: an attempt's timeout,
//! the end of a retry's backoff, the end of a timed pause, a kill after a grace. An attempt's
//! timeout is a [`Deadline`] on a timer, which its backend may hold while it does work that is
//! not the job's.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// An action that runs after a delay on the pool's runtime, unless the timer is cancelled or
/// dropped first. A fired timer's action has run (or is running); dropping it then does
/// nothing.
#[derive(Debug)]
#[must_use = "dropping a timer cancels it; call `detach` to let it run"]
pub(crate) struct Timer(Option<AbortHandle>);

impl Timer {
    /// Runs `action` after `delay`.
    pub(crate) fn start(
        runtime: &Handle,
        delay: Duration,
        action: impl FnOnce() + Send + 'static,
    ) -> Timer {
        Timer::until(runtime, tokio::time::sleep(delay), action)
    }

    /// Runs `action` once `moment` completes.
    fn until(
        runtime: &Handle,
        moment: impl Future<Output = ()> + Send + 'static,
        action: impl FnOnce() + Send + 'static,
    ) -> Timer {
        let task = runtime.spawn(async move {
            moment.await;
            action();
        });
        Timer(Some(task.abort_handle()))
    }

    /// Cancels `attempt` once `deadline` has passed, its holds not counted.
    pub(crate) fn expire(
        runtime: &Handle,
        deadline: Arc<Deadline>,
        attempt: CancellationToken,
    ) -> Timer {
        let passed = Arc::clone(&deadline);
        Timer::until(runtime, async move { passed.passed().await }, move || {
            // Only a limit that stops the attempt is said to have expired: one that passes
            // while the attempt is already being stopped (a cancel) is not its cause.
            if !attempt.is_cancelled() {
                deadline
                    .expired
                    .store(true, std::sync::atomic::Ordering::Release);
                attempt.cancel();
            }
        })
    }

    /// Runs `action` on `pool` after `delay`, if the pool is still there then: a timer never
    /// keeps a pool alive.
    pub(crate) fn on<P: Send + Sync + 'static>(
        runtime: &Handle,
        pool: &Arc<P>,
        delay: Duration,
        action: impl FnOnce(&Arc<P>) + Send + 'static,
    ) -> Timer {
        let pool: Weak<P> = Arc::downgrade(pool);
        Timer::start(runtime, delay, move || {
            if let Some(pool) = pool.upgrade() {
                action(&pool);
            }
        })
    }

    /// Lets the timer run to its end even when this value is dropped.
    pub(crate) fn detach(mut self) {
        self.0 = None;
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// An attempt's time limit, which the backend may hold (see
/// [`RunContext::hold_timeout`](crate::backend::RunContext::hold_timeout)): time spent while it
/// is held does not count.
#[derive(Debug)]
pub(crate) struct Deadline {
    limit: Duration,
    started: Instant,
    held: Mutex<Held>,
    released: Notify,
    /// Set once the limit has passed (before the attempt is cancelled for it).
    expired: std::sync::atomic::AtomicBool,
}

/// The holds on a deadline.
#[derive(Debug, Default)]
struct Held {
    /// Holds alive now.
    active: usize,
    /// When the first of them began.
    since: Option<Instant>,
    /// Time held before, in all.
    total: Duration,
}

impl Deadline {
    /// A limit starting now.
    pub(crate) fn new(limit: Duration) -> Arc<Deadline> {
        Arc::new(Deadline {
            limit,
            started: Instant::now(),
            held: Mutex::default(),
            released: Notify::new(),
            expired: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the limit has passed and the attempt was stopped for it.
    pub(crate) fn expired(&self) -> bool {
        self.expired.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Begins a hold.
    pub(crate) fn hold(&self) {
        let mut held = self.held();
        if held.active == 0 {
            held.since = Some(Instant::now());
        }
        held.active += 1;
    }

    /// Ends a hold.
    pub(crate) fn release(&self) {
        let mut held = self.held();
        held.active -= 1;
        if held.active == 0 {
            let since = held.since.take().unwrap_or_else(Instant::now);
            held.total += since.elapsed();
            drop(held);
            self.released.notify_waiters();
        }
    }

    /// Completes once the limit has passed, time held not counted.
    async fn passed(&self) {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let (active, total) = {
                let held = self.held();
                (held.active, held.total)
            };
            if active > 0 {
                released.await;
                continue;
            }
            let deadline = self.started + self.limit + total;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_timer_fires_after_its_delay_unless_dropped() {
        let fired = Arc::new(AtomicUsize::new(0));
        let runtime = Handle::current();
        let count = |n: usize| {
            let fired = Arc::clone(&fired);
            move || {
                fired.fetch_add(n, Ordering::SeqCst);
            }
        };
        Timer::start(&runtime, Duration::from_secs(1), count(1)).detach();
        let dropped = Timer::start(&runtime, Duration::from_secs(1), count(10));
        drop(dropped);
        let _kept = Timer::start(&runtime, Duration::from_secs(3), count(100));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(fired.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(fired.load(Ordering::SeqCst), 101);
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_deadline_does_not_count_the_time_held() {
        let deadline = Deadline::new(Duration::from_secs(10));
        let attempt = CancellationToken::new();
        let _timer = Timer::expire(&Handle::current(), Arc::clone(&deadline), attempt.clone());
        tokio::time::sleep(Duration::from_secs(4)).await;
        deadline.hold();
        deadline.hold();
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!attempt.is_cancelled(), "held");
        deadline.release();
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!attempt.is_cancelled(), "still held once");
        deadline.release();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!attempt.is_cancelled(), "4 s + 5 s counted of 10");
        tokio::time::sleep(Duration::from_millis(1001)).await;
        assert!(attempt.is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_on_a_pool_that_is_gone_does_nothing() {
        let pool = Arc::new(AtomicUsize::new(0));
        Timer::on(&Handle::current(), &pool, Duration::from_secs(1), |p| {
            p.fetch_add(1, Ordering::SeqCst);
        })
        .detach();
        let weak = Arc::downgrade(&pool);
        drop(pool);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(weak.upgrade().is_none());
    }
}
