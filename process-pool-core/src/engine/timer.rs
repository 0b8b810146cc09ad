//! [`Timer`]: the one mechanism behind every delayed action of a pool: an attempt's timeout,
//! the end of a retry's backoff, the end of a timed pause, a kill after a grace.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::task::AbortHandle;

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
        let task = runtime.spawn(async move {
            tokio::time::sleep(delay).await;
            action();
        });
        Timer(Some(task.abort_handle()))
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
