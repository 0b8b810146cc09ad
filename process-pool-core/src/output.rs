//! A job's live output: [`OutputLine`]s on a channel, as the job writes them
//! ([`Job::output_lines`](crate::Job::output_lines)).

use bytes::Bytes;

/// Which of a job's output streams a line comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum Stream {
    /// Its standard output.
    Stdout,
    /// Its standard error.
    Stderr,
}

impl Stream {
    /// `stdout` or `stderr`.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// A line of a job's output, delivered as it is written.
///
/// Lines come in order per stream; each attempt of a retried job delivers its own (tell them
/// apart by `attempt`). A line longer than [`MAX_LINE`](crate::backend::MAX_LINE) comes in
/// pieces, each but the last with `complete` false, as does a last line without a newline.
/// Each stream delivers at most the job's output limit: the line that reaches it is cut and
/// marked `truncated`, and nothing more of that stream follows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutputLine {
    /// The stream it was written to.
    pub stream: Stream,
    /// The attempt that wrote it (1 for the first).
    pub attempt: u32,
    /// The bytes, its newline included when it has one.
    pub bytes: Bytes,
    /// Whether it ends with its newline.
    pub complete: bool,
    /// Whether the stream reached the output limit here: nothing more of it follows.
    pub truncated: bool,
}
