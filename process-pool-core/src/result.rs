//! [`JobResult`] and [`Outcome`]: what happened to a job.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::error::JobError;
use crate::stdio::SpillFile;

/// What names a job in its result: its program (as text), label and working directory.
pub(crate) type Identity = (String, Option<String>, Option<PathBuf>);

/// A pool-unique job number, in submission order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(transparent))]
pub struct JobId(pub(crate) u64);

impl JobId {
    /// The number itself.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// How a job ended.
///
/// The same on every platform, with two cases that belong to one each: [`Signaled`] happens
/// on Unix only, [`Exception`] on Windows only. On Windows an exit code is a 32-bit `DWORD`:
/// [`Exited`] holds its bits as an `i32` (`code as u32` reads the `DWORD` back, so
/// `0xFFFFFFFF`, `exit(-1)`, is `Exited(-1)`), except the codes of error severity that
/// Windows gives a process ended by an exception, which are [`Exception`]. A job the pool
/// stops (a timeout, a cancel) is [`TimedOut`] or [`Cancelled`] on every platform, whatever
/// ended its processes (signals on Unix, `TerminateJobObject` on Windows).
///
/// [`Signaled`]: Outcome::Signaled
/// [`Exception`]: Outcome::Exception
/// [`Exited`]: Outcome::Exited
/// [`TimedOut`]: Outcome::TimedOut
/// [`Cancelled`]: Outcome::Cancelled
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Outcome {
    /// The program exited by itself with this code (0 is success). On Windows, the exit code's
    /// 32 bits (`code as u32` gives the `DWORD` back).
    Exited(i32),
    /// The program was killed by this signal, not by the pool (Unix; never on Windows).
    Signaled(i32),
    /// The program was ended by an exception (Windows; never on Unix): the NTSTATUS code that
    /// Windows gives as its exit code, one of error severity that is not customer-defined
    /// (`0xC0000000..=0xDFFFFFFF`), such as `0xC0000005`, an access violation.
    ///
    /// ```
    /// use process_pool::Outcome;
    ///
    /// let text = Outcome::Exception(0xC000_0005).to_string();
    /// assert_eq!(text, "ended by exception 0xC0000005 (access violation)");
    /// ```
    Exception(u32),
    /// The pool stopped the job at its time limit.
    TimedOut,
    /// The job was cancelled (by its handle, a fail-fast batch or a shutdown) before it ended.
    Cancelled,
    /// The job could not be started: the OS's (or the WASI engine's) reason.
    SpawnFailed(Arc<io::Error>),
    /// A WebAssembly guest trapped; the message includes the wasm backtrace when there is one.
    Trapped(String),
    /// The job was stopped because its stdin could not be read (its reader failed) or its
    /// output could not be written (a full disk, a writer that closed): the reason names the
    /// stream, the file and the program.
    StreamFailed(Arc<io::Error>),
    /// The kernel killed the job (one of its processes, and the job then failed) for going
    /// over its memory limit ([`Job::max_memory`](crate::Job::max_memory), in bytes).
    ///
    /// ```
    /// use process_pool::Outcome;
    ///
    /// let text = Outcome::OutOfMemory { limit: 64 << 20 }.to_string();
    /// assert_eq!(text, "killed over its memory limit of 64 MiB");
    /// ```
    OutOfMemory {
        /// The limit it went over, in bytes.
        limit: u64,
    },
}

impl Outcome {
    /// True only for `Exited(0)`.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Exited(0))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Exited(code) => write!(f, "exited with code {code}"),
            Outcome::Signaled(sig) => write!(f, "killed by signal {sig}"),
            Outcome::Exception(code) => f.write_str(&describe_exception(*code)),
            Outcome::TimedOut => f.write_str("timed out"),
            Outcome::Cancelled => f.write_str("cancelled"),
            Outcome::SpawnFailed(e) => write!(f, "failed to start: {e}"),
            Outcome::Trapped(msg) => write!(f, "trapped: {msg}"),
            Outcome::StreamFailed(e) => write!(f, "stopped: {e}"),
            Outcome::OutOfMemory { limit } => {
                write!(f, "killed over its memory limit of {}", bytes_text(*limit))
            }
        }
    }
}

/// `64 MiB`, `1.5 GiB`, `4096 bytes`: a byte count as people write it.
pub(crate) fn bytes_text(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = None;
    for name in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = Some(name);
    }
    match unit {
        None => format!("{bytes} bytes"),
        Some(unit) if value.fract() == 0.0 => format!("{value} {unit}"),
        Some(unit) => format!("{value:.1} {unit}"),
    }
}

