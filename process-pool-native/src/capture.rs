//! Reading a child's output into a bounded buffer, and writing its stdin.

use std::future::Future;

use bytes::Bytes;
use process_pool_core::OutputLine;
use process_pool_core::backend::{CappedBuffer, LineSplitter};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Bytes read from a pipe at a time.
const CHUNK: usize = 64 << 10;

/// Where a stream's live lines go: the job's channel, and the splitter that cuts them.
pub(crate) type Lines = (LineSplitter, mpsc::Sender<OutputLine>);

/// Sends `lines` on, until the reader is gone (then the job's output is only captured).
async fn deliver(to: &mut Option<Lines>, lines: Vec<OutputLine>) {
    let Some((_, tx)) = to else { return };
    for line in lines {
        if tx.send(line).await.is_err() {
            *to = None;
            return;
        }
    }
}

/// Reads `pipe` to its end, keeping at most `limit` bytes and draining the rest, or until
/// `abandon` completes (a process that escaped the job's group still holds the pipe open).
/// With `lines`, each line is also sent on as it comes (waiting for room on the channel).
pub(crate) async fn read_capped<R, A>(
    pipe: Option<R>,
    limit: usize,
    abandon: A,
    mut lines: Option<Lines>,
) -> (Bytes, bool)
where
    R: AsyncRead + Unpin,
    A: Future<Output = ()>,
{
    let mut kept = CappedBuffer::new(limit);
    let Some(mut pipe) = pipe else {
        return kept.finish();
    };
    let read_all = async {
        let mut chunk = Vec::with_capacity(CHUNK);
        loop {
            chunk.clear();
            match pipe.read_buf(&mut chunk).await {
                Ok(0) => break,
                Ok(_) => {
                    kept.extend(&chunk);
                    if let Some((splitter, _)) = &mut lines {
                        let complete = splitter.push(&chunk);
                        deliver(&mut lines, complete).await;
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "reading a job's output failed; keeping what was read");
                    break;
                }
            }
        }
        if let Some((splitter, _)) = &mut lines {
            let last = splitter.finish();
            deliver(&mut lines, last).await;
        }
    };
    tokio::select! {
        () = read_all => {}
        () = abandon => tracing::debug!("a job's output pipe outlived its process group; stopped reading"),
    }
    kept.finish()
}

/// Writes `bytes` to the child's stdin and closes it. A child that exits without reading it all
/// (a broken pipe) is not an error.
pub(crate) async fn feed<W, A>(pipe: Option<W>, bytes: Option<&Bytes>, abandon: A)
where
    W: AsyncWrite + Unpin,
    A: Future<Output = ()>,
{
    let (Some(mut pipe), Some(bytes)) = (pipe, bytes) else {
        return;
    };
    tokio::select! {
        written = pipe.write_all(bytes) => {
            if let Err(error) = written {
                tracing::trace!(%error, "the job did not read all of its stdin");
            }
        }
        () = abandon => {}
    }
    // Dropping the pipe closes it: the job sees end-of-file.
}
