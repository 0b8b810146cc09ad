//! The pool's wait queue: higher priority first, first-in first-out among equals.

use std::cmp::Reverse;
use std::collections::BTreeMap;

/// A queued job's place: its priority, then its submission number.
///
/// A retried job keeps its key, so it goes back ahead of jobs submitted after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct QueueKey {
    priority: Reverse<i32>,
    seq: u64,
}

impl QueueKey {
    pub(crate) fn new(priority: i32, seq: u64) -> Self {
        QueueKey {
            priority: Reverse(priority),
            seq,
        }
    }
}

/// An ordered map from place to job: `pop` takes the first, `remove` takes a cancelled job out
/// by its key in O(log n), so a cancelled queued job is answered at once and leaves no
/// tombstone behind.
#[derive(Debug)]
pub(crate) struct Queue<T> {
    entries: BTreeMap<QueueKey, T>,
}

impl<T> Queue<T> {
    pub(crate) fn new() -> Self {
        Queue {
            entries: BTreeMap::new(),
        }
    }

    pub(crate) fn push(&mut self, key: QueueKey, item: T) {
        let previous = self.entries.insert(key, item);
        debug_assert!(previous.is_none(), "a job is queued at most once");
    }

    pub(crate) fn pop(&mut self) -> Option<T> {
        self.entries.pop_first().map(|(_, item)| item)
    }

    pub(crate) fn remove(&mut self, key: &QueueKey) -> Option<T> {
        self.entries.remove(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Takes every queued item, first to last.
    pub(crate) fn take_all(&mut self) -> Vec<T> {
        std::mem::take(&mut self.entries).into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_priority_first_then_fifo() {
        let mut q = Queue::new();
        q.push(QueueKey::new(0, 1), "a");
        q.push(QueueKey::new(5, 2), "b");
        q.push(QueueKey::new(0, 3), "c");
        q.push(QueueKey::new(5, 4), "d");
        q.push(QueueKey::new(-1, 5), "e");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, ["b", "d", "a", "c", "e"]);
    }

    #[test]
    fn remove_by_key() {
        let mut q = Queue::new();
        q.push(QueueKey::new(0, 1), 1);
        q.push(QueueKey::new(0, 2), 2);
        assert_eq!(q.remove(&QueueKey::new(0, 1)), Some(1));
        assert_eq!(q.remove(&QueueKey::new(0, 1)), None);
        assert_eq!(q.len(), 1);
    }
}