/// `ended by exception 0xC0000005 (access violation)`, with the name of a few well-known
/// codes.
pub(crate) fn describe_exception(code: u32) -> String {
    let name = match code {
        0xC000_0005 => Some("access violation"),
        0xC000_001D => Some("illegal instruction"),
        0xC000_0094 => Some("integer division by zero"),
        0xC000_00FD => Some("stack overflow"),
        0xC000_013A => Some("Ctrl-C"),
        0xC000_0135 => Some("DLL not found"),
        0xC000_0374 => Some("heap corruption"),
        0xC000_0409 => Some("stack buffer overrun or fast fail"),
        _ => None,
    };
    match name {
        Some(name) => format!("ended by exception {code:#010X} ({name})"),
        None => format!("ended by exception {code:#010X}"),
    }
}

/// What happened to one job: how it ended, its output, how long it took.
///
/// A non-zero exit is an outcome, not an error: [`JobResult::success`] tells, and
/// [`JobResult::into_checked`] turns a failure into a [`JobError`].
///
/// With the `serde` feature it is `Serialize`: times in seconds, stdout and stderr as text
/// (invalid UTF-8 replaced), the outcome as `{"kind": "exited", "code": 1}` and the like.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct JobResult {
    /// The job's pool-unique id.
    pub id: JobId,
    /// The job's position in its batch (`run_all`, `map`, `stream`); 0 for a lone `submit`.
    pub index: usize,
    /// The program, as text.
    pub program: String,
    /// The job's label, if it had one.
    pub label: Option<String>,
    /// The job's working directory, if it set one.
    pub cwd: Option<PathBuf>,
    /// How the last attempt ended.
    pub outcome: Outcome,
    /// Captured stdout of the last attempt, at most the output limit: all of it in memory
    /// ([`Output::memory`](crate::Output::memory), the default), its first bytes with
    /// [`Output::spill`](crate::Output::spill) (read it whole with
    /// [`stdout_reader`](Self::stdout_reader)), nothing when it went elsewhere.
    #[cfg_attr(feature = "serde", serde(serialize_with = "serialize::lossy"))]
    pub stdout: Bytes,
    /// Captured stderr of the last attempt, at most the output limit.
    #[cfg_attr(feature = "serde", serde(serialize_with = "serialize::lossy"))]
    pub stderr: Bytes,
    /// Whether stdout went past the output limit (the rest was read and discarded).
    pub stdout_truncated: bool,
    /// Whether stderr went past the output limit (the rest was read and discarded).
    pub stderr_truncated: bool,
    /// With [`Output::spill`](crate::Output::spill), once stdout went past the output limit:
    /// all of it, in a temporary file that lives as long as this result (and its clones).
    pub stdout_spill: Option<SpillFile>,
    /// With [`Output::spill`](crate::Output::spill), once stderr went past the limit: all of
    /// it, on disk.
    pub stderr_spill: Option<SpillFile>,
    /// Why a failed job was not retried though its retry policy allowed another attempt: it
    /// reads a single-use reader or writes a single-use writer
    /// ([`Job::stdin_reader`](crate::Job::stdin_reader), [`Output::writer`](crate::Output::writer)),
    /// which one attempt used up.
    pub retry_prevented: Option<&'static str>,
    /// Wall time of the last attempt.
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::engine::latency::seconds")
    )]
    pub duration: Duration,
    /// How many attempts were started (0 if the job never started).
    pub attempts: u32,
    /// The time limit that applied, if any.
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "serialize::seconds_or_null")
    )]
    pub time_limit: Option<Duration>,
    /// What the last attempt's processes used, every descendant counted, where the backend
    /// measures it (see [`Usage`]).
    pub usage: Usage,
}

/// What a job used, all its processes counted (not only the first): measured where the
/// backend can (a native job in a cgroup of its own on Linux: see `NativeSpawner`), `None`
/// elsewhere.
///
/// ```
/// use process_pool::Usage;
///
/// let usage = Usage::default();
/// assert_eq!((usage.cpu_time, usage.peak_memory), (None, None));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Usage {
    /// CPU time, user and system, of all of the job's processes.
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "serialize::seconds_or_null")
    )]
    pub cpu_time: Option<Duration>,
    /// The most memory the job's processes held at once, in bytes, as the kernel charged it
    /// (their resident memory and the page cache they brought in).
    pub peak_memory: Option<u64>,
}

