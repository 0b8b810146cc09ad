//! Frames: the unit of the protocol, and their codec.
//!
//! On the wire a frame is a 4-byte big-endian length (of what follows), then a 12-byte header
//! (kind: u8, flags: u8, name length: u16, id: u64, all big-endian), then the name (UTF-8),
//! then the payload. See `PROTOCOL.md` at the repository's root.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// The longest name a frame can carry (a method, an error code): its length is a `u16`.
pub const MAX_NAME_LEN: usize = u16::MAX as usize;

/// Bytes before the name: kind, flags, name length, id.
pub const HEADER_LEN: usize = 12;
/// The length prefix.
pub const PREFIX_LEN: usize = 4;
/// The largest frame (header, name and payload) either side accepts unless told otherwise:
/// 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;

/// What a frame is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// Worker → pool, first frame: the [`Hello`](crate::Hello) as JSON; id 0.
    Hello = 1,
    /// Pool → worker: call the method `name` with the payload as argument.
    Call = 2,
    /// Worker → pool: the call `id` returned the payload.
    Reply = 3,
    /// Worker → pool: the call `id` failed; `name` is an [`ErrorCode`](crate::ErrorCode), the
    /// payload a UTF-8 message.
    Error = 4,
    /// Pool → worker: stop the call `id` if it can; it still gets one reply or error.
    Cancel = 5,
    /// Pool → worker: answer with a pong of the same id.
    Ping = 6,
    /// Worker → pool: the answer to a ping.
    Pong = 7,
    /// Pool → worker: finish the calls in flight, then exit.
    Shutdown = 8,
}

impl Kind {
    /// The kind with this wire value, if any.
    pub fn from_u8(value: u8) -> Option<Kind> {
        Some(match value {
            1 => Kind::Hello,
            2 => Kind::Call,
            3 => Kind::Reply,
            4 => Kind::Error,
            5 => Kind::Cancel,
            6 => Kind::Ping,
            7 => Kind::Pong,
            8 => Kind::Shutdown,
            _ => return None,
        })
    }
}

/// One message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What it is for.
    pub kind: Kind,
    /// The call it belongs to (chosen by the pool, unique among the calls in flight on a
    /// worker), or the ping's number; 0 for hello and shutdown.
    pub id: u64,
    /// The method of a call, the error code of an error; empty otherwise.
    pub name: String,
    /// The argument, the result, or the message.
    pub payload: Bytes,
}

impl Frame {
    /// A frame of `kind` for `id` with no name and no payload.
    pub fn bare(kind: Kind, id: u64) -> Frame {
        Frame {
            kind,
            id,
            name: String::new(),
            payload: Bytes::new(),
        }
    }

    /// A call of `method` with `payload`.
    pub fn call(id: u64, method: impl Into<String>, payload: impl Into<Bytes>) -> Frame {
        Frame {
            kind: Kind::Call,
            id,
            name: method.into(),
            payload: payload.into(),
        }
    }

    /// A reply to the call `id`.
    pub fn reply(id: u64, payload: impl Into<Bytes>) -> Frame {
        Frame {
            kind: Kind::Reply,
            id,
            name: String::new(),
            payload: payload.into(),
        }
    }

    /// An error for the call `id`.
    pub fn error(id: u64, code: crate::ErrorCode, message: impl Into<String>) -> Frame {
        Frame {
            kind: Kind::Error,
            id,
            name: code.as_str().to_owned(),
            payload: Bytes::from(message.into()),
        }
    }

    /// Its size on the wire after the length prefix.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.name.len() + self.payload.len()
    }
}

/// Why bytes could not be read or written as frames.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame is larger than the limit of the side reading (or about to write) it.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Its length after the prefix.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A frame's length cannot even hold its header.
    #[error("frame of {len} bytes is shorter than its {HEADER_LEN}-byte header")]
    TooShort {
        /// Its length after the prefix.
        len: usize,
    },
    /// The kind byte is not one of [`Kind`].
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// The name length runs past the frame.
    #[error("name of {name_len} bytes does not fit in a frame of {len} bytes")]
    BadNameLength {
        /// The name length in the header.
        name_len: usize,
        /// The frame's length after the prefix.
        len: usize,
    },
    /// The name is longer than a u16 can say.
    #[error("name of {0} bytes is longer than 65535")]
    NameTooLong(usize),
    /// The name is not UTF-8.
    #[error("frame name is not UTF-8")]
    NameNotUtf8,
    /// The stream ended inside a frame.
    #[error("the stream ended inside a frame ({0} bytes left over)")]
    Truncated(usize),
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads and writes [`Frame`]s, refusing any larger than `max_frame` bytes before allocating
/// for them.
///
/// ```
/// use bytes::BytesMut;
/// use process_pool_protocol::{Frame, FrameCodec};
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = FrameCodec::new(1024);
/// let mut wire = BytesMut::new();
/// codec.encode(Frame::call(7, "upper", "abc"), &mut wire).unwrap();
/// assert_eq!(codec.decode(&mut wire).unwrap(), Some(Frame::call(7, "upper", "abc")));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_frame: usize,
}

impl FrameCodec {
    /// A codec that accepts frames of up to `max_frame` bytes (after the length prefix) in
    /// both directions.
    pub fn new(max_frame: usize) -> FrameCodec {
        FrameCodec { max_frame }
    }

