//! What the stderr of `salloc`/`srun` and of the worker says about a start: read, logged,
//! kept as a tail and parsed into [`Event`]s; a failed `salloc` as a typed error.

use std::sync::{Arc, PoisonError};

use process_pool_core::backend::{MAX_LOG_LINE, WorkerId};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use super::control::Control;
use crate::agent::READY_PREFIX;
use crate::error::SlurmError;

/// What the stderr of `salloc`/`srun` tells about the start.
#[derive(Debug)]
pub(super) enum Event {
    Pending(String),
    Granted(String),
    Ready {
        job: String,
        step: String,
        node: String,
    },
    Error(String),
}

fn parse_event(line: &str) -> Option<Event> {
    let last_word = || line.split_whitespace().last().map(str::to_owned);
    if line.starts_with("salloc: Pending job allocation") {
        return last_word().map(Event::Pending);
    }
    if line.starts_with("salloc: Granted job allocation") {
        return last_word().map(Event::Granted);
    }
    if let Some(rest) = line.strip_prefix("salloc: job ")
        && rest.contains("queued and waiting")
    {
        return rest
            .split_whitespace()
            .next()
            .map(|j| Event::Pending(j.to_owned()));
    }
    if let Some(rest) = line.strip_prefix(READY_PREFIX) {
        let field = |name: &str| {
            rest.split_whitespace()
                .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or("-")
                .to_owned()
        };
        return Some(Event::Ready {
            job: field("job"),
            step: field("step"),
            node: field("node"),
        });
    }
    if line.contains("error:") {
        return Some(Event::Error(line.to_owned()));
    }
    None
}

/// Reads the stderr of `salloc`/`srun` and the worker: each line logged (cut at
/// [`MAX_LOG_LINE`] bytes), the tail kept, and what it says about the start sent on.
pub(super) async fn read_stderr(
    stderr: impl AsyncRead + Unpin,
    id: WorkerId,
    control: Arc<Control>,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut stderr = BufReader::new(stderr);
    let mut line = Vec::new();
    while let Ok(true) = next_line(&mut stderr, &mut line).await {
        let text = String::from_utf8_lossy(&line);
        tracing::info!(target: "process_pool::worker", worker = id, "{text}");
        if let Some(event) = parse_event(&text) {
            if let Event::Ready { job, step, node } = &event {
                if !control.own_allocation && job != "-" {
                    *control
                        .target
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(format!("{job}.{step}"));
                }
                if node != "-" {
                    *control.node.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(node.clone());
                }
            }
            let _ = events.send(event);
        }
        if !text.starts_with(READY_PREFIX) {
            control.tail.push(&line);
            control.tail.push(b"\n");
        }
    }
}

/// Reads the next line of `reader` into `line` (without its newline), keeping its first
/// [`MAX_LOG_LINE`] bytes: the rest of a longer one is read and dropped, so that a worker
/// writing to stderr without a newline costs no more than a short line. `false` at the end.
async fn next_line(
    reader: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
) -> std::io::Result<bool> {
    line.clear();
    let mut read_any = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(read_any);
        }
        read_any = true;
        let newline = buf.iter().position(|&b| b == b'\n');
        let end = newline.unwrap_or(buf.len());
        let room = MAX_LOG_LINE.saturating_sub(line.len());
        line.extend_from_slice(&buf[..end.min(room)]);
        reader.consume(newline.map_or(end, |at| at + 1));
        if newline.is_some() {
            return Ok(true);
        }
    }
}

/// A failed `salloc` as a typed error.
pub(super) fn classify(errors: &[String], tail: &str) -> SlurmError {
    let message = if errors.is_empty() {
        tail.trim().to_owned()
    } else {
        errors.join("; ")
    };
    if message.contains("invalid partition specified") {
        let partition = message
            .rsplit(':')
            .next()
            .map(|p| p.trim().to_owned())
            .unwrap_or_default();
        return SlurmError::UnknownPartition {
            partition,
            known: Vec::new(),
        };
    }
    if message.contains("Unable to contact slurm controller")
        || message.contains("Invalid user for SlurmUser")
    {
        return SlurmError::NotReachable { reason: message };
    }
    SlurmError::Refused {
        command: "salloc".into(),
        message: if message.is_empty() {
            "it ended without an allocation".into()
        } else {
            message
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salloc_and_agent_lines() {
        assert!(matches!(
            parse_event("salloc: Granted job allocation 42"),
            Some(Event::Granted(j)) if j == "42"
        ));
        assert!(matches!(
            parse_event("salloc: Pending job allocation 43"),
            Some(Event::Pending(j)) if j == "43"
        ));
        assert!(matches!(
            parse_event("salloc: job 44 queued and waiting for resources"),
            Some(Event::Pending(j)) if j == "44"
        ));
        assert!(matches!(
            parse_event("process-pool-agent: ready node=n2 job=45 step=3 pid=9 cpus=2"),
            Some(Event::Ready { job, step, node }) if job == "45" && step == "3" && node == "n2"
        ));
        assert!(parse_event("hello").is_none());
    }

    /// A worker on a node that writes to stderr without a newline: before, the whole of it
    /// was gathered as one line, in the pool's memory.
    #[tokio::test]
    async fn a_line_without_end_costs_no_more_than_a_short_one() {
        use tokio::io::AsyncReadExt;
        let endless = tokio::io::repeat(b'x').take(64 << 20);
        let tail = b"\nsalloc: Granted job allocation 7\n".as_slice();
        let mut reader = BufReader::new(endless.chain(tail));
        let mut line = Vec::new();
        assert!(next_line(&mut reader, &mut line).await.unwrap());
        assert_eq!(line.len(), MAX_LOG_LINE);
        assert!(line.capacity() <= 2 * MAX_LOG_LINE, "{}", line.capacity());
        assert!(next_line(&mut reader, &mut line).await.unwrap());
        assert!(matches!(
            parse_event(&String::from_utf8_lossy(&line)),
            Some(Event::Granted(job)) if job == "7"
        ));
        assert!(!next_line(&mut reader, &mut line).await.unwrap());
    }

    #[test]
    fn salloc_failures_are_typed() {
        let e = classify(
            &["salloc: error: invalid partition specified: nope".to_owned()],
            "",
        );
        assert!(matches!(e, SlurmError::UnknownPartition { partition, .. } if partition == "nope"));
        let e = classify(&[], "salloc: something odd");
        assert!(matches!(e, SlurmError::Refused { .. }));
    }
}