impl Usage {
    /// A usage with these measures.
    pub fn new(cpu_time: Option<Duration>, peak_memory: Option<u64>) -> Self {
        Usage {
            cpu_time,
            peak_memory,
        }
    }
}

/// How results and outcomes are written with `serde`.
#[cfg(feature = "serde")]
mod serialize {
    use std::time::Duration;

    use serde::ser::{SerializeMap, Serializer};

    use super::Outcome;

    /// Bytes as text, invalid UTF-8 replaced.
    pub(super) fn lossy<S: Serializer>(bytes: &bytes::Bytes, to: S) -> Result<S::Ok, S::Error> {
        to.serialize_str(&String::from_utf8_lossy(bytes))
    }

    /// A duration in seconds, or null.
    pub(super) fn seconds_or_null<S: Serializer>(
        time: &Option<Duration>,
        to: S,
    ) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => to.serialize_f64(time.as_secs_f64()),
            None => to.serialize_none(),
        }
    }

    impl serde::Serialize for Outcome {
        /// `{"kind": "exited", "code": 0}`, `{"kind": "signaled", "signal": 9}`,
        /// `{"kind": "exception", "code": 3221225477}`,
        /// `{"kind": "timed_out"}`, `{"kind": "cancelled"}`,
        /// `{"kind": "spawn_failed", "error": "..."}`, `{"kind": "trapped", "message": "..."}`,
        /// `{"kind": "out_of_memory", "limit": 67108864}`.
        fn serialize<S: Serializer>(&self, to: S) -> Result<S::Ok, S::Error> {
            let mut map = to.serialize_map(None)?;
            match self {
                Outcome::Exited(code) => {
                    map.serialize_entry("kind", "exited")?;
                    map.serialize_entry("code", code)?;
                }
                Outcome::Signaled(signal) => {
                    map.serialize_entry("kind", "signaled")?;
                    map.serialize_entry("signal", signal)?;
                }
                Outcome::Exception(code) => {
                    map.serialize_entry("kind", "exception")?;
                    map.serialize_entry("code", code)?;
                }
                Outcome::TimedOut => map.serialize_entry("kind", "timed_out")?,
                Outcome::Cancelled => map.serialize_entry("kind", "cancelled")?,
                Outcome::SpawnFailed(error) => {
                    map.serialize_entry("kind", "spawn_failed")?;
                    map.serialize_entry("error", &error.to_string())?;
                }
                Outcome::Trapped(message) => {
                    map.serialize_entry("kind", "trapped")?;
                    map.serialize_entry("message", message)?;
                }
                Outcome::StreamFailed(error) => {
                    map.serialize_entry("kind", "stream_failed")?;
                    map.serialize_entry("error", &error.to_string())?;
                }
                Outcome::OutOfMemory { limit } => {
                    map.serialize_entry("kind", "out_of_memory")?;
                    map.serialize_entry("limit", limit)?;
                }
            }
            map.end()
        }
    }
}

impl JobResult {
    /// The answer for a job whose result could not be had: cancelled, nothing known of it.
    pub(crate) fn lost(id: JobId) -> Self {
        JobResult::unrun(id, 0, Identity::default(), Outcome::Cancelled, 0, None)
    }

    /// A result with this outcome and no output.
    pub(crate) fn unrun(
        id: JobId,
        index: usize,
        (program, label, cwd): Identity,
        outcome: Outcome,
        attempts: u32,
        time_limit: Option<Duration>,
    ) -> Self {
        JobResult {
            id,
            index,
            program,
            label,
            cwd,
            outcome,
            stdout: Bytes::new(),
            stderr: Bytes::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            stdout_spill: None,
            stderr_spill: None,
            retry_prevented: None,
            duration: Duration::ZERO,
            attempts,
            time_limit,
            usage: Usage::default(),
        }
    }

    /// The exit code, when the program exited by itself.
    pub fn exit_code(&self) -> Option<i32> {
        match self.outcome {
            Outcome::Exited(code) => Some(code),
            _ => None,
        }
    }

    /// The signal that killed the program, when it was not the pool's doing.
    pub fn signal(&self) -> Option<i32> {
        match self.outcome {
            Outcome::Signaled(sig) => Some(sig),
            _ => None,
        }
    }

