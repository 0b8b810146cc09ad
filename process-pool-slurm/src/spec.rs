//! What a pool sends an agent to run one job, and what the agent answers: a compact binary
//! encoding (length-prefixed fields), so that stdin and output bytes travel as they are.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::time::Duration;

use bytes::Bytes;
use process_pool_core::backend::{Exit, ExitStatus};
use process_pool_core::{Job, Usage};

/// The version of this encoding, the first byte of every spec and reply.
const VERSION: u8 = 1;
/// The version of a spec with stream fields at its end (files by path, discard): sent only for
/// a job that has them, so an agent that knows only version 1 still runs every other job.
const VERSION_STREAMS: u8 = 2;
/// The version of a spec with a memory limit at its end, after the stream fields: sent only for
/// a job that has one.
const VERSION_LIMITS: u8 = 3;
/// The version of a reply with the job's usage at its end: sent only when the agent measured
/// some (its jobs run in cgroups).
const VERSION_USAGE: u8 = 2;

/// Where an agent sends one of a job's output streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSpec {
    /// Kept in memory up to the output limit, sent back in the reply.
    Memory,
    /// Written to this file on the node (a file system the nodes share), created or truncated
    /// per attempt.
    File(OsString),
    /// Read and dropped on the node.
    Discard,
}

impl OutputSpec {
    fn of(output: &process_pool_core::Output) -> OutputSpec {
        match output.path() {
            Some(path) => OutputSpec::File(path.as_os_str().to_owned()),
            None if output.is_discard() => OutputSpec::Discard,
            None => OutputSpec::Memory,
        }
    }

    fn to_output(&self) -> process_pool_core::Output {
        match self {
            OutputSpec::Memory => process_pool_core::Output::memory(),
            OutputSpec::File(path) => process_pool_core::Output::file(path),
            OutputSpec::Discard => process_pool_core::Output::discard(),
        }
    }

    fn put(&self, out: &mut Vec<u8>) {
        match self {
            OutputSpec::Memory => out.push(0),
            OutputSpec::File(path) => {
                out.push(1);
                put_bytes(out, path.as_bytes());
            }
            OutputSpec::Discard => out.push(2),
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<OutputSpec, String> {
        Ok(match r.u8()? {
            0 => OutputSpec::Memory,
            1 => OutputSpec::File(OsString::from_vec(r.bytes()?.to_vec())),
            2 => OutputSpec::Discard,
            other => return Err(format!("unknown output mode {other}")),
        })
    }
}

/// What an agent cannot carry of `job`'s streams, if anything: it runs on another machine, so
/// it takes files by path (on a file system the nodes share) and can discard; a reader, a
/// writer, spill, a pipe or appending would need the pool's process.
pub(crate) fn unsupported(job: &Job) -> Option<process_pool_core::StreamUnsupported> {
    use process_pool_core::StreamUnsupported;
    const AGENTS: &str = "Slurm agents";
    let input = job.get_input();
    if !input.is_in_memory() && input.path().is_none() {
        return Some(StreamUnsupported::new(AGENTS, "stdin", input.describe()));
    }
    for (stream, output) in [("stdout", job.get_stdout()), ("stderr", job.get_stderr())] {
        if output.appends() {
            return Some(StreamUnsupported::new(
                AGENTS,
                stream,
                "a file to append to",
            ));
        }
        if !(output.is_memory() || output.is_discard() || output.path().is_some()) {
            return Some(StreamUnsupported::new(AGENTS, stream, output.describe()));
        }
    }
    None
}

/// One job as an agent runs it: a [`Job`]'s fields that matter on the node, with the pool's
/// output limit and kill grace for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// The program (a name looked up in the node's `PATH`, or a path).
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Start from an empty environment.
    pub env_clear: bool,
    /// Environment changes in order: `Some` sets, `None` removes.
    pub env: Vec<(OsString, Option<OsString>)>,
    /// The working directory, on the node.
    pub cwd: Option<OsString>,
    /// Bytes fed to stdin, then closed.
    pub stdin: Option<Bytes>,
    /// A limit the agent enforces by itself, in case the pool's cancel never comes.
    pub timeout: Option<Duration>,
    /// Bytes kept per output stream.
    pub output_limit: u64,
    /// Time between SIGTERM and SIGKILL when the job is stopped.
    pub kill_grace: Duration,
    /// A file on the node to read stdin from (instead of `stdin`).
    pub stdin_file: Option<OsString>,
    /// Where stdout goes.
    pub stdout: OutputSpec,
    /// Where stderr goes.
    pub stderr: OutputSpec,
    /// The job's memory limit, in bytes, which the agent's native spawner enforces (or
    /// refuses, saying why).
    pub max_memory: Option<u64>,
}

impl JobSpec {
    /// The spec of `job`, with the pool's limits for this attempt (its memory limit, the job's
    /// own: see [`with_max_memory`](Self::with_max_memory) for the pool's).
    pub fn of(job: &Job, output_limit: usize, kill_grace: Duration) -> JobSpec {
        JobSpec {
            program: job.get_program().to_owned(),
            args: job.get_args().to_vec(),
            env_clear: job.get_env_clear(),
            env: job.get_envs().to_vec(),
            cwd: job.get_cwd().map(|c| c.as_os_str().to_owned()),
            stdin: job.get_stdin().cloned(),
            timeout: job.get_timeout(),
            output_limit: output_limit as u64,
            kill_grace,
            stdin_file: job.get_input().path().map(|p| p.as_os_str().to_owned()),
            stdout: OutputSpec::of(job.get_stdout()),
            stderr: OutputSpec::of(job.get_stderr()),
            max_memory: job.get_max_memory(),
        }
    }

