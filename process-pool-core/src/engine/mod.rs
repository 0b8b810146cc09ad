//! The engine both pools run on, each piece written once: the priority [`queue`], the
//! answer-exactly-once [`ticket`], the [`retry`] policy and its decision, [`Pause`] with its
//! timed end, the [`timer`] behind every deadline, the [`Life`] of a pool from open to stopped
//! and its [`shutdown`], the [`tally`] of what was done, and [`hooks`] that contain user
//! callbacks.
//!
//! A pool keeps a [`Core`] under its lock, beside what is its own (the job pool's worker slots,
//! the worker pool's workers), and implements [`Engine`] so that the shared steps (a timed
//! pause ending, a retry's backoff ending, a shutdown) can reach it.

pub(crate) mod hooks;
pub(crate) mod latency;
pub(crate) mod lifecycle;
pub(crate) mod options;
pub(crate) mod queue;
pub(crate) mod retry;
pub(crate) mod tally;
pub(crate) mod ticket;
pub(crate) mod timer;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use tokio::runtime::Handle;

use self::queue::{Queue, QueueKey};
use self::tally::{End, Tally};
use self::ticket::Pending;
use self::timer::Timer;

/// Where a pool is in its life: it takes work while open; once closed it takes no more but
/// finishes what it has; once stopped it starts nothing and everything left is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Life {
    #[default]
    Open,
    Closed,
    Stopped,
}

/// Dispatch paused or not, and the epoch that lets a timed pause end only if nothing came
/// after it.
#[derive(Debug, Default)]
pub(crate) struct Pause {
    paused: bool,
    epoch: u64,
}

impl Pause {
    pub(crate) fn is_paused(&self) -> bool {
        self.paused
    }

    /// Pauses or resumes; returns the epoch of this change.
    pub(crate) fn set(&mut self, paused: bool) -> u64 {
        self.paused = paused;
        self.epoch += 1;
        self.epoch
    }

    /// Ends the timed pause that `epoch` began, unless a pause or resume came after it;
    /// whether it ended it.
    fn expire(&mut self, epoch: u64) -> bool {
        if self.epoch != epoch {
            return false;
        }
        self.set(false);
        true
    }
}

/// Something waiting in a pool's queue: it knows its place.
pub(crate) trait Queued: Send + 'static {
    fn key(&self) -> QueueKey;
}

/// What both pools keep under their lock.
#[derive(Debug)]
pub(crate) struct Core<T> {
    pub(crate) queue: Queue<T>,
    /// Work waiting out a retry's backoff, by id, with the timer that puts it back in line.
    waiting: HashMap<u64, (T, Timer)>,
    pub(crate) pause: Pause,
    pub(crate) life: Life,
    pub(crate) tally: Tally,
}

impl<T> Default for Core<T> {
    fn default() -> Self {
        Core {
            queue: Queue::new(),
            waiting: HashMap::new(),
            pause: Pause::default(),
            life: Life::Open,
            tally: Tally::default(),
        }
    }
}

impl<T: Queued> Core<T> {
    /// Whether new work is taken.
    pub(crate) fn is_open(&self) -> bool {
        self.life == Life::Open
    }

    /// Whether queued work may start now.
    pub(crate) fn may_dispatch(&self) -> bool {
        self.life != Life::Stopped && !self.pause.is_paused()
    }

    /// Refuses new work from now on.
    pub(crate) fn close(&mut self) {
        if self.life == Life::Open {
            self.life = Life::Closed;
        }
    }

    /// (Queued, waiting to retry) now.
    pub(crate) fn lengths(&self) -> (usize, usize) {
        (self.queue.len(), self.waiting.len())
    }

    /// Takes work waiting out its backoff out of the wait (a cancel), its timer stopped.
    pub(crate) fn take_waiting(&mut self, id: u64) -> Option<T> {
        self.waiting.remove(&id).map(|(item, _timer)| item)
    }

    /// Takes everything queued or waiting to retry, counted as cancelled, for the caller to
    /// answer outside the lock; what runs goes on.
    pub(crate) fn take_queued(&mut self) -> Vec<T> {
        let mut left = self.queue.take_all();
        left.extend(self.waiting.drain().map(|(_, (item, _timer))| item));
        for _ in &left {
            self.tally.ended(End::Cancelled);
        }
        left
    }

    /// Stops the pool: nothing starts any more; returns everything queued or waiting to retry,
    /// as [`take_queued`](Self::take_queued) does.
    pub(crate) fn stop(&mut self) -> Vec<T> {
        self.life = Life::Stopped;
        self.take_queued()
    }
}