    /// Whether the pool stopped the job at its time limit.
    pub fn timed_out(&self) -> bool {
        matches!(self.outcome, Outcome::TimedOut)
    }

    /// Whether the job was cancelled.
    pub fn cancelled(&self) -> bool {
        matches!(self.outcome, Outcome::Cancelled)
    }

    /// Exit code 0 and nothing else.
    pub fn success(&self) -> bool {
        self.outcome.is_success()
    }

    /// stdout as text, invalid UTF-8 replaced.
    pub fn stdout_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    /// stderr as text, invalid UTF-8 replaced.
    pub fn stderr_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }

    /// How many bytes of stdout the result holds: in memory, or on disk when spilled.
    pub fn stdout_len(&self) -> u64 {
        self.stdout_spill
            .as_ref()
            .map_or(self.stdout.len() as u64, SpillFile::len)
    }

    /// How many bytes of stderr the result holds: in memory, or on disk when spilled.
    pub fn stderr_len(&self) -> u64 {
        self.stderr_spill
            .as_ref()
            .map_or(self.stderr.len() as u64, SpillFile::len)
    }

    /// Reads all the stdout the result holds, from the start: the spill file when stdout was
    /// spilled ([`Output::spill`](crate::Output::spill)), else the bytes in memory.
    pub async fn stdout_reader(&self) -> io::Result<crate::stdio::BoxReader> {
        reader(&self.stdout, self.stdout_spill.as_ref()).await
    }

    /// Reads all the stderr the result holds, from the start (see
    /// [`stdout_reader`](Self::stdout_reader)).
    pub async fn stderr_reader(&self) -> io::Result<crate::stdio::BoxReader> {
        reader(&self.stderr, self.stderr_spill.as_ref()).await
    }

    /// `Ok(self)` on success, else the [`JobError`] that says what went wrong.
    pub fn into_checked(self) -> Result<JobResult, JobError> {
        match self.error() {
            None => Ok(self),
            Some(err) => Err(err),
        }
    }

    /// The [`JobError`] describing this result, or `None` on success.
    pub fn error(&self) -> Option<JobError> {
        let index = self.index;
        let program = self.program.clone();
        Some(match &self.outcome {
            Outcome::Exited(0) => return None,
            Outcome::Exited(code) => JobError::ProcessFailed {
                index,
                program,
                exit_code: Some(*code),
                signal: None,
                exception: None,
                stderr_tail: stderr_tail(&self.stderr),
                attempts: self.attempts,
            },
            Outcome::Signaled(sig) => JobError::ProcessFailed {
                index,
                program,
                exit_code: None,
                signal: Some(*sig),
                exception: None,
                stderr_tail: stderr_tail(&self.stderr),
                attempts: self.attempts,
            },
            Outcome::Exception(code) => JobError::ProcessFailed {
                index,
                program,
                exit_code: None,
                signal: None,
                exception: Some(*code),
                stderr_tail: stderr_tail(&self.stderr),
                attempts: self.attempts,
            },
            Outcome::TimedOut => JobError::TimedOut {
                index,
                program,
                limit: self.time_limit.unwrap_or_default(),
                attempts: self.attempts,
            },
            Outcome::Cancelled => JobError::Cancelled { index, program },
            Outcome::SpawnFailed(source) => JobError::SpawnFailed {
                index,
                program,
                cwd: self.cwd.clone(),
                source: Arc::clone(source),
            },
            Outcome::Trapped(message) => JobError::Trapped {
                index,
                program,
                message: message.clone(),
                attempts: self.attempts,
            },
            Outcome::StreamFailed(source) => JobError::StreamFailed {
                index,
                program,
                source: Arc::clone(source),
            },
            Outcome::OutOfMemory { limit } => JobError::OutOfMemory {
                index,
                program,
                limit: *limit,
                attempts: self.attempts,
            },
        })
    }
}

async fn reader(bytes: &Bytes, spill: Option<&SpillFile>) -> io::Result<crate::stdio::BoxReader> {
    Ok(match spill {
        Some(spill) => Box::new(spill.open().await?),
        None => Box::new(std::io::Cursor::new(bytes.clone())),
    })
}

/// How much of stderr a [`JobError::ProcessFailed`] quotes.
pub const STDERR_TAIL_BYTES: usize = 2048;

