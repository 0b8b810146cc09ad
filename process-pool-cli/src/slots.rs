//! Job slots and, with `-k`, how far ahead of the earliest unfinished job others may start.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

/// Slots 1..=N, lowest free first, as `{%}` numbers them; each started job holds one until it
/// has ended, its retries included (as in GNU parallel: with `-j1`, the next job starts only
/// once the first has failed for the last time, so `--halt` stops before it).
#[derive(Debug)]
pub(crate) struct Slots {
    free: BinaryHeap<Reverse<usize>>,
    /// The slot each started job holds, by job id.
    holding: HashMap<u64, usize>,
}

impl Slots {
    pub(crate) fn new(n: usize) -> Self {
        Slots {
            free: (1..=n).map(Reverse).collect(),
            holding: HashMap::new(),
        }
    }

    pub(crate) fn any_free(&self) -> bool {
        !self.free.is_empty()
    }

    /// The lowest free slot.
    pub(crate) fn take(&mut self) -> Option<usize> {
        self.free.pop().map(|Reverse(slot)| slot)
    }

    /// Gives back a slot no job took after all.
    pub(crate) fn put_back(&mut self, slot: usize) {
        self.free.push(Reverse(slot));
    }

    /// Job `id` runs in `slot`.
    pub(crate) fn hold(&mut self, id: u64, slot: usize) {
        self.holding.insert(id, slot);
    }

    /// Job `id` ended: its slot is free (once).
    pub(crate) fn release(&mut self, id: u64) {
        if let Some(slot) = self.holding.remove(&id) {
            self.free.push(Reverse(slot));
        }
    }
}

/// With `-k`, output waits in memory until every earlier job has ended: jobs may start at most
/// this far ahead of the earliest unfinished one.
const KEEP_ORDER_AHEAD: u64 = 1024;

/// Positions of started jobs, and which have ended.
#[derive(Debug)]
pub(crate) struct Positions {
    keep_order: bool,
    next: u64,
    /// The earliest position not yet ended, and those ended after it.
    earliest: u64,
    ended_ahead: BTreeSet<u64>,
}

impl Positions {
    pub(crate) fn new(keep_order: bool) -> Self {
        Positions {
            keep_order,
            next: 0,
            earliest: 0,
            ended_ahead: BTreeSet::new(),
        }
    }

    /// Whether another job may start without running too far ahead.
    pub(crate) fn room(&self) -> bool {
        !self.keep_order || self.next - self.earliest < KEEP_ORDER_AHEAD
    }

    /// The next job's position.
    pub(crate) fn next(&mut self) -> u64 {
        self.next += 1;
        self.next - 1
    }

    /// The earliest position not yet ended: every job before it has ended.
    pub(crate) fn earliest(&self) -> u64 {
        self.earliest
    }

    pub(crate) fn ended(&mut self, pos: u64) {
        self.ended_ahead.insert(pos);
        while self.ended_ahead.remove(&self.earliest) {
            self.earliest += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_free_slot_is_taken_and_a_slot_is_freed_once() {
        let mut slots = Slots::new(2);
        assert_eq!(slots.take(), Some(1));
        slots.hold(10, 1);
        assert_eq!(slots.take(), Some(2));
        slots.hold(11, 2);
        assert!(!slots.any_free());
        slots.release(10);
        slots.release(10);
        assert_eq!(slots.take(), Some(1));
        assert!(!slots.any_free());
    }

    #[test]
    fn keep_order_bounds_how_far_ahead_jobs_start() {
        let mut positions = Positions::new(true);
        for _ in 0..KEEP_ORDER_AHEAD {
            positions.next();
        }
        assert!(!positions.room());
        positions.ended(1);
        assert!(!positions.room(), "job 0 still runs");
        positions.ended(0);
        assert!(positions.room());
        assert!(Positions::new(false).room());
    }
}