    /// The same spec with this memory limit.
    #[must_use]
    pub fn with_max_memory(mut self, bytes: Option<u64>) -> JobSpec {
        self.max_memory = bytes;
        self
    }

    /// Whether it has stream fields, which only a version-2 agent reads.
    fn has_streams(&self) -> bool {
        self.stdin_file.is_some()
            || self.stdout != OutputSpec::Memory
            || self.stderr != OutputSpec::Memory
    }

    /// The job to run on the node (without the pool's scheduling settings).
    pub fn to_job(&self) -> Job {
        let mut job = Job::new(&self.program).args(&self.args);
        if self.env_clear {
            job = job.env_clear();
        }
        for (key, value) in &self.env {
            job = match value {
                Some(value) => job.env(key, value),
                None => job.env_remove(key),
            };
        }
        if let Some(dir) = &self.cwd {
            job = job.cwd(dir);
        }
        if let Some(stdin) = &self.stdin {
            job = job.stdin(stdin.clone());
        }
        if let Some(path) = &self.stdin_file {
            job = job.stdin_file(path);
        }
        job.stdout(self.stdout.to_output())
            .stderr(self.stderr.to_output())
    }

    /// The bytes sent to the agent.
    pub fn encode(&self) -> Vec<u8> {
        let stdin_len = self.stdin.as_ref().map_or(0, Bytes::len);
        let mut out = Vec::with_capacity(64 + stdin_len);
        let limits = self.max_memory.is_some();
        let streams = limits || self.has_streams();
        out.push(if limits {
            VERSION_LIMITS
        } else if streams {
            VERSION_STREAMS
        } else {
            VERSION
        });
        put_bytes(&mut out, self.program.as_bytes());
        put_u32(&mut out, self.args.len());
        for arg in &self.args {
            put_bytes(&mut out, arg.as_bytes());
        }
        out.push(u8::from(self.env_clear));
        put_u32(&mut out, self.env.len());
        for (key, value) in &self.env {
            put_bytes(&mut out, key.as_bytes());
            put_option(&mut out, value.as_ref().map(|v| v.as_bytes()));
        }
        put_option(&mut out, self.cwd.as_ref().map(|c| c.as_bytes()));
        put_option(&mut out, self.stdin.as_deref());
        match self.timeout {
            Some(limit) => {
                out.push(1);
                put_u64(&mut out, millis(limit));
            }
            None => out.push(0),
        }
        put_u64(&mut out, self.output_limit);
        put_u64(&mut out, millis(self.kill_grace));
        if streams {
            put_option(&mut out, self.stdin_file.as_ref().map(|p| p.as_bytes()));
            self.stdout.put(&mut out);
            self.stderr.put(&mut out);
        }
        if let Some(bytes) = self.max_memory {
            put_u64(&mut out, bytes);
        }
        out
    }

