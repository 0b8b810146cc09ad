//! Several inputs per command, as GNU parallel's `-n`, `-N`, `-L`, `-m` and `-X` make them: the
//! input's records gathered into one job's values, a fixed number at a time, or as many as a
//! command line holds, spread evenly over the job slots once the input ends.

use std::collections::VecDeque;

/// How many records make one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grouping {
    /// At most this many records a job (`-n N`, `-N N`, `-L N`); `None`: as many as fit.
    pub(crate) max_records: Option<usize>,
    /// `-n 0`: one record a job, none of its values given to it.
    pub(crate) insert_none: bool,
    /// `-m`, `-X`: as many as fit in `max_chars`, and once the input has ended, what is left
    /// spread evenly over `slots` jobs.
    pub(crate) fill: bool,
    /// The most bytes a job's values may take, each counted with a separator (`-s`).
    pub(crate) max_chars: usize,
    /// The job slots (`-j`) the last records are spread over.
    pub(crate) slots: usize,
}

/// GNU parallel's usable command length on a typical Linux (`parallel --show-limits`: 63,664
/// with a usual environment), rounded down: the default of `-s`.
pub(crate) const DEFAULT_MAX_CHARS: usize = 63_000;

impl Grouping {
    /// One record a job: GNU parallel's default.
    #[cfg(test)]
    pub(crate) const ONE: Grouping = Grouping {
        max_records: Some(1),
        insert_none: false,
        fill: false,
        max_chars: DEFAULT_MAX_CHARS,
        slots: 1,
    };

    /// Whether each record is a job of its own, as given.
    pub(crate) fn is_one(&self) -> bool {
        self.max_records == Some(1) && !self.insert_none
    }
}

/// Gathers records into jobs' values, handing each job's on to `send` (which says whether to
/// go on).
pub(crate) struct Grouper<F> {
    how: Grouping,
    pending: VecDeque<Vec<Vec<u8>>>,
    pending_chars: usize,
    send: F,
}

impl<F: FnMut(Vec<Vec<u8>>) -> bool> Grouper<F> {
    pub(crate) fn new(how: Grouping, send: F) -> Self {
        Grouper {
            how,
            pending: VecDeque::new(),
            pending_chars: 0,
            send,
        }
    }

    /// One record in; false once `send` said to stop.
    pub(crate) fn push(&mut self, record: Vec<Vec<u8>>) -> bool {
        if self.how.is_one() {
            return (self.send)(record);
        }
        self.pending_chars += chars(&record);
        self.pending.push_back(record);
        let most = self.how.max_records.unwrap_or(usize::MAX).max(1);
        if !self.how.fill {
            return self.pending.len() < most || self.emit(most);
        }
        // More than every slot's line can hold: full lines go now (an endless input keeps
        // going); the rest waits for the end, to be spread evenly.
        while self.pending_chars > self.how.slots.saturating_mul(self.how.max_chars) {
            if !self.emit(most) {
                return false;
            }
        }
        true
    }

    /// The input has ended: what is left, spread evenly over the slots with `-m` and `-X`.
    pub(crate) fn finish(mut self) -> bool {
        let most = self.how.max_records.unwrap_or(usize::MAX).max(1);
        let per_job = if self.how.fill {
            self.pending.len().div_ceil(self.how.slots.max(1)).min(most)
        } else {
            most
        };
        while !self.pending.is_empty() {
            if !self.emit(per_job) {
                return false;
            }
        }
        true
    }

    /// Sends the first records as one job: at most `most`, and no more than `max_chars` (at
    /// least one, however long).
    fn emit(&mut self, most: usize) -> bool {
        let mut values = Vec::new();
        let mut taken_chars = 0;
        let mut taken = 0;
        while taken < most
            && let Some(next) = self.pending.front()
        {
            let size = chars(next);
            if taken > 0 && taken_chars + size > self.how.max_chars {
                break;
            }
            taken_chars += size;
            taken += 1;
            let record = self.pending.pop_front().unwrap_or_default();
            if !self.how.insert_none {
                values.extend(record);
            }
        }
        self.pending_chars -= taken_chars;
        (self.send)(values)
    }
}

/// The bytes a record's values take on a command line, each with its separator.
fn chars(record: &[Vec<u8>]) -> usize {
    record.iter().map(|value| value.len() + 1).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(how: Grouping, records: &[&str]) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        let mut grouper = Grouper::new(how, |values: Vec<Vec<u8>>| {
            out.push(
                values
                    .into_iter()
                    .map(|v| String::from_utf8(v).unwrap())
                    .collect(),
            );
            true
        });
        for record in records {
            assert!(grouper.push(vec![record.as_bytes().to_vec()]));
        }
        assert!(grouper.finish());
        out
    }

    fn how(max_records: Option<usize>, fill: bool, slots: usize) -> Grouping {
        Grouping {
            max_records,
            insert_none: false,
            fill,
            max_chars: DEFAULT_MAX_CHARS,
            slots,
        }
    }

    const SEVEN: [&str; 7] = ["1", "2", "3", "4", "5", "6", "7"];

    #[test]
    fn a_fixed_number_of_records_a_job() {
        assert_eq!(
            groups(how(Some(3), false, 2), &SEVEN),
            [vec!["1", "2", "3"], vec!["4", "5", "6"], vec!["7"]]
        );
    }

    #[test]
    fn filling_spreads_the_records_evenly_over_the_slots_as_gnu_parallel() {
        // GNU parallel -j2 -X, -j3 -X, -j5 -m and -n 3 -j2 -X over 1..7.
        let sizes = |how| groups(how, &SEVEN).iter().map(Vec::len).collect::<Vec<_>>();
        assert_eq!(sizes(how(None, true, 2)), [4, 3]);
        assert_eq!(sizes(how(None, true, 3)), [3, 3, 1]);
        assert_eq!(sizes(how(None, true, 5)), [2, 2, 2, 1]);
        assert_eq!(sizes(how(Some(3), true, 2)), [3, 3, 1]);
        assert_eq!(sizes(how(None, true, 1)), [7]);
    }

    #[test]
    fn a_line_holds_at_most_max_chars_and_always_one_record() {
        let mut small = how(None, true, 1);
        small.max_chars = 4; // "1 2 " fits, a third does not.
        let sizes: Vec<usize> = groups(small, &SEVEN).iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 2, 1]);
        small.max_chars = 1;
        assert_eq!(groups(small, &["long", "x"]), [vec!["long"], vec!["x"]]);
    }

    #[test]
    fn an_endless_input_is_sent_in_full_lines_as_it_comes() {
        let mut filling = how(None, true, 2);
        filling.max_chars = 10;
        let mut sent = 0;
        let mut grouper = Grouper::new(filling, |_| {
            sent += 1;
            true
        });
        for _ in 0..100 {
            assert!(grouper.push(vec![b"abcd".to_vec()]));
        }
        drop(grouper);
        assert!(sent >= 45, "{sent} lines sent before the end");
    }

    #[test]
    fn zero_gives_one_record_a_job_and_none_of_its_values() {
        let none = Grouping {
            insert_none: true,
            ..how(Some(1), false, 1)
        };
        assert_eq!(groups(none, &["a", "b"]), [Vec::<String>::new(), vec![]]);
    }
}
