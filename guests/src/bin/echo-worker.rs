//! A warm worker inside the WASI sandbox: the process-pool protocol (PROTOCOL.md) on stdin and
//! stdout, written with std alone, one call at a time.
//!
//! Methods: `echo`, `upper`, `id` (the worker's `PROCESS_POOL_WORKER_ID`), `leak` (keeps N MiB
//! more of linear memory), `spin` (loops forever and never reads its cancel), `fail` (answers
//! with an error), `die` (aborts: a trap ends the worker).

use std::io::{self, Read, Write};

const HELLO: u8 = 1;
const CALL: u8 = 2;
const REPLY: u8 = 3;
const ERROR: u8 = 4;
const CANCEL: u8 = 5;
const PING: u8 = 6;
const PONG: u8 = 7;
const SHUTDOWN: u8 = 8;
const MAX_FRAME: usize = 16 << 20;

struct Frame {
    kind: u8,
    id: u64,
    name: String,
    payload: Vec<u8>,
}

fn write_frame(out: &mut impl Write, kind: u8, id: u64, name: &[u8], payload: &[u8]) -> io::Result<()> {
    let len = 12 + name.len() + payload.len();
    let mut frame = Vec::with_capacity(4 + len);
    frame.extend_from_slice(&(len as u32).to_be_bytes());
    frame.extend_from_slice(&[kind, 0]);
    frame.extend_from_slice(&(name.len() as u16).to_be_bytes());
    frame.extend_from_slice(&id.to_be_bytes());
    frame.extend_from_slice(name);
    frame.extend_from_slice(payload);
    out.write_all(&frame)?;
    out.flush()
}

/// The next frame, or `None` at the end of input.
fn read_frame(input: &mut impl Read) -> io::Result<Option<Frame>> {
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
    let name = String::from_utf8_lossy(&body[12..12 + name_len]).into_owned();
    Ok(Some(Frame {
        kind: body[0],
        id,
        name,
        payload: body[12 + name_len..].to_vec(),
    }))
}

fn main() -> io::Result<()> {
    let mut input = io::stdin().lock();
    let mut out = io::stdout().lock();
    let hello = format!(
        r#"{{"protocol": 1, "methods": ["die", "echo", "fail", "id", "leak", "sleep", "spin", "upper"], "concurrency": 1, "max_frame": {MAX_FRAME}}}"#
    );
    write_frame(&mut out, HELLO, 0, b"", hello.as_bytes())?;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    while let Some(frame) = read_frame(&mut input)? {
        match frame.kind {
            CALL => {
                let reply: Result<Vec<u8>, (&str, String)> = match frame.name.as_str() {
                    "echo" => Ok(frame.payload),
                    "upper" => Ok(frame.payload.to_ascii_uppercase()),
                    "id" => Ok(std::env::var("PROCESS_POOL_WORKER_ID").unwrap_or_default().into_bytes()),
                    "leak" => {
                        let mib: usize = String::from_utf8_lossy(&frame.payload).trim().parse().unwrap_or(1);
                        kept.push(vec![1; mib << 20]);
                        Ok(kept.len().to_string().into_bytes())
                    }
                    "sleep" => {
                        let ms: u64 = String::from_utf8_lossy(&frame.payload).trim().parse().unwrap_or(1);
                        std::thread::sleep(std::time::Duration::from_millis(ms));
                        Ok(b"slept".to_vec())
                    }
                    "spin" => loop {
                        std::hint::spin_loop();
                    },
                    "fail" => Err(("failed", "asked to fail".to_owned())),
                    "die" => std::process::abort(),
                    other => Err(("unknown_method", format!("unknown method `{other}`"))),
                };
                match reply {
                    Ok(payload) => write_frame(&mut out, REPLY, frame.id, b"", &payload)?,
                    Err((code, message)) => {
                        write_frame(&mut out, ERROR, frame.id, code.as_bytes(), message.as_bytes())?
                    }
                }
            }
            // One call at a time: a cancel arrives only for a call already answered.
            CANCEL => {}
            PING => write_frame(&mut out, PONG, frame.id, b"", b"")?,
            SHUTDOWN => return Ok(()),
            other => eprintln!("echo-worker: unexpected frame kind {other}"),
        }
    }
    Ok(())
}