    /// Reads a spec; an error says what was wrong with it.
    pub fn decode(bytes: &Bytes) -> Result<JobSpec, String> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if !(VERSION..=VERSION_LIMITS).contains(&version) {
            return Err(format!(
                "encoding version {version}, this side speaks {VERSION} to {VERSION_LIMITS}"
            ));
        }
        let program = OsString::from_vec(r.bytes()?.to_vec());
        let count = r.u32()?;
        let mut args = Vec::with_capacity(count.min(4096));
        for _ in 0..count {
            args.push(OsString::from_vec(r.bytes()?.to_vec()));
        }
        let env_clear = r.flag()?;
        let count = r.u32()?;
        let mut env = Vec::with_capacity(count.min(4096));
        for _ in 0..count {
            let key = OsString::from_vec(r.bytes()?.to_vec());
            let value = r.option()?.map(|v| OsString::from_vec(v.to_vec()));
            env.push((key, value));
        }
        let cwd = r.option()?.map(|c| OsString::from_vec(c.to_vec()));
        let stdin = r.option_slice()?.map(|range| bytes.slice(range));
        let timeout = if r.flag()? {
            Some(Duration::from_millis(r.u64()?))
        } else {
            None
        };
        let output_limit = r.u64()?;
        let kill_grace = Duration::from_millis(r.u64()?);
        let (mut stdin_file, mut stdout, mut stderr) =
            (None, OutputSpec::Memory, OutputSpec::Memory);
        if version >= VERSION_STREAMS {
            stdin_file = r.option()?.map(|p| OsString::from_vec(p.to_vec()));
            stdout = OutputSpec::read(&mut r)?;
            stderr = OutputSpec::read(&mut r)?;
            if version == VERSION_STREAMS
                && stdin_file.is_none()
                && stdout == OutputSpec::Memory
                && stderr == OutputSpec::Memory
            {
                // One way to write each spec: one without streams is version 1.
                return Err(format!(
                    "a version-{VERSION_STREAMS} spec without stream fields (written as version {VERSION})"
                ));
            }
        }
        let max_memory = if version == VERSION_LIMITS {
            Some(r.u64()?)
        } else {
            None
        };
        r.end()?;
        Ok(JobSpec {
            program,
            args,
            env_clear,
            env,
            cwd,
            stdin,
            timeout,
            output_limit,
            kill_grace,
            stdin_file,
            stdout,
            stderr,
            max_memory,
        })
    }
}

/// What an agent answers for one job: how it ended, or why it could not start.
#[derive(Debug)]
pub enum Reply {
    /// It ran.
    Exit(Exit),
    /// It could not be started: the OS's reason.
    SpawnFailed(io::Error),
}

