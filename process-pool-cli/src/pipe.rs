//! `--pipe` and `--pipe-part`, as GNU parallel's: the input cut into blocks at record
//! boundaries, each block the stdin of one job. Read as jobs start, a block at a time: memory
//! holds the blocks of the running jobs and one or two more, whatever the input's size.

use std::io::{self, Read};

use memchr::memmem;

/// How the input is cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Blocks {
    /// About this many bytes a block (`--block`, 1 MiB by default): a block ends at the last
    /// record boundary within it, and a record longer than this is one block of its own.
    pub(crate) size: usize,
    /// Or exactly this many records a block (`-N`), whatever their size.
    pub(crate) records: Option<usize>,
    /// What ends a record (`--recend`, a newline by default).
    pub(crate) recend: Vec<u8>,
    /// What starts one (`--recstart`, nothing by default): a boundary is a `recend` followed
    /// by a `recstart`.
    pub(crate) recstart: Vec<u8>,
    /// `--pipe-part`: a block ends at the first boundary past `size` bytes from its start (a part of `size` extended to a record's end), where `--pipe` ends it at the last
    /// boundary within `size` bytes.
    pub(crate) extend: bool,
}

/// GNU parallel's `--block` default.
pub(crate) const DEFAULT_BLOCK: usize = 1 << 20;

/// A `--block` size as GNU parallel reads it: a number, then `K`, `M`, `G`, `T` for powers of
/// 1024 or `k`, `m`, `g`, `t` for powers of 1000.
pub(crate) fn parse_block(text: &str) -> Option<usize> {
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..digits].parse().ok()?;
    let scale: u64 = match &text[digits..] {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        "k" => 1_000,
        "m" => 1_000_000,
        "g" => 1_000_000_000,
        "t" => 1_000_000_000_000,
        _ => return None,
    };
    usize::try_from(number.checked_mul(scale)?)
        .ok()
        .filter(|&n| n > 0)
}

impl Blocks {
    /// Whether a block may end at `at` in `data`: after a `recend`, before a `recstart` (the
    /// end of `data` only when no `recstart` is needed).
    fn is_boundary(&self, data: &[u8], at: usize) -> bool {
        at > 0
            && data[..at].ends_with(&self.recend)
            && data[at..].starts_with(&self.recstart)
            && (at < data.len() || self.recstart.is_empty())
    }

    /// What is searched for: the record end, else the record start; and where a boundary is
    /// from a match at `i`.
    fn marker(&self) -> (&[u8], usize) {
        if self.recend.is_empty() {
            (&self.recstart, 0)
        } else {
            (&self.recend, self.recend.len())
        }
    }

    /// The first boundary at `from` or after it.
    fn next(&self, data: &[u8], from: usize) -> Option<usize> {
        let (marker, shift) = self.marker();
        let mut at = from.max(1).saturating_sub(shift);
        while at <= data.len() {
            let found = at + memmem::find(&data[at..], marker)?;
            if self.is_boundary(data, found + shift) && found + shift >= from.max(1) {
                return Some(found + shift);
            }
            at = found + 1;
        }
        None
    }

    /// The last boundary at `upto` or before it.
    fn prev(&self, data: &[u8], upto: usize) -> Option<usize> {
        let (marker, shift) = self.marker();
        let mut end = (upto.min(data.len()) + marker.len())
            .saturating_sub(shift)
            .min(data.len());
        loop {
            let found = memmem::rfind(&data[..end], marker)?;
            if found + shift <= upto && self.is_boundary(data, found + shift) {
                return Some(found + shift);
            }
            end = found + marker.len() - 1;
        }
    }

    /// The `n`th boundary (from 1).
    fn nth(&self, data: &[u8], n: usize) -> Option<usize> {
        let mut at = 0;
        for _ in 0..n.max(1) {
            at = self.next(data, at + 1)?;
        }
        Some(at)
    }
}

