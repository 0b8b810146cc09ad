//! What must hold for any bytes an agent or a pool reads from the other (a job's spec, an
//! agent's reply, the line-escaped stream srun carries), as checks shared by the fuzz targets
//! (`fuzz/` at the repository's root) and this crate's property tests. Each check panics when
//! the code under test does not hold up.
//!
//! Not part of the API: built for this crate's tests, and with the `fuzzing` feature.

use std::io;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use process_pool_protocol::fuzzing::Pieces;

use crate::lines::{LineReader, LineWriter};
use crate::spec::{JobSpec, Reply};

/// A job spec as an agent reads it, whatever the bytes: asserts that it is refused with a
/// reason, or read into a spec that is written back as exactly these bytes (the encoding has
/// one way to write each spec) and makes a job without a panic.
///
/// # Panics
///
/// When one of these does not hold.
pub fn spec(bytes: &[u8]) {
    let bytes = Bytes::copy_from_slice(bytes);
    match JobSpec::decode(&bytes) {
        Ok(spec) => {
            assert_eq!(spec.encode(), bytes, "a spec is not written back as read");
            let _ = spec.to_job();
        }
        Err(reason) => assert!(!reason.is_empty(), "a refusal without a reason"),
    }
}

/// An agent's reply as a pool reads it, whatever the bytes: asserts that it is refused with a
/// reason, or read into a reply that reads back the same once written again.
///
/// # Panics
///
/// When one of these does not hold.
pub fn reply(bytes: &[u8]) {
    let bytes = Bytes::copy_from_slice(bytes);
    match Reply::decode(&bytes) {
        Ok(reply) => {
            let again = Bytes::from(reply.encode());
            let back = Reply::decode(&again).expect("a reply written by this side reads back");
            assert_eq!(back.encode(), again, "a reply changes when written again");
        }
        Err(reason) => assert!(!reason.is_empty(), "a refusal without a reason"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
}

/// What a [`LineReader`] gives for `wire` in pieces: the bytes, then the error kind, if any.
fn unescape(wire: &[u8], cuts: &[usize]) -> (Vec<u8>, Option<io::ErrorKind>) {
    let mut reader = LineReader::new(Pieces::new(Bytes::copy_from_slice(wire), cuts));
    let mut out = Vec::new();
    let mut buf = [0; 7];
    let error = runtime().block_on(async {
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => return None,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(error) => return Some(error.kind()),
            }
        }
    });
    (out, error)
}

/// The line-escaped stream of an agent's stdio, whatever the bytes, in any pieces: asserts
/// that a [`LineReader`] gives the same bytes and the same error for them in these pieces as
/// whole, with no escape byte or newline left in what it gives unless escaped.
///
/// # Panics
///
/// When one of these does not hold.
pub fn lines(wire: &[u8], cuts: &[usize]) {
    let whole = unescape(wire, &[]);
    let pieces = unescape(wire, cuts);
    assert_eq!(pieces, whole, "the bytes depend on the pieces");
    let raw_newlines = wire.iter().filter(|&&b| b == b'\n').count();
    let (out, error) = whole;
    if error.is_none() {
        let escaped_newlines = wire.windows(2).filter(|w| w == b"\x1bN").count();
        let newlines = out.iter().filter(|&&b| b == b'\n').count();
        assert!(newlines <= escaped_newlines, "a bare newline came through");
        assert!(out.len() + raw_newlines <= wire.len());
    }
}

/// Bytes written through a [`LineWriter`] in `writes` (each a length; flushed after those
/// whose `flushes` bit is set), then read back through a [`LineReader`] in pieces: asserts that
/// they come back unchanged, and that the stream holds a newline at each flush that followed
/// data and nowhere else.
///
/// # Panics
///
/// When one of these does not hold.
pub fn lines_round_trip(data: &[u8], writes: &[usize], flushes: &[bool], cuts: &[usize]) {
    let (wire, flushed) = runtime().block_on(async {
        let mut writer = LineWriter::new(Vec::new());
        let mut rest = data;
        let mut flushed = 0;
        let mut open = false;
        for (i, &len) in writes.iter().enumerate() {
            let (chunk, after) = rest.split_at(len.min(rest.len()));
            rest = after;
            writer.write_all(chunk).await.expect("writing to memory");
            open |= !chunk.is_empty();
            if flushes.get(i).copied().unwrap_or(false) {
                writer.flush().await.expect("writing to memory");
                flushed += usize::from(open);
                open = false;
            }
        }
        writer.write_all(rest).await.expect("writing to memory");
        writer.flush().await.expect("writing to memory");
        flushed += usize::from(open || !rest.is_empty());
        (writer.into_inner(), flushed)
    });
    let newlines = wire.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(
        newlines, flushed,
        "a newline where no flush was, or none where one was"
    );
    let (back, error) = unescape(&wire, cuts);
    assert_eq!(error, None);
    assert_eq!(back, data, "bytes changed on the way");
}

#[cfg(test)]
mod properties;
