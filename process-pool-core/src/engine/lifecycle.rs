//! The life of a pool, the same for both: open, closed (no new work, accepted work goes on),
//! stopped (what is left cancelled, what the pool started killed); and the public methods that
//! drive it and its dispatch, written once by `lifecycle_methods!` into both pools.

use std::sync::Arc;

use super::Engine;

/// Answers everything queued or waiting to retry `Cancelled`, leaving what runs alone;
/// returns how many.
pub(crate) fn cancel_queued<E: Engine>(pool: &Arc<E>) -> usize {
    let left = E::core(&mut pool.lock()).take_queued();
    let n = left.len();
    pool.cancel(left);
    n
}

/// Whether `pool` takes new work.
pub(crate) fn is_open<E: Engine>(pool: &E) -> bool {
    E::core(&mut pool.lock()).is_open()
}

/// How much work waits in `pool`'s queue.
pub(crate) fn queue_len<E: Engine>(pool: &E) -> usize {
    E::core(&mut pool.lock()).queue.len()
}

/// Writes the methods of a pool's life and dispatch into a pool type that has an
/// `engine() -> &Arc<impl Engine>`: `close`, `is_closed`, `drain`, `shutdown`,
/// `cancel_queued`, `pause`, `resume`, `pause_for`, `queue_len` and `stats`, documented for
/// `$work` (jobs, calls).
macro_rules! lifecycle_methods {
    ($work:literal) => {
        #[doc = concat!("Refuses new ", $work, " from now on (`PoolClosed`); those accepted go on.")]
        pub fn close(&self) {
            $crate::engine::Engine::close(&**self.engine());
        }

        /// Whether [`close`](Self::close) (or a shutdown) has been called.
        pub fn is_closed(&self) -> bool {
            !$crate::engine::lifecycle::is_open(&**self.engine())
        }

        #[doc = concat!("Waits until every accepted ", $work, " has been answered. The pool stays open.")]
        pub async fn drain(&self) {
            $crate::engine::Engine::pending(&**self.engine())
                .wait_idle()
                .await;
        }

        #[doc = concat!("Closes the pool, lets accepted ", $work, " finish for up to `grace`, then")]
        /// cancels the rest: what is queued is answered `Cancelled` at once, what runs is
        /// stopped (a job's whole process tree; a worker is killed if it does not stop its
        /// call) and answered `Cancelled`. Then everything the pool started ends (its workers
        /// exit, or are killed after the kill grace, a worker still starting at once). Returns
        /// once all of that is done, with the final counters: within about `grace` plus twice
        /// the kill grace, whatever a backend does.
        pub async fn shutdown(&self, grace: std::time::Duration) -> $crate::Stats {
            self.close();
            $crate::engine::shutdown(self.engine(), grace).await;
            self.stats()
        }

        #[doc = concat!("Cancels every one of the ", $work, " that has not started (queued, or")]
        /// waiting out a retry's backoff): each is answered `Cancelled`; what runs goes on, and
        /// the pool stays open. Returns how many were cancelled. (A command-line tool's first
        /// Ctrl-C: start nothing more, let what runs finish.)
        pub fn cancel_queued(&self) -> usize {
            $crate::engine::lifecycle::cancel_queued(self.engine())
        }

        #[doc = concat!("Pauses dispatch: ", $work, " are still accepted and queued, those running")]
        /// go on, but none starts until [`resume`](Self::resume). While paused, `drain` waits.
        pub fn pause(&self) {
            $crate::engine::set_paused(self.engine(), true);
        }

        /// Resumes dispatch after [`pause`](Self::pause): what is queued starts, up to the
        /// limit.
        pub fn resume(&self) {
            $crate::engine::set_paused(self.engine(), false);
        }

        /// Pauses dispatch for `time`, then resumes it (after a rate-limit hint, say), unless a
        /// `pause`, `resume` or `pause_for` came meanwhile: the latest one decides.
        pub fn pause_for(&self, time: std::time::Duration) {
            let engine = self.engine();
            $crate::engine::pause_for(engine, &mut $crate::engine::Engine::lock(&**engine), time);
        }

        #[doc = concat!("How many ", $work, " wait in the queue now.")]
        pub fn queue_len(&self) -> usize {
            $crate::engine::lifecycle::queue_len(&**self.engine())
        }

        #[doc = concat!("A snapshot of the pool's counters of its ", $work, ", in the words both pools share.")]
        pub fn stats(&self) -> $crate::Stats {
            $crate::engine::Engine::stats(&**self.engine())
        }
    };
}

pub(crate) use lifecycle_methods;
