//! The pool's periodic upkeep: health pings, idle scale-down, memory checks.

use std::sync::Weak;
use std::time::Duration;

use super::pool::Shared;

/// How often memory is looked at when no other period is set.
const MEMORY_PERIOD: Duration = Duration::from_millis(500);

/// Ticks until the pool is stopped or gone.
pub(crate) async fn run(pool: Weak<Shared>) {
    let period = {
        let Some(shared) = pool.upgrade() else { return };
        let c = &shared.config;
        [
            c.health_check.map(|(interval, _)| interval),
            c.idle_timeout.map(|t| t / 2),
            c.max_memory_per_worker.map(|_| MEMORY_PERIOD),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(MEMORY_PERIOD)
        .max(Duration::from_millis(1))
    };
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = match pool.upgrade() {
            Some(shared) => shared.stopping.clone(),
            None => return,
        };
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
