//! The pool's wait queue: higher priority first, first-in first-out among equals.

use std::cmp::Reverse;
use std::collections::{BTreeMap, VecDeque};

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

/// One FIFO per priority level, each kept in submission order, levels ordered highest first.
///
/// Most pools use one or a few priorities, so a push and a pop are a deque operation; taking a
/// cancelled job out is a binary search in its level, so a cancelled queued job is answered at
/// once and leaves no tombstone behind.
#[derive(Debug)]
pub(crate) struct Queue<T> {
    levels: BTreeMap<Reverse<i32>, VecDeque<(u64, T)>>,
    len: usize,
}

impl<T> Queue<T> {
    pub(crate) fn new() -> Self {
        Queue {
            levels: BTreeMap::new(),
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, key: QueueKey, item: T) {
        let level = self.levels.entry(key.priority).or_default();
        if level.back().is_none_or(|(last, _)| *last < key.seq) {
            level.push_back((key.seq, item));
        } else {
            // A retried job going back to its place among later submissions.
            let at = level.partition_point(|(seq, _)| *seq < key.seq);
            debug_assert!(
                level.get(at).is_none_or(|(seq, _)| *seq != key.seq),
                "a job is queued at most once"
            );
            level.insert(at, (key.seq, item));
        }
        self.len += 1;
    }

    pub(crate) fn pop(&mut self) -> Option<T> {
        let mut first = self.levels.first_entry()?;
        let item = first.get_mut().pop_front().map(|(_, item)| item);
        if first.get().is_empty() {
            first.remove();
        }
        self.len -= usize::from(item.is_some());
        item
    }

    pub(crate) fn remove(&mut self, key: &QueueKey) -> Option<T> {
        let level = self.levels.get_mut(&key.priority)?;
        let at = level.binary_search_by_key(&key.seq, |(seq, _)| *seq).ok()?;
        let (_, item) = level.remove(at)?;
        if level.is_empty() {
            self.levels.remove(&key.priority);
        }
        self.len -= 1;
        Some(item)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Takes every queued item, first to last.
    pub(crate) fn take_all(&mut self) -> Vec<T> {
        self.len = 0;
        std::mem::take(&mut self.levels)
            .into_values()
            .flat_map(|level| level.into_iter().map(|(_, item)| item))
            .collect()
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
        assert_eq!(q.len(), 5);
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, ["b", "d", "a", "c", "e"]);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_retried_job_goes_back_to_its_place() {
        let mut q = Queue::new();
        q.push(QueueKey::new(0, 5), 5);
        q.push(QueueKey::new(0, 9), 9);
        q.push(QueueKey::new(0, 2), 2);
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, [2, 5, 9]);
    }

    #[test]
    fn remove_by_key() {
        let mut q = Queue::new();
        q.push(QueueKey::new(0, 1), 1);
        q.push(QueueKey::new(0, 2), 2);
        q.push(QueueKey::new(3, 3), 3);
        assert_eq!(q.remove(&QueueKey::new(0, 1)), Some(1));
        assert_eq!(q.remove(&QueueKey::new(0, 1)), None);
        assert_eq!(q.remove(&QueueKey::new(3, 3)), Some(3));
        assert_eq!(q.len(), 1);
        assert_eq!(q.take_all(), [2]);
        assert_eq!(q.len(), 0);
    }
}