impl Reply {
    /// The bytes sent back to the pool.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let usage = match self {
            Reply::Exit(exit) if exit.usage != Usage::default() => Some(exit.usage),
            _ => None,
        };
        out.push(if usage.is_some() {
            VERSION_USAGE
        } else {
            VERSION
        });
        match self {
            Reply::Exit(exit) => {
                out.push(0);
                match &exit.status {
                    ExitStatus::Code(code) => {
                        out.push(0);
                        out.extend_from_slice(&code.to_be_bytes());
                    }
                    ExitStatus::Signal(signal) => {
                        out.push(1);
                        out.extend_from_slice(&signal.to_be_bytes());
                    }
                    ExitStatus::Trapped(message) => {
                        out.push(2);
                        put_bytes(&mut out, message.as_bytes());
                    }
                    ExitStatus::StreamFailed(message) => {
                        out.push(3);
                        put_bytes(&mut out, message.as_bytes());
                    }
                    ExitStatus::Exception(code) => {
                        out.push(4);
                        out.extend_from_slice(&code.to_be_bytes());
                    }
                    ExitStatus::OutOfMemory { limit } => {
                        out.push(5);
                        put_u64(&mut out, *limit);
                    }
                    other => {
                        out.push(2);
                        put_bytes(&mut out, format!("{other:?}").as_bytes());
                    }
                }
                put_bytes(&mut out, &exit.stdout);
                out.push(u8::from(exit.stdout_truncated));
                put_bytes(&mut out, &exit.stderr);
                out.push(u8::from(exit.stderr_truncated));
                if let Some(usage) = usage {
                    match usage.cpu_time {
                        Some(time) => {
                            out.push(1);
                            put_u64(&mut out, u64::try_from(time.as_micros()).unwrap_or(u64::MAX));
                        }
                        None => out.push(0),
                    }
                    match usage.peak_memory {
                        Some(bytes) => {
                            out.push(1);
                            put_u64(&mut out, bytes);
                        }
                        None => out.push(0),
                    }
                }
            }
            Reply::SpawnFailed(error) => {
                out.push(1);
                out.push(kind_code(error.kind()));
                put_bytes(&mut out, error.to_string().as_bytes());
            }
        }
        out
    }

    /// Reads a reply; an error says what was wrong with it.
    pub fn decode(bytes: &Bytes) -> Result<Reply, String> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != VERSION && version != VERSION_USAGE {
            return Err(format!(
                "encoding version {version}, this side speaks {VERSION} and {VERSION_USAGE}"
            ));
        }
        let reply = match r.u8()? {
            0 => {
                let status = match r.u8()? {
                    0 => ExitStatus::Code(r.i32()?),
                    1 => ExitStatus::Signal(r.i32()?),
                    2 => ExitStatus::Trapped(String::from_utf8_lossy(r.bytes()?).into_owned()),
                    3 => ExitStatus::StreamFailed(String::from_utf8_lossy(r.bytes()?).into_owned()),
                    4 => ExitStatus::Exception(u32::from_be_bytes(r.array()?)),
                    5 => ExitStatus::OutOfMemory { limit: r.u64()? },
                    other => return Err(format!("unknown exit status tag {other}")),
                };
                let stdout = bytes.slice(r.slice()?);
                let stdout_truncated = r.flag()?;
                let stderr = bytes.slice(r.slice()?);
                let stderr_truncated = r.flag()?;
                let mut exit = Exit::new(status)
                    .with_stdout(stdout, stdout_truncated)
                    .with_stderr(stderr, stderr_truncated);
                if version == VERSION_USAGE {
                    let cpu_time = if r.flag()? {
                        Some(Duration::from_micros(r.u64()?))
                    } else {
                        None
                    };
                    let peak_memory = if r.flag()? { Some(r.u64()?) } else { None };
                    let usage = Usage::new(cpu_time, peak_memory);
                    if usage == Usage::default() {
                        // One way to write each reply: one without usage is version 1.
                        return Err(format!(
                            "a version-{VERSION_USAGE} reply without usage (written as version {VERSION})"
                        ));
                    }
                    exit = exit.with_usage(usage);
                }
                Reply::Exit(exit)
            }
            1 if version == VERSION => {
                let kind = kind_of(r.u8()?);
                let message = String::from_utf8_lossy(r.bytes()?).into_owned();
                Reply::SpawnFailed(io::Error::new(kind, message))
            }
            1 => return Err(format!("a version-{VERSION_USAGE} reply that is no exit")),
            other => return Err(format!("unknown reply tag {other}")),
        };
        r.end()?;
        Ok(reply)
    }
}

/// The error kinds a spawn failure keeps across the wire; others arrive as `Other`.
const KINDS: [io::ErrorKind; 7] = [
    io::ErrorKind::Other,
    io::ErrorKind::NotFound,
    io::ErrorKind::PermissionDenied,
    io::ErrorKind::InvalidInput,
    io::ErrorKind::OutOfMemory,
    io::ErrorKind::WouldBlock,
    io::ErrorKind::Interrupted,
];

fn kind_code(kind: io::ErrorKind) -> u8 {
    KINDS
        .iter()
        .position(|&k| k == kind)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(0)
}

fn kind_of(code: u8) -> io::ErrorKind {
    KINDS
        .get(usize::from(code))
        .copied()
        .unwrap_or(io::ErrorKind::Other)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    out.extend_from_slice(&n.to_be_bytes());
}

fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_be_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn put_option(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            out.push(1);
            put_bytes(out, bytes);
        }
        None => out.push(0),
    }
}

/// Reads fields off a buffer, every length checked.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, at: 0 }
    }

    fn take(&mut self, n: usize) -> Result<std::ops::Range<usize>, String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| format!("truncated at byte {} (wanted {n} more)", self.at))?;
        let range = self.at..end;
        self.at = end;
        Ok(range)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let range = self.take(N)?;
        let mut out = [0; N];
        out.copy_from_slice(&self.buf[range]);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn flag(&mut self) -> Result<bool, String> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(format!("a flag of {other}")),
        }
    }

    fn u32(&mut self) -> Result<usize, String> {
        Ok(u32::from_be_bytes(self.array()?) as usize)
    }

    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn slice(&mut self) -> Result<std::ops::Range<usize>, String> {
        let len = self.u32()?;
        self.take(len)
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let range = self.slice()?;
        Ok(&self.buf[range])
    }

    fn option_slice(&mut self) -> Result<Option<std::ops::Range<usize>>, String> {
        if self.flag()? {
            self.slice().map(Some)
        } else {
            Ok(None)
        }
    }

    fn option(&mut self) -> Result<Option<&'a [u8]>, String> {
        Ok(self.option_slice()?.map(|range| &self.buf[range]))
    }

    fn end(&self) -> Result<(), String> {
        if self.at == self.buf.len() {
            Ok(())
        } else {
            Err(format!(
                "{} unexpected bytes at the end",
                self.buf.len() - self.at
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_survives_the_wire() {
        let job = Job::new("sh")
            .args(["-c", "echo \u{e9}\n"])
            .env("A", "1")
            .env_remove("B")
            .cwd("/tmp")
            .stdin(vec![0u8, 10, 27, 255])
            .timeout(Duration::from_millis(1500));
        let spec = JobSpec::of(&job, 4096, Duration::from_secs(2));
        let back = JobSpec::decode(&Bytes::from(spec.encode())).unwrap();
        assert_eq!(back, spec);
        let again = back.to_job();
        assert_eq!(again.get_program(), "sh");
        assert_eq!(again.get_envs(), job.get_envs());
        assert_eq!(again.get_stdin(), job.get_stdin());
        assert_eq!(again.get_cwd(), job.get_cwd());
    }

    #[test]
    fn stream_fields_survive_the_wire_and_only_when_used() {
        let plain = JobSpec::of(&Job::new("true"), 10, Duration::ZERO).encode();
        assert_eq!(plain[0], VERSION, "a job without streams speaks version 1");
        let job = Job::new("cat")
            .stdin_file("/shared/in")
            .stdout(process_pool_core::Output::file("/shared/out"))
            .stderr(process_pool_core::Output::discard());
        assert!(unsupported(&job).is_none());
        let spec = JobSpec::of(&job, 10, Duration::ZERO);
        let bytes = spec.encode();
        assert_eq!(bytes[0], VERSION_STREAMS);
        let back = JobSpec::decode(&Bytes::from(bytes)).unwrap();
        assert_eq!(back, spec);
        let again = back.to_job();
        assert_eq!(
            again.get_input().path(),
            Some(std::path::Path::new("/shared/in"))
        );
        assert_eq!(
            again.get_stdout().path(),
            Some(std::path::Path::new("/shared/out"))
        );
        assert!(again.get_stderr().is_discard());
    }

    #[test]
    fn a_version_2_spec_without_streams_is_refused_as_written_two_ways() {
        let discard = JobSpec {
            stdout: OutputSpec::Discard,
            ..JobSpec::of(&Job::new("true"), 10, Duration::ZERO)
        };
        let mut bytes = discard.encode();
        assert_eq!(bytes[0], VERSION_STREAMS);
        // Its last two bytes are stdout's mode (discard) and stderr's (memory): make both memory.
        let at = bytes.len() - 2;
        assert_eq!(bytes[at..], [2, 0]);
        bytes[at] = 0;
        let error = JobSpec::decode(&Bytes::from(bytes)).unwrap_err();
        assert!(error.contains("without stream fields"), "{error}");
    }

    #[test]
    fn a_memory_limit_and_a_job_s_usage_cross_the_wire() {
        let limited = JobSpec::of(&Job::new("true").max_memory(64 << 20), 10, Duration::ZERO);
        let bytes = limited.encode();
        assert_eq!(bytes[0], VERSION_LIMITS);
        let back = JobSpec::decode(&Bytes::from(bytes)).unwrap();
        assert_eq!(back.max_memory, Some(64 << 20));
        // Without one, the spec is written as before.
        let plain = JobSpec::of(&Job::new("true"), 10, Duration::ZERO).encode();
        assert_eq!(plain[0], VERSION);

        let usage = Usage::new(Some(Duration::from_micros(1234)), Some(5 << 20));
        let exit = Exit::new(ExitStatus::OutOfMemory { limit: 64 << 20 }).with_usage(usage);
        let bytes = Bytes::from(Reply::Exit(exit).encode());
        assert_eq!(bytes[0], VERSION_USAGE);
        let Ok(Reply::Exit(back)) = Reply::decode(&bytes) else {
            panic!("a reply");
        };
        assert_eq!(back.status, ExitStatus::OutOfMemory { limit: 64 << 20 });
        assert_eq!(back.usage, usage);
        let plain = Reply::Exit(Exit::new(ExitStatus::Code(0))).encode();
        assert_eq!(plain[0], VERSION);
    }

    #[test]
    fn what_agents_cannot_carry_is_named() {
        let (_, rx) = tokio::io::duplex(8);
        let reader = unsupported(&Job::new("cat").stdin_reader(rx)).unwrap();
        assert_eq!(
            reader.to_string(),
            "Slurm agents cannot carry a reader as stdin"
        );
        let spill = unsupported(&Job::new("cat").stdout(process_pool_core::Output::spill()));
        assert_eq!(spill.unwrap().stream, "stdout");
        let append = Job::new("cat").stderr(process_pool_core::Output::append("/shared/log"));
        assert!(unsupported(&append).unwrap().to_string().contains("append"));
    }

    #[test]
    fn replies_survive_the_wire() {
        let exit = Exit::new(ExitStatus::Signal(9))
            .with_stdout(Bytes::from_static(b"out\n"), true)
            .with_stderr(Bytes::from_static(b"err"), false);
        let bytes = Bytes::from(Reply::Exit(exit).encode());
        let Ok(Reply::Exit(back)) = Reply::decode(&bytes) else {
            panic!("not an exit");
        };
        assert_eq!(back.status, ExitStatus::Signal(9));
        assert_eq!(back.stdout, "out\n");
        assert!(back.stdout_truncated && !back.stderr_truncated);

        let exception = Reply::Exit(Exit::new(ExitStatus::Exception(0xC000_0005))).encode();
        assert_eq!(exception[2], 4, "an exception has a tag of its own");
        let Ok(Reply::Exit(back)) = Reply::decode(&Bytes::from(exception)) else {
            panic!("not an exit");
        };
        assert_eq!(back.status, ExitStatus::Exception(0xC000_0005));

        let failed = Reply::SpawnFailed(io::Error::new(io::ErrorKind::NotFound, "no such program"));
        let Ok(Reply::SpawnFailed(error)) = Reply::decode(&Bytes::from(failed.encode())) else {
            panic!("not a spawn failure");
        };
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert_eq!(error.to_string(), "no such program");
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        let spec = JobSpec::of(&Job::new("true"), 10, Duration::ZERO).encode();
        for cut in 0..spec.len() {
            assert!(JobSpec::decode(&Bytes::copy_from_slice(&spec[..cut])).is_err());
        }
        let mut long = spec.clone();
        long.push(0);
        assert!(JobSpec::decode(&Bytes::from(long)).is_err());
        let mut huge = spec;
        huge[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(JobSpec::decode(&Bytes::from(huge)).is_err());
        assert!(Reply::decode(&Bytes::from_static(&[9])).is_err());
        assert!(Reply::decode(&Bytes::from_static(&[1, 7])).is_err());
    }
}
