//! [`CappedBuffer`]: keeps the first bytes of an output stream and counts the rest; and
//! [`LineSplitter`]: cuts a stream into the [`OutputLine`]s a job's live output delivers.

use bytes::{Bytes, BytesMut};

use crate::output::{OutputLine, Stream};

/// Keeps at most `limit` bytes of a stream and remembers whether more came.
///
/// Backends read a job's output into one of these so that a job printing gigabytes costs the
/// pool no more than the limit, while the job itself never blocks on a full pipe.
///
/// ```
/// use process_pool::backend::CappedBuffer;
///
/// let mut out = CappedBuffer::new(4);
/// out.extend(b"hello");
/// let (bytes, truncated) = out.finish();
/// assert_eq!(&bytes[..], b"hell");
/// assert!(truncated);
/// ```
#[derive(Debug, Default)]
pub struct CappedBuffer {
    buf: Vec<u8>,
    limit: usize,
    truncated: bool,
}

impl CappedBuffer {
    /// An empty buffer that keeps at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        CappedBuffer {
            buf: Vec::new(),
            limit,
            truncated: false,
        }
    }

    /// Appends what fits and records whether anything did not.
    pub fn extend(&mut self, data: &[u8]) {
        let room = self.limit - self.buf.len();
        if data.len() > room {
            self.truncated = true;
        }
        let take = data.len().min(room);
        self.buf.extend_from_slice(&data[..take]);
    }

    /// Whether the buffer is full, so further bytes will only be counted as truncation.
    pub fn is_full(&self) -> bool {
        self.buf.len() >= self.limit
    }

    /// The most it keeps.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The bytes kept so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// The kept bytes and whether the stream went past the limit.
    pub fn finish(self) -> (Bytes, bool) {
        (Bytes::from(self.buf), self.truncated)
    }
}

/// The longest piece of a line delivered whole: a longer line comes in pieces, each but the
/// last marked incomplete.
pub const MAX_LINE: usize = 64 << 10;

/// Cuts one stream of one attempt into [`OutputLine`]s, for a job's live output
/// ([`Job::output_lines`](crate::Job::output_lines)), with the same cap as the capture: past
/// `limit` bytes delivered, one line marked `truncated` and nothing more. A backend feeds it
/// the bytes as they come and sends what it returns on the job's channel (awaiting the send,
/// so a slow reader slows the job's pipe rather than growing memory).
///
/// ```
/// use process_pool::backend::LineSplitter;
/// use process_pool::Stream;
///
/// let mut lines = LineSplitter::new(Stream::Stdout, 1, 1 << 20);
/// let out = lines.push(b"one\ntw");
/// assert_eq!(out.len(), 1);
/// assert_eq!(&out[0].bytes[..], b"one\n");
/// let last = lines.finish();
/// assert_eq!(&last[0].bytes[..], b"tw");
/// assert!(!last[0].complete);
/// ```
#[derive(Debug)]
pub struct LineSplitter {
    stream: Stream,
    attempt: u32,
    limit: usize,
    delivered: usize,
    partial: BytesMut,
    cut: bool,
}

impl LineSplitter {
    /// A splitter for `stream` of attempt `attempt`, delivering at most `limit` bytes.
    pub fn new(stream: Stream, attempt: u32, limit: usize) -> Self {
        LineSplitter {
            stream,
            attempt,
            limit,
            delivered: 0,
            partial: BytesMut::new(),
            cut: false,
        }
    }

    /// Takes the next bytes; returns the lines (or pieces of a long line) they complete.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<OutputLine> {
        let mut out = Vec::new();
        while !bytes.is_empty() && !self.cut {
            let room = MAX_LINE - self.partial.len();
            let (take, newline) = match bytes.iter().position(|&b| b == b'\n') {
                Some(at) if at < room => (at + 1, true),
                _ => (bytes.len().min(room), false),
            };
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if newline || self.partial.len() == MAX_LINE {
                self.emit(newline, &mut out);
            }
        }
        out
    }

    /// The end of the stream: what is left of an unfinished last line.
    pub fn finish(&mut self) -> Vec<OutputLine> {
        let mut out = Vec::new();
        if !self.partial.is_empty() && !self.cut {
            self.emit(false, &mut out);
        }
        out
    }

    fn emit(&mut self, complete: bool, out: &mut Vec<OutputLine>) {
        let mut bytes = self.partial.split().freeze();
        let room = self.limit - self.delivered;
        let truncated = bytes.len() > room;
        if truncated {
            bytes.truncate(room);
            self.cut = true;
        }
        self.delivered += bytes.len();
        out.push(OutputLine {
            stream: self.stream,
            attempt: self.attempt,
            bytes,
            complete: complete && !truncated,
            truncated,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_exactly_the_limit() {
        let mut b = CappedBuffer::new(3);
        b.extend(b"ab");
        assert!(!b.is_full());
        b.extend(b"c");
        assert!(b.is_full());
        let (bytes, truncated) = b.finish();
        assert_eq!(&bytes[..], b"abc");
        assert!(!truncated, "exactly the limit is not truncation");
    }

    #[test]
    fn lines_are_cut_at_newlines_at_the_line_limit_and_at_the_cap() {
        let mut lines = LineSplitter::new(Stream::Stderr, 2, MAX_LINE + 10);
        let mut out = lines.push(b"a\nb");
        out.extend(lines.push(b"c\n"));
        let texts: Vec<&[u8]> = out.iter().map(|l| &l.bytes[..]).collect();
        assert_eq!(texts, [&b"a\n"[..], b"bc\n"]);
        assert!(
            out.iter()
                .all(|l| l.complete && l.attempt == 2 && l.stream == Stream::Stderr)
        );
        let long = vec![b'x'; MAX_LINE + 1];
        let out = lines.push(&long);
        assert_eq!(out.len(), 1, "one whole piece of the long line");
        assert_eq!(out[0].bytes.len(), MAX_LINE);
        assert!(!out[0].complete && !out[0].truncated);
        // 5 bytes were sent before: 5 of the limit's last 10 are left.
        let out = lines.push(b"more\n");
        assert_eq!(&out[0].bytes[..], b"xmore", "cut at the cap");
        assert!(out[0].truncated && !out[0].complete);
        assert!(lines.push(b"after\n").is_empty(), "nothing after the cap");
        assert!(lines.finish().is_empty());
    }

    #[test]
    fn zero_limit_keeps_nothing() {
        let mut b = CappedBuffer::new(0);
        b.extend(b"x");
        assert_eq!(b.finish(), (Bytes::new(), true));
    }
}
