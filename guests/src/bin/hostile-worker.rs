//! `hostile-worker CASE`: a warm worker (PROTOCOL.md, written with std alone) that attacks
//! the pool reading it, for the tests that show a pool contains it. Built for wasm32-wasip1
//! and wasip2 (a sandboxed worker) and natively (a native one) by `cargo xtask guests`.
//!
//! Every case says hello first (serving `echo`, up to 4 calls at once), then:
//!
//! - `echo`: behaves: answers each call with its payload (a neighbour to measure against);
//! - `flood`: writes Pong frames as fast as it can, for pings never sent, reading nothing;
//! - `max-frames`: writes frames of the largest size the pool accepts (16 MiB), again and
//!   again, as answers to a call never sent;
//! - `unsent`: answers each call it is sent under another id, never sent;
//! - `repeat`: answers its first call 10,000 times;
//! - `interleave`: answers each call, then writes a frame of an unknown kind, then bytes that
//!   are not a frame;
//! - `deaf`: never reads its stdin (the pool's writes to it wait), and answers nothing;
//! - `stderr`: writes to stderr without end, lines and no lines, and answers nothing.

use std::io::{self, Read, Write};

const HELLO: u8 = 1;
const CALL: u8 = 2;
const REPLY: u8 = 3;
const PONG: u8 = 7;
const SHUTDOWN: u8 = 8;
const MAX_FRAME: usize = 16 << 20;

fn frame(kind: u8, id: u64, payload: &[u8]) -> Vec<u8> {
    let len = 12 + payload.len();
    let mut frame = Vec::with_capacity(4 + len);
    frame.extend_from_slice(&(len as u32).to_be_bytes());
    frame.extend_from_slice(&[kind, 0, 0, 0]);
    frame.extend_from_slice(&id.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

fn send(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}

/// The next frame's kind, id and payload (its name skipped), or `None` at the end of input.
fn read_frame(input: &mut impl Read) -> io::Result<Option<(u8, u64, Vec<u8>)>> {
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
    let payload = body.get(12 + name_len..).unwrap_or_default().to_vec();
    Ok(Some((body[0], id, payload)))
}

/// Calls, one after another, until the end of input or a shutdown.
fn calls(input: &mut impl Read, mut each: impl FnMut(u64, Vec<u8>) -> io::Result<()>) -> io::Result<()> {
    while let Some((kind, id, payload)) = read_frame(input)? {
        match kind {
            CALL => each(id, payload)?,
            SHUTDOWN => return Ok(()),
            _ => {}
        }
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let case = std::env::args().nth(1).unwrap_or_default();
    let mut input = io::stdin().lock();
    let mut out = io::stdout().lock();
    let hello = format!(r#"{{"protocol": 1, "methods": ["echo"], "concurrency": 4, "max_frame": {MAX_FRAME}}}"#);
    send(&mut out, &frame(HELLO, 0, hello.as_bytes()))?;
    match case.as_str() {
        "echo" => calls(&mut input, |id, payload| send(&mut out, &frame(REPLY, id, &payload))),
        "flood" => {
            let pongs: Vec<u8> = (0..4096).flat_map(|id| frame(PONG, 1 << 40 | id, b"")).collect();
            loop {
                send(&mut out, &pongs)?;
            }
        }
        "max-frames" => {
            let big = frame(REPLY, u64::MAX, &vec![b'x'; MAX_FRAME - 12]);
            loop {
                send(&mut out, &big)?;
            }
        }
        "unsent" => calls(&mut input, |id, payload| {
            send(&mut out, &frame(REPLY, id.wrapping_add(1_000_000), &payload))
        }),
        "repeat" => calls(&mut input, |id, payload| {
            let reply = frame(REPLY, id, &payload);
            for _ in 0..10_000 {
                send(&mut out, &reply)?;
            }
            Ok(())
        }),
        "interleave" => calls(&mut input, |id, payload| {
            send(&mut out, &frame(REPLY, id, &payload))?;
            send(&mut out, &frame(99, id, b"an unknown kind"))?;
            send(&mut out, b"\x00\x00\x00\x02not a frame")
        }),
        "deaf" => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        "stderr" => {
            let mut err = io::stderr().lock();
            let line = [b"a line of stderr\n".as_slice(), &[b'x'; 64 << 10]].concat();
            loop {
                err.write_all(&line)?;
            }
        }
        other => {
            eprintln!("hostile-worker: unknown case `{other}`");
            std::process::exit(2);
        }
    }
}
