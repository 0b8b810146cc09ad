//! [`CappedBuffer`]: keeps the first bytes of an output stream and counts the rest.

use bytes::Bytes;

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

    /// The bytes kept so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// The kept bytes and whether the stream went past the limit.
    pub fn finish(self) -> (Bytes, bool) {
        (Bytes::from(self.buf), self.truncated)
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
    fn zero_limit_keeps_nothing() {
        let mut b = CappedBuffer::new(0);
        b.extend(b"x");
        assert_eq!(b.finish(), (Bytes::new(), true));
    }
}
