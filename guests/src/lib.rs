//! What the guest workers share: the process-pool protocol (PROTOCOL.md) written by hand with
//! std alone, as a worker in any language would.

use std::io::{self, Read, Write};

/// Frame kinds, as PROTOCOL.md numbers them.
pub mod kind {
    pub const HELLO: u8 = 1;
    pub const CALL: u8 = 2;
    pub const REPLY: u8 = 3;
    pub const ERROR: u8 = 4;
    pub const CANCEL: u8 = 5;
    pub const PING: u8 = 6;
    pub const PONG: u8 = 7;
    pub const SHUTDOWN: u8 = 8;
}

/// The largest frame a guest worker accepts (the protocol's default).
pub const MAX_FRAME: usize = 16 << 20;

/// One frame as read.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub id: u64,
    pub name: String,
    pub payload: Vec<u8>,
}

/// A frame's bytes: the length, the header, the name, the payload.
pub fn frame(kind: u8, id: u64, name: &[u8], payload: &[u8]) -> Vec<u8> {
    let len = 12 + name.len() + payload.len();
    let mut frame = Vec::with_capacity(4 + len);
    frame.extend_from_slice(&(len as u32).to_be_bytes());
    frame.extend_from_slice(&[kind, 0]);
    frame.extend_from_slice(&(name.len() as u16).to_be_bytes());
    frame.extend_from_slice(&id.to_be_bytes());
    frame.extend_from_slice(name);
    frame.extend_from_slice(payload);
    frame
}

/// Writes bytes whole, then flushes: the pool sees a frame once it is flushed.
pub fn send(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}

/// Writes one frame.
pub fn write_frame(out: &mut impl Write, kind: u8, id: u64, name: &[u8], payload: &[u8]) -> io::Result<()> {
    send(out, &frame(kind, id, name, payload))
}

/// The hello of a worker serving `methods`, `concurrency` calls at once.
pub fn hello(methods: &[&str], concurrency: u32) -> Vec<u8> {
    let methods: Vec<String> = methods.iter().map(|m| format!("\"{m}\"")).collect();
    let json = format!(
        r#"{{"protocol": 1, "methods": [{}], "concurrency": {concurrency}, "max_frame": {MAX_FRAME}}}"#,
        methods.join(", ")
    );
    frame(kind::HELLO, 0, b"", json.as_bytes())
}

/// The next frame, or `None` at the end of input.
pub fn read_frame(input: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut prefix = [0; 4];
    match input.read_exact(&mut prefix) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(prefix) as usize;
    if !(12..=MAX_FRAME).contains(&len) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame of {len} bytes")));
    }
    let mut body = vec![0; len];
    input.read_exact(&mut body)?;
    let name_len = u16::from_be_bytes([body[2], body[3]]) as usize;
    let id = u64::from_be_bytes(body[4..12].try_into().expect("8 bytes"));
    let name = body.get(12..12 + name_len).unwrap_or_default();
    let payload = body.get(12 + name_len..).unwrap_or_default();
    Ok(Some(Frame {
        kind: body[0],
        id,
        name: String::from_utf8_lossy(name).into_owned(),
        payload: payload.to_vec(),
    }))
}
