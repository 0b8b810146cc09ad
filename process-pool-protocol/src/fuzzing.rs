//! What must hold for any bytes this crate reads, as checks shared by the fuzz targets
//! (`fuzz/` at the repository's root) and this crate's property tests: each check takes input
//! anyone could have written and panics when the code under test does not hold up.
//!
//! Not part of the API: built for this crate's tests, and with the `fuzzing` feature.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::codec::{Decoder, Encoder};

use crate::{
    ErrorCode, Frame, FrameCodec, FrameError, HEADER_LEN, Hello, Kind, PREFIX_LEN, Worker,
};

/// What decoding a byte stream gave: the frames, then how it ended.
#[derive(Debug)]
pub struct Decoded {
    /// The frames, in order.
    pub frames: Vec<Frame>,
    /// The error that ended the stream (as its `Display`), or `None` at a clean end.
    pub error: Option<String>,
    /// The most capacity the decoder's buffer had.
    pub peak_capacity: usize,
}

/// Decodes `wire` as a reader would receive it, in pieces cut at `cuts` (each a length; the
/// last piece is what is left), stopping at the first error.
///
/// # Panics
///
/// If the codec fails with an I/O error, which bytes alone cannot cause.
pub fn decode_in_pieces(wire: &[u8], cuts: &[usize], max_frame: usize) -> Decoded {
    let mut codec = FrameCodec::new(max_frame);
    let mut buffer = BytesMut::new();
    let mut decoded = Decoded {
        frames: Vec::new(),
        error: None,
        peak_capacity: 0,
    };
    let mut rest = wire;
    let mut cuts = cuts.iter();
    loop {
        let take = cuts.next().map_or(rest.len(), |&cut| cut.min(rest.len()));
        let (piece, after) = rest.split_at(take);
        rest = after;
        buffer.extend_from_slice(piece);
        let at_end = rest.is_empty();
        loop {
            let next = if at_end {
                codec.decode_eof(&mut buffer)
            } else {
                codec.decode(&mut buffer)
            };
            decoded.peak_capacity = decoded.peak_capacity.max(buffer.capacity());
            match next {
                Ok(Some(frame)) => decoded.frames.push(frame),
                Ok(None) => break,
                Err(FrameError::Io(error)) => panic!("bytes alone caused an I/O error: {error}"),
                Err(error) => {
                    decoded.error = Some(error.to_string());
                    return decoded;
                }
            }
        }
        if at_end {
            return decoded;
        }
    }
}

/// Frames as the codec writes them.
///
/// # Panics
///
/// If a frame the codec decoded cannot be encoded again.
pub fn encode_all(frames: &[Frame], max_frame: usize) -> Vec<u8> {
    let mut codec = FrameCodec::new(max_frame);
    let mut wire = BytesMut::new();
    for frame in frames {
        codec
            .encode(frame.clone(), &mut wire)
            .expect("a frame read under a limit is written under it");
    }
    wire.to_vec()
}

/// The frame codec on any bytes, in any pieces. Asserts that:
///
/// - decoding `wire` in the pieces `cuts` and whole gives the same frames and the same error;
/// - every frame decoded, encoded again, is the bytes it came from (the reserved flags byte
///   aside): so decode ∘ encode is the identity;
/// - a refusal is a typed [`FrameError`] (never an I/O error or a panic);
/// - the buffer never grows past what was fed plus one frame of the limit: a length over the
///   limit is refused before anything is allocated for it.
///
/// # Panics
///
/// When one of these does not hold.
pub fn frame_stream(wire: &[u8], cuts: &[usize], max_frame: usize) {
    let max_frame = max_frame.max(HEADER_LEN);
    let pieces = decode_in_pieces(wire, cuts, max_frame);
    let whole = decode_in_pieces(wire, &[], max_frame);
    assert_eq!(
        pieces.frames, whole.frames,
        "the frames depend on the pieces"
    );
    assert_eq!(pieces.error, whole.error, "the error depends on the pieces");
    let bound = 2 * (wire.len() + PREFIX_LEN + HEADER_LEN) + PREFIX_LEN + max_frame;
    assert!(
        pieces.peak_capacity <= bound,
        "{} bytes of buffer for {} bytes fed under a {max_frame}-byte limit",
        pieces.peak_capacity,
        wire.len()
    );
    let again = encode_all(&whole.frames, max_frame);
    let mut read = wire[..again.len()].to_vec();
    let mut at = 0;
    for frame in &whole.frames {
        read[at + PREFIX_LEN + 1] = 0;
        at += PREFIX_LEN + frame.encoded_len();
    }
    assert_eq!(
        again, read,
        "a frame written again differs from what was read"
    );
    assert_eq!(
        decode_in_pieces(&again, cuts, max_frame).frames,
        whole.frames,
        "decode ∘ encode is not the identity"
    );
}