    /// The limit.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec::new(DEFAULT_MAX_FRAME)
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if src.len() < PREFIX_LEN {
            src.reserve(PREFIX_LEN + HEADER_LEN);
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len > self.max_frame {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_frame,
            });
        }
        if len < HEADER_LEN {
            return Err(FrameError::TooShort { len });
        }
        if src.len() < PREFIX_LEN + len {
            src.reserve(PREFIX_LEN + len - src.len());
            return Ok(None);
        }
        src.advance(PREFIX_LEN);
        let mut frame = src.split_to(len);
        let kind_byte = frame.get_u8();
        let kind = Kind::from_u8(kind_byte).ok_or(FrameError::UnknownKind(kind_byte))?;
        let _flags = frame.get_u8();
        let name_len = frame.get_u16() as usize;
        let id = frame.get_u64();
        if name_len > frame.len() {
            return Err(FrameError::BadNameLength { name_len, len });
        }
        let name = frame.split_to(name_len);
        let name = String::from_utf8(name.to_vec()).map_err(|_| FrameError::NameNotUtf8)?;
        Ok(Some(Frame {
            kind,
            id,
            name,
            payload: frame.freeze(),
        }))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(FrameError::Truncated(src.len())),
        }
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        let len = frame.encoded_len();
        if len > self.max_frame {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_frame,
            });
        }
        let name_len = u16::try_from(frame.name.len())
            .map_err(|_| FrameError::NameTooLong(frame.name.len()))?;
        let len32 = u32::try_from(len).map_err(|_| FrameError::TooLarge {
            len,
            max: u32::MAX as usize,
        })?;
        dst.reserve(PREFIX_LEN + len);
        dst.put_u32(len32);
        dst.put_u8(frame.kind as u8);
        dst.put_u8(0);
        dst.put_u16(name_len);
        dst.put_u64(frame.id);
        dst.put_slice(frame.name.as_bytes());
        dst.put_slice(&frame.payload);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(frame: Frame) -> BytesMut {
        let mut wire = BytesMut::new();
        FrameCodec::default().encode(frame, &mut wire).unwrap();
        wire
    }

    #[test]
    fn lays_out_the_header_as_documented() {
        let wire = encode(Frame::call(0x0102, "up", "xyz"));
        assert_eq!(
            &wire[..],
            &[
                0, 0, 0, 17, // length: 12 + 2 + 3
                2, 0, 0, 2, // kind Call, flags, name length
                0, 0, 0, 0, 0, 0, 1, 2, // id
                b'u', b'p', b'x', b'y', b'z',
            ]
        );
    }

    #[test]
    fn round_trips_every_kind_in_pieces() {
        let frames: Vec<Frame> = (1..=8)
            .map(|k| Frame {
                kind: Kind::from_u8(k).unwrap(),
                id: u64::from(k) << 40,
                name: "método".repeat(usize::from(k)),
                payload: Bytes::from(vec![k; usize::from(k) * 1000]),
            })
            .collect();
        let mut wire = BytesMut::new();
        for frame in &frames {
            wire.extend_from_slice(&encode(frame.clone()));
        }
        // Fed a byte at a time, as a pipe may deliver them.
        let mut codec = FrameCodec::default();
        let mut buffer = BytesMut::new();
        let mut decoded = Vec::new();
        for byte in wire {
            buffer.extend_from_slice(&[byte]);
            while let Some(frame) = codec.decode(&mut buffer).unwrap() {
                decoded.push(frame);
            }
        }
        assert_eq!(decoded, frames);
        assert!(codec.decode_eof(&mut buffer).unwrap().is_none());
    }

    #[test]
    fn refuses_an_oversized_frame_before_reading_it() {
        let mut codec = FrameCodec::new(100);
        // Only the prefix has arrived: it claims 4 GiB.
        let mut wire = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        let error = codec.decode(&mut wire).unwrap_err();
        assert!(matches!(
            error,
            FrameError::TooLarge {
                len: 0xffff_ffff,
                max: 100
            }
        ));
        assert!(wire.capacity() < 1024, "no allocation for the claimed size");
        assert_eq!(
            error.to_string(),
            "frame of 4294967295 bytes exceeds the limit of 100 bytes"
        );
        // And the writing side refuses too.
        let mut out = BytesMut::new();
        let error = codec
            .encode(Frame::reply(1, vec![0u8; 200]), &mut out)
            .unwrap_err();
        assert!(matches!(error, FrameError::TooLarge { len: 212, max: 100 }));
        assert!(out.is_empty());
    }

    #[test]
    fn names_what_is_malformed() {
        let mut codec = FrameCodec::default();
        let decode = |bytes: &[u8]| FrameCodec::default().decode(&mut BytesMut::from(bytes));
        assert!(matches!(
            decode(&[0, 0, 0, 3, 1, 2, 3]),
            Err(FrameError::TooShort { len: 3 })
        ));
        let mut bad_kind = encode(Frame::reply(1, "x"));
        bad_kind[4] = 99;
        assert!(matches!(
            codec.decode(&mut bad_kind),
            Err(FrameError::UnknownKind(99))
        ));
        let mut bad_name = encode(Frame::reply(1, "x"));
        bad_name[7] = 50;
        assert!(matches!(
            codec.decode(&mut bad_name),
            Err(FrameError::BadNameLength {
                name_len: 50,
                len: 13
            })
        ));
        let mut not_utf8 = encode(Frame::call(1, "ab", ""));
        not_utf8[16] = 0xff;
        assert!(matches!(
            codec.decode(&mut not_utf8),
            Err(FrameError::NameNotUtf8)
        ));
        let mut cut = encode(Frame::reply(1, "hello"));
        cut.truncate(10);
        assert!(matches!(
            codec.decode_eof(&mut cut),
            Err(FrameError::Truncated(10))
        ));
    }
}