/// The last [`STDERR_TAIL_BYTES`] of `stderr` as text, trimmed.
pub(crate) fn stderr_tail(stderr: &[u8]) -> String {
    let start = stderr.len().saturating_sub(STDERR_TAIL_BYTES);
    String::from_utf8_lossy(&stderr[start..]).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn result(outcome: Outcome) -> JobResult {
        JobResult {
            id: JobId(1),
            index: 3,
            program: "prog".into(),
            label: None,
            cwd: None,
            outcome,
            stdout: Bytes::new(),
            stderr: Bytes::from_static(b"line one\nthe reason\n"),
            stdout_truncated: false,
            stderr_truncated: false,
            stdout_spill: None,
            stderr_spill: None,
            retry_prevented: None,
            duration: Duration::ZERO,
            attempts: 1,
            time_limit: Some(Duration::from_millis(100)),
            usage: Usage::default(),
        }
    }

    #[test]
    fn byte_counts_read_as_people_write_them() {
        assert_eq!(bytes_text(1000), "1000 bytes");
        assert_eq!(bytes_text(1536), "1.5 KiB");
        assert_eq!(bytes_text(64 << 20), "64 MiB");
        assert_eq!(bytes_text(3 << 29), "1.5 GiB");
        let error = result(Outcome::OutOfMemory { limit: 1 << 30 })
            .error()
            .unwrap()
            .to_string();
        assert_eq!(
            error,
            "job 3 (`prog`) was killed over its memory limit of 1 GiB"
        );
    }

    #[test]
    fn derived_views_follow_the_outcome() {
        let r = result(Outcome::Exited(0));
        assert!(r.success());
        assert_eq!(r.exit_code(), Some(0));
        assert!(r.into_checked().is_ok());
        let r = result(Outcome::TimedOut);
        assert!(r.timed_out());
        assert_eq!(r.exit_code(), None);
    }

    #[test]
    fn failures_become_errors_with_context() {
        let err = result(Outcome::Exited(2)).into_checked().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("prog") && msg.contains("code 2"), "{msg}");
        assert!(msg.contains("the reason"), "{msg}");
        let err = result(Outcome::TimedOut).into_checked().unwrap_err();
        assert!(
            matches!(err, JobError::TimedOut { limit, .. } if limit == Duration::from_millis(100))
        );
        assert!(!err.to_string().contains("attempts"), "{err}");
        let mut retried = result(Outcome::Exited(3));
        retried.attempts = 3;
        let err = retried.into_checked().unwrap_err();
        assert!(err.to_string().contains("(after 3 attempts)"), "{err}");
        assert!(matches!(err, JobError::ProcessFailed { attempts: 3, .. }));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn results_serialize_as_plain_json() {
        let mut r = result(Outcome::Exited(2));
        r.stdout = Bytes::from_static(b"out\xff\n");
        r.duration = Duration::from_millis(1500);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json["outcome"],
            serde_json::json!({"kind": "exited", "code": 2})
        );
        assert_eq!(json["stdout"], "out\u{fffd}\n");
        assert_eq!(json["duration"], 1.5);
        assert_eq!(json["time_limit"], 0.1);
        assert_eq!(json["id"], 1);
        let json = serde_json::to_value(result(Outcome::TimedOut)).unwrap();
        assert_eq!(json["outcome"]["kind"], "timed_out");
        let json = serde_json::to_value(result(Outcome::Exception(0xC000_0005))).unwrap();
        assert_eq!(
            json["outcome"],
            serde_json::json!({"kind": "exception", "code": 0xC000_0005_u32})
        );
    }

    #[test]
    fn an_exception_is_told_from_an_exit_code() {
        let r = result(Outcome::Exception(0xC000_00FD));
        assert!(!r.success());
        assert_eq!((r.exit_code(), r.signal()), (None, None));
        assert_eq!(
            r.outcome.to_string(),
            "ended by exception 0xC00000FD (stack overflow)"
        );
        let err = r.into_checked().unwrap_err();
        assert!(
            matches!(
                err,
                JobError::ProcessFailed {
                    exception: Some(0xC000_00FD),
                    exit_code: None,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("exception 0xC00000FD"), "{err}");
        let unnamed = Outcome::Exception(0xC000_0123).to_string();
        assert_eq!(unnamed, "ended by exception 0xC0000123");
    }

    #[test]
    fn stderr_tail_keeps_the_end() {
        let long = vec![b'x'; STDERR_TAIL_BYTES * 2];
        assert_eq!(stderr_tail(&long).len(), STDERR_TAIL_BYTES);
    }
}