/// A reader that hands out its bytes in pieces (one piece, at most, per read; the rest whole
/// once the cuts run out), then the end: a pipe as a reader may find it.
#[derive(Debug)]
pub struct Pieces {
    data: Bytes,
    cuts: Vec<usize>,
    /// The next cut.
    at: usize,
}

impl Pieces {
    /// `data`, cut after each of `cuts` bytes in turn (a cut of 0 is taken as 1).
    pub fn new(data: impl Into<Bytes>, cuts: &[usize]) -> Pieces {
        Pieces {
            data: data.into(),
            cuts: cuts.to_owned(),
            at: 0,
        }
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

impl AsyncRead for Pieces {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let want = this
            .cuts
            .get(this.at)
            .map_or(this.data.len(), |&cut| cut.max(1));
        this.at += 1;
        let n = want.min(this.data.len()).min(buf.remaining());
        buf.put_slice(&this.data.split_to(n));
        Poll::Ready(Ok(()))
    }
}

/// A writer that keeps everything written to it.
#[derive(Debug, Clone, Default)]
struct Kept(Arc<Mutex<Vec<u8>>>);

impl AsyncWrite for Kept {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The methods of the worker that [`worker_session`] serves.
fn test_worker(concurrency: u32, max_frame: usize) -> Worker {
    let worker = Worker::new()
        .method("echo", |input: Bytes| async move { Ok::<_, String>(input) })
        .method("fail", |_| async { Err::<Bytes, _>("asked to fail") })
        .concurrency(concurrency)
        .max_frame(max_frame);
    #[cfg(feature = "json")]
    let worker = worker.typed("add", |(a, b): (i64, i64)| async move {
        a.checked_add(b).ok_or("overflow")
    });
    worker
}

/// The Rust [`Worker`] read from any bytes, in any pieces, as if a pool had sent them.
/// Asserts that:
///
/// - it ends without a panic, with an `InvalidData` error exactly when what it read breaks the
///   protocol before a Shutdown (a malformed frame, or a frame a worker does not expect);
/// - what it writes is well-formed frames: a Hello first (which parses, and states its
///   settings), then only Replies, Errors and Pongs, each within its frame limit (nothing at
///   all when the input ended before it could write: nobody reads it then);
/// - every call gets at most one answer (exactly one when a Shutdown ended the input), every
///   ping at most one pong (exactly one before a Shutdown): an answer for the call of that id,
///   an `echo` answered with its own payload, a typed `add` with the sum or a `bad_request`.
///
/// # Panics
///
/// When one of these does not hold.
pub fn worker_session(input: &[u8], cuts: &[usize], concurrency: u32, max_frame: usize) {
    let concurrency = concurrency.clamp(1, 64);
    let max_frame = max_frame.max(HEADER_LEN);
    let worker = test_worker(concurrency, max_frame);
    let out = Kept::default();
    let reader = Pieces::new(Bytes::copy_from_slice(input), cuts);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let result = runtime.block_on(worker.serve_on(reader, out.clone()));
    drop(runtime);

    // What the worker was sent, up to the first frame that ends the session.
    let sent = decode_in_pieces(input, &[], max_frame);
    let mut calls: HashMap<u64, Vec<&Frame>> = HashMap::new();
    let mut pings: HashMap<u64, usize> = HashMap::new();
    let mut cancels = std::collections::HashSet::new();
    let mut ending = None;
    for frame in &sent.frames {
        match frame.kind {
            Kind::Call => calls.entry(frame.id).or_default().push(frame),
            Kind::Ping => *pings.entry(frame.id).or_default() += 1,
            Kind::Cancel => {
                cancels.insert(frame.id);
            }
            other => {
                ending = Some(other);
                break;
            }
        }
    }
    let shut_down = ending == Some(Kind::Shutdown);
    let broken = !shut_down && (ending.is_some() || sent.error.is_some());
    match &result {
        Ok(()) => assert!(
            !broken,
            "a worker accepted a session that breaks the protocol"
        ),
        Err(error) => {
            assert!(broken, "a worker failed on a valid session: {error}");
            assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{error}");
        }
    }

    let written = out.0.lock().expect("not poisoned").clone();
    if written.is_empty() {
        // The input ended (or broke) before the worker's writer ran: nobody reads it then.
        assert!(!shut_down, "a worker shut down without its hello");
        return;
    }
    let answers = decode_in_pieces(&written, &[], usize::MAX);
    assert_eq!(answers.error, None, "the worker wrote a malformed frame");
    let (hello, answers) = answers.frames.split_first().expect("a hello first");
    assert_eq!(hello.kind, Kind::Hello);
    let hello = Hello::parse(&hello.payload).expect("the worker's hello parses");
    assert_eq!(
        (hello.concurrency, hello.max_frame),
        (concurrency, max_frame as u64)
    );
    let mut answered: HashMap<u64, usize> = HashMap::new();
    let mut ponged: HashMap<u64, usize> = HashMap::new();
    for answer in answers {
        assert!(
            answer.encoded_len() <= max_frame.max(HEADER_LEN + answer.name.len()),
            "a frame of {} bytes over the worker's limit of {max_frame}",
            answer.encoded_len()
        );
        match answer.kind {
            Kind::Pong => *ponged.entry(answer.id).or_default() += 1,
            Kind::Reply | Kind::Error => {
                *answered.entry(answer.id).or_default() += 1;
                let sent = calls
                    .get(&answer.id)
                    .unwrap_or_else(|| panic!("an answer for call {}, never sent", answer.id));
                check_answer(answer, sent, cancels.contains(&answer.id));
            }
            other => panic!("a worker wrote a {other:?} frame"),
        }
    }
    for (id, sent) in &calls {
        let got = answered.get(id).copied().unwrap_or(0);
        assert!(
            got <= sent.len(),
            "call {id}: {got} answers to {} calls",
            sent.len()
        );
        if shut_down {
            assert_eq!(
                got,
                sent.len(),
                "call {id} not answered before the shutdown"
            );
        }
    }
    for (id, got) in &ponged {
        let sent = pings.get(id).copied().unwrap_or(0);
        assert!(*got <= sent, "ping {id}: {got} pongs to {sent} pings");
    }
    if shut_down {
        assert_eq!(ponged, pings, "pings unanswered before the shutdown");
    }
}

/// Whether `answer` is one the worker may give to one of the calls sent under its id
/// (`cancelled`: whether a cancel for that id was sent).
fn check_answer(answer: &Frame, sent: &[&Frame], cancelled: bool) {
    let served = |name: &str| name == "echo" || name == "fail" || (name == "add" && JSON);
    let fits = |call: &Frame| match answer.kind {
        Kind::Reply => match call.name.as_str() {
            "echo" => answer.payload == call.payload,
            "add" => add(&call.payload) == Some(Some(answer.payload.to_vec())),
            _ => false,
        },
        _ => match ErrorCode::parse(&answer.name) {
            ErrorCode::Overloaded | ErrorCode::TooLarge => true,
            ErrorCode::Cancelled => cancelled,
            // The same id again while the first call of it is in flight.
            ErrorCode::BadRequest if sent.len() > 1 => true,
            ErrorCode::BadRequest => call.name == "add" && add(&call.payload).is_none(),
            ErrorCode::Failed => match call.name.as_str() {
                "fail" => true,
                "add" => add(&call.payload) == Some(None),
                _ => false,
            },
            ErrorCode::UnknownMethod => !served(&call.name),
            _ => false,
        },
    };
    assert!(
        sent.iter().any(|call| fits(call)),
        "{:?} {:?} {:?} is no answer to {sent:?}",
        answer.kind,
        answer.name,
        String::from_utf8_lossy(&answer.payload),
    );
}

/// Whether the typed `add` method is served (the `json` feature).
const JSON: bool = cfg!(feature = "json");

/// What `add` makes of a payload: `None` if it is not two integers as JSON, else their sum as
/// its reply, if it fits.
fn add(payload: &[u8]) -> Option<Option<Vec<u8>>> {
    let (a, b): (i64, i64) = serde_json::from_slice(payload).ok()?;
    Some(a.checked_add(b).map(|sum| sum.to_string().into_bytes()))
}

/// A hello's payload, whatever it holds. Asserts that a payload is either refused with a
/// message that says it is the hello that is wrong, or read into a [`Hello`] that states a
/// usable worker (at least one call at once, a frame limit that holds a header) and reads
/// back the same once written.
///
/// # Panics
///
/// When one of these does not hold.
pub fn hello(payload: &[u8]) {
    match Hello::parse(payload) {
        Ok(hello) => {
            assert!(hello.concurrency >= 1, "{hello:?}");
            assert!(hello.max_frame >= HEADER_LEN as u64, "{hello:?}");
            assert_eq!(Hello::parse(&hello.to_json()), Ok(hello));
        }
        Err(message) => assert!(message.starts_with("hello"), "{message}"),
    }
}

/// An error frame's name, whatever it holds: the code it is read as is written back as the
/// same name.
///
/// # Panics
///
/// When it is not.
pub fn error_code(name: &str) {
    let code = ErrorCode::parse(name);
    assert_eq!(code.as_str(), name);
    assert_eq!(ErrorCode::parse(code.as_str()), code);
    assert_eq!(code.to_string(), name);
}

#[cfg(test)]
mod properties;