/// Cuts `reader` into blocks, handing each to `each` (which says whether to go on).
pub(crate) fn split(
    mut reader: impl Read,
    how: &Blocks,
    each: &mut dyn FnMut(Vec<u8>) -> bool,
) -> io::Result<()> {
    let step = how.size.max(1);
    // The input read and not yet handed on is `data[start..]`.
    let (mut data, mut start) = (Vec::new(), 0);
    let mut ended = false;
    // Bytes to hold before looking for a boundary; and where the look goes on from.
    let mut want = if how.records.is_some() { 0 } else { step };
    let mut searched = 0;
    loop {
        if data.len() - start < want && !ended {
            data.drain(..start);
            start = 0;
            while !ended && data.len() < want {
                let old = data.len();
                data.resize(want, 0);
                match reader.read(&mut data[old..]) {
                    Ok(0) => {
                        data.truncate(old);
                        ended = true;
                    }
                    Ok(n) => data.truncate(old + n),
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => data.truncate(old),
                    Err(error) => return Err(error),
                }
            }
        }
        let rest = &data[start..];
        if rest.is_empty() {
            if ended {
                return Ok(());
            }
            want = step;
            continue;
        }
        let cut = match how.records {
            Some(n) => how.nth(rest, n),
            None if how.extend => how.next(rest, searched.max(step + 1)),
            // The last boundary within a block's size, else the first after it (a record
            // longer than a block).
            None => how
                .prev(rest, step)
                .or_else(|| how.next(rest, searched.max(step))),
        };
        match cut {
            Some(at) if at < rest.len() || ended => {
                if !each(rest[..at].to_vec()) {
                    return Ok(());
                }
                start += at;
                searched = 0;
                want = if how.records.is_some() { 0 } else { step };
            }
            _ if ended => {
                // The last record, without its end.
                each(rest.to_vec());
                return Ok(());
            }
            // No boundary yet (a record longer than a block, or fewer than -N records):
            // read on, a block more.
            _ => {
                searched = rest
                    .len()
                    .saturating_sub(how.recend.len() + how.recstart.len());
                want = rest.len() + step.max(1 << 16);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(input: &str, how: &Blocks) -> Vec<String> {
        let mut out = Vec::new();
        split(input.as_bytes(), how, &mut |block| {
            out.push(String::from_utf8(block).unwrap());
            true
        })
        .unwrap();
        out
    }

    fn lines(size: usize) -> Blocks {
        Blocks {
            size,
            records: None,
            recend: b"\n".to_vec(),
            recstart: Vec::new(),
            extend: false,
        }
    }

    #[test]
    fn a_block_ends_at_the_last_record_end_within_its_size() {
        assert_eq!(blocks("ab\ncd\nef\n", &lines(7)), ["ab\ncd\n", "ef\n"]);
        assert_eq!(blocks("ab\ncd\nef", &lines(6)), ["ab\ncd\n", "ef"]);
        assert_eq!(blocks("", &lines(6)), Vec::<String>::new());
    }

    #[test]
    fn a_record_longer_than_a_block_is_a_block_of_its_own() {
        assert_eq!(blocks("abcdef\ng\n", &lines(2)), ["abcdef\n", "g\n"]);
    }

    #[test]
    fn a_number_of_records_a_block() {
        let how = Blocks {
            records: Some(3),
            ..lines(DEFAULT_BLOCK)
        };
        let input: String = (1..=10).map(|i| format!("{i}\n")).collect();
        assert_eq!(
            blocks(&input, &how),
            ["1\n2\n3\n", "4\n5\n6\n", "7\n8\n9\n", "10\n"]
        );
    }

    #[test]
    fn records_that_start_with_a_marker() {
        let how = Blocks {
            size: 1,
            records: None,
            recend: Vec::new(),
            recstart: b">".to_vec(),
            extend: false,
        };
        assert_eq!(blocks(">a\nb\n>c\n>d", &how), [">a\nb\n", ">c\n", ">d"]);
        let both = Blocks {
            recend: b"\n".to_vec(),
            ..how
        };
        assert_eq!(blocks(">a\n>b>\n>c\n", &both), [">a\n", ">b>\n", ">c\n"]);
    }

    #[test]
    fn pipe_part_extends_each_part_of_the_file_to_a_record_end() {
        let how = Blocks {
            extend: true,
            ..lines(4)
        };
        // Each part ends at the first record end past 4 bytes from its start.
        assert_eq!(blocks("ab\ncd\nef\ngh\n", &how), ["ab\ncd\n", "ef\ngh\n"]);
        assert_eq!(blocks("abcdefghij\nk\n", &how), ["abcdefghij\n", "k\n"]);
    }

    #[test]
    fn block_sizes_read_as_gnu_parallel_reads_them() {
        assert_eq!(parse_block("100K"), Some(102_400));
        assert_eq!(parse_block("100k"), Some(100_000));
        assert_eq!(parse_block("1M"), Some(1 << 20));
        assert_eq!(parse_block("2m"), Some(2_000_000));
        assert_eq!(parse_block("7"), Some(7));
        for bad in ["", "0", "1X", "-1", "k"] {
            assert_eq!(parse_block(bad), None, "{bad}");
        }
    }

    #[test]
    fn blocks_put_back_together_are_the_input() {
        let input: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        for size in [1, 10, 100, 4096] {
            let got = blocks(&input, &lines(size));
            assert_eq!(got.concat(), input);
            assert!(got.iter().all(|b| b.ends_with('\n')));
        }
    }
}
