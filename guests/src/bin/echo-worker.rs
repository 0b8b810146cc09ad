//! A warm worker inside the WASI sandbox: the process-pool protocol (PROTOCOL.md) on stdin and
//! stdout, written with std alone, one call at a time.
//!
//! Methods: `echo`, `upper`, `id` (the worker's `PROCESS_POOL_WORKER_ID`), `leak` (keeps N MiB
//! more of linear memory), `spin` (loops forever and never reads its cancel), `fail` (answers
//! with an error), `die` (aborts: a trap ends the worker).

use std::io;

use process_pool_guests::kind::{CALL, CANCEL, ERROR, PING, PONG, REPLY, SHUTDOWN};
use process_pool_guests::{hello, read_frame, send, write_frame};

fn main() -> io::Result<()> {
    let mut input = io::stdin().lock();
    let mut out = io::stdout().lock();
    let methods = ["die", "echo", "fail", "id", "leak", "sleep", "spin", "upper"];
    send(&mut out, &hello(&methods, 1))?;
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
