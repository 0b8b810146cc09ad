//! The pool's periodic upkeep: health pings (to every worker, busy or idle), idle scale-down,
//! memory checks.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

use process_pool_protocol::{Frame, Kind};

use super::Shared;
use super::dispatch::check_memory;
use super::state::{Retire, Status};
use crate::engine::Engine;

/// How often memory is looked at when no other period is set.
const MEMORY_PERIOD: Duration = Duration::from_millis(500);

/// Ticks until the pool is stopped or gone.
pub(crate) async fn run(pool: Weak<Shared>) {
    let (period, stopping) = {
        let Some(shared) = pool.upgrade() else { return };
        let c = &shared.config;
        let period = [
            c.health_check.map(|(interval, _)| interval),
            c.idle_timeout.map(|t| t / 2),
            c.max_memory_per_worker.map(|_| MEMORY_PERIOD),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(MEMORY_PERIOD)
        .max(Duration::from_millis(1));
        (period, shared.stopping.clone())
    };
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stopping.cancelled() => return,
        }
        match pool.upgrade() {
            Some(shared) => shared.upkeep(),
            None => return,
        }
    }
}

impl Shared {
    /// One round of upkeep.
    fn upkeep(self: &Arc<Self>) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let now = Instant::now();
        let mut ready = state.ready();
        // Calls waiting (dispatch paused, say) would start a new worker for each one retired.
        let waiting = state.core.queue.len() > 0;
        for slot in state.workers.values_mut() {
            if slot.status != Status::Ready {
                continue;
            }
            // Pings go to busy workers too: the protocol has them answered while calls run,
            // so a worker that stopped reading is found even with calls and no timeouts.
            if let Some((_, deadline)) = self.config.health_check {
                match slot.ping {
                    Some((_, sent)) if now.duration_since(sent) > deadline => {
                        slot.kill(format!("did not answer a ping within {deadline:?}"));
                        continue;
                    }
                    Some(_) => {}
                    None => {
                        slot.ping = Some((state.next_ping, now));
                        slot.send(Frame::bare(Kind::Ping, state.next_ping));
                        state.next_ping += 1;
                    }
                }
            }
            if !slot.in_flight.is_empty() {
                continue;
            }
            if let Some(idle) = self.config.idle_timeout
                && ready > state.min_workers
                && !waiting
                && now.duration_since(slot.last_used) >= idle
            {
                slot.status = Status::Retiring(Retire::Idle);
                ready -= 1;
                continue;
            }
            check_memory(slot, self.config.max_memory_per_worker);
        }
        self.retire_idle(state);
        self.dispatch(guard);
    }
}
