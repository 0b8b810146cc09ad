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
//! - `overloaded`: answers every call `overloaded` (sent back, it would come again for ever);
//! - `deaf`: never reads its stdin (the pool's writes to it wait), and answers nothing;
//! - `stderr`: writes to stderr without end, lines and no lines, and answers nothing.

use std::io::{self, Read, Write};

use process_pool_guests::kind::{CALL, ERROR, PONG, REPLY, SHUTDOWN};
use process_pool_guests::{MAX_FRAME, frame, hello, read_frame, send};

/// Calls, one after another, until the end of input or a shutdown.
fn calls(input: &mut impl Read, mut each: impl FnMut(u64, Vec<u8>) -> io::Result<()>) -> io::Result<()> {
    while let Some(frame) = read_frame(input)? {
        match frame.kind {
            CALL => each(frame.id, frame.payload)?,
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
    send(&mut out, &hello(&["echo"], 4))?;
    match case.as_str() {
        "echo" => calls(&mut input, |id, payload| send(&mut out, &frame(REPLY, id, b"", &payload))),
        "flood" => {
            let pongs: Vec<u8> = (0..4096).flat_map(|id| frame(PONG, 1 << 40 | id, b"", b"")).collect();
            loop {
                send(&mut out, &pongs)?;
            }
        }
        "max-frames" => {
            let big = frame(REPLY, u64::MAX, b"", &vec![b'x'; MAX_FRAME - 12]);
            loop {
                send(&mut out, &big)?;
            }
        }
        "unsent" => calls(&mut input, |id, payload| {
            send(&mut out, &frame(REPLY, id.wrapping_add(1_000_000), b"", &payload))
        }),
        "repeat" => calls(&mut input, |id, payload| {
            let reply = frame(REPLY, id, b"", &payload);
            for _ in 0..10_000 {
                send(&mut out, &reply)?;
            }
            Ok(())
        }),
        "interleave" => calls(&mut input, |id, payload| {
            send(&mut out, &frame(REPLY, id, b"", &payload))?;
            send(&mut out, &frame(99, id, b"", b"an unknown kind"))?;
            send(&mut out, b"\x00\x00\x00\x02not a frame")
        }),
        "overloaded" => calls(&mut input, |id, _| {
            send(&mut out, &frame(ERROR, id, b"overloaded", b"too many calls at once"))
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