/// A pool, as the shared steps of the engine see it.
pub(crate) trait Engine: Send + Sync + Sized + 'static {
    /// What waits in the queue.
    type Item: Queued;
    /// Everything under the pool's lock, a [`Core`] among it.
    type State: Send;

    fn lock(&self) -> MutexGuard<'_, Self::State>;
    fn core(state: &mut Self::State) -> &mut Core<Self::Item>;
    fn runtime(&self) -> &Handle;
    /// The count of accepted, unanswered work.
    fn pending(&self) -> &Pending;
    /// Starts what may start now that something changed (a resume, work back in line); takes
    /// the lock so as to let it go before starting anything.
    fn dispatch(self: &Arc<Self>, state: MutexGuard<'_, Self::State>);
    /// Refuses new work from now on.
    fn close(&self);
    /// Answers work that will not run `Cancelled` (the pool has counted it).
    fn cancel(self: &Arc<Self>, items: Vec<Self::Item>);
    /// Stops the pool: cancels everything queued, waiting or running, answering each piece,
    /// and kills what it started.
    fn stop(self: &Arc<Self>);
    /// The counters now.
    fn stats(&self) -> crate::Stats;
    /// Completes once everything the pool started has ended (its workers' processes reaped).
    fn ended(self: &Arc<Self>) -> impl Future<Output = ()> + Send + '_;
}

/// A hold on a pool: the pool lives while one is held (by a clone of the pool, a stream of
/// its results, or the handle of a piece of work), and stops when the last one goes: closed,
/// what is left cancelled and answered, everything it started killed. Work nobody can see any
/// more does not outlive its pool.
#[derive(Debug)]
pub(crate) struct Lease<E: Engine>(Arc<E>);

impl<E: Engine> Lease<E> {
    pub(crate) fn new(pool: &Arc<E>) -> Arc<Self> {
        Arc::new(Lease(Arc::clone(pool)))
    }

    /// The pool held.
    pub(crate) fn pool(&self) -> &Arc<E> {
        &self.0
    }
}

impl<E: Engine> Drop for Lease<E> {
    fn drop(&mut self) {
        self.0.close();
        self.0.stop();
    }
}

/// Pauses or resumes dispatch; a resume starts what waited.
pub(crate) fn set_paused<E: Engine>(pool: &Arc<E>, paused: bool) {
    let mut state = pool.lock();
    E::core(&mut state).pause.set(paused);
    if !paused {
        pool.dispatch(state);
    }
}

/// Pauses dispatch for `time`, then resumes it, unless a pause or resume came meanwhile: the
/// latest one decides.
pub(crate) fn pause_for<E: Engine>(pool: &Arc<E>, state: &mut E::State, time: Duration) {
    let epoch = E::core(state).pause.set(true);
    Timer::on(pool.runtime(), pool, time, move |pool: &Arc<E>| {
        let mut state = pool.lock();
        if E::core(&mut state).pause.expire(epoch) {
            pool.dispatch(state);
        }
    })
    .detach();
}

/// Holds `item` (work `id`) out of the queue for `delay`, then puts it back in line, holding
/// no worker meanwhile; a cancel takes it out with [`Core::take_waiting`]. Called under the
/// lock, so the timer, which takes the lock, always finds it waiting.
pub(crate) fn retry_after<E: Engine>(
    pool: &Arc<E>,
    state: &mut E::State,
    id: u64,
    item: E::Item,
    delay: Duration,
) {
    let timer = Timer::on(pool.runtime(), pool, delay, move |pool: &Arc<E>| {
        let mut state = pool.lock();
        let core = E::core(&mut state);
        if let Some((item, timer)) = core.waiting.remove(&id) {
            timer.detach();
            core.queue.push(item.key(), item);
            pool.dispatch(state);
        }
    });
    E::core(state).waiting.insert(id, (item, timer));
}

/// Closes `pool` (the caller has), lets accepted work finish for up to `grace`, then stops it
/// and waits until every piece is answered and everything the pool started has ended.
pub(crate) async fn shutdown<E: Engine>(pool: &Arc<E>, grace: Duration) {
    if tokio::time::timeout(grace, pool.pending().wait_idle())
        .await
        .is_err()
    {
        tracing::debug!(?grace, "shutdown grace over; cancelling what is left");
        pool.stop();
    }
    pool.pending().wait_idle().await;
    pool.ended().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timed_pause_ends_only_if_nothing_came_after_it() {
        let mut pause = Pause::default();
        let epoch = pause.set(true);
        assert!(pause.expire(epoch));
        assert!(!pause.is_paused());
        let timed = pause.set(true);
        pause.set(true);
        assert!(!pause.expire(timed), "a later pause decides");
        assert!(pause.is_paused());
    }
}
