//! `--json`: one object per job and per line, for programs to read.
//!
//! `{"seq":1,"slot":1,"input":["a.txt"],"command":"wc -l a.txt","outcome":"exited","exit":0,
//! "signal":null,"timed_out":false,"error":null,"duration":0.0021,"attempts":1,
//! "stdout":"3 a.txt\n","stderr":"","stdout_truncated":false,"stderr_truncated":false}`
//!
//! `outcome` is one of `exited`, `signaled`, `timed_out`, `cancelled`, `spawn_failed`,
//! `trapped`, `exception` (Windows: the process was ended by an exception); `error` explains
//! the last three (an exception by its NTSTATUS code, `0xC0000005`, and its name). Text that is not UTF-8 has its bad bytes
//! replaced (U+FFFD).

use std::borrow::Cow;

use process_pool::Outcome;
use serde::Serialize;

use crate::output::Ended;

#[derive(Serialize)]
struct Line<'a> {
    seq: u64,
    slot: usize,
    input: Vec<Cow<'a, str>>,
    command: &'a str,
    outcome: &'static str,
    exit: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    error: Option<String>,
    duration: f64,
    attempts: u32,
    stdout: Cow<'a, str>,
    stderr: Cow<'a, str>,
    stdout_truncated: bool,
    stderr_truncated: bool,
}

/// The JSON line (newline included) for one job.
pub(crate) fn line(ended: &Ended, command: &str) -> Vec<u8> {
    let result = &ended.result;
    let (outcome, error) = match &result.outcome {
        Outcome::Exited(_) => ("exited", None),
        Outcome::Signaled(_) => ("signaled", None),
        Outcome::TimedOut => ("timed_out", None),
        Outcome::Cancelled => ("cancelled", None),
        Outcome::SpawnFailed(e) => ("spawn_failed", Some(e.to_string())),
        Outcome::Trapped(message) => ("trapped", Some(message.clone())),
        exception @ Outcome::Exception(_) => ("exception", Some(exception.to_string())),
        other => ("other", Some(other.to_string())),
    };
    let line = Line {
        seq: ended.record.seq,
        slot: ended.slot,
        input: ended
            .record
            .args
            .iter()
            .map(|a| String::from_utf8_lossy(a))
            .collect(),
        command,
        outcome,
        exit: result.exit_code(),
        signal: result.signal(),
        timed_out: result.timed_out(),
        error,
        duration: result.duration.as_secs_f64(),
        attempts: result.attempts,
        stdout: result.stdout_lossy(),
        stderr: result.stderr_lossy(),
        stdout_truncated: result.stdout_truncated,
        stderr_truncated: result.stderr_truncated,
    };
    let mut out = serde_json::to_vec(&line).unwrap_or_else(|e| {
        format!(
            r#"{{"seq":{},"error":"cannot encode: {e}"}}"#,
            ended.record.seq
        )
        .into_bytes()
    });
    out.push(b'\n');
    out
}
