//! [`Job`]: what to run, independent of the backend that runs it.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;

use tokio::io::AsyncRead;
use tokio::sync::mpsc;

use crate::engine::retry::RetryPolicy;
use crate::error::JobError;
use crate::output::OutputLine;
use crate::result::Identity;
use crate::stdio::{BoxReader, Input, Output};

/// One unit of work: a program with its arguments, environment, working directory, stdin,
/// time limit and scheduling hints.
///
/// A `Job` is backend-neutral: for the native backend `program` is an executable (a name looked
/// up in `PATH` or a path), for the WASI backend it is a `.wasm` file. Everything not set falls
/// back to the pool's defaults.
///
/// ```
/// use std::time::Duration;
/// use process_pool::Job;
///
/// let job = Job::new("grep")
///     .arg("-c")
///     .args(["needle", "-"])
///     .env("LC_ALL", "C")
///     .stdin("hay\nneedle\n")
///     .timeout(Duration::from_secs(5))
///     .priority(10)
///     .label("count needles");
/// assert_eq!(job.get_program(), "grep");
/// assert_eq!(job.get_args().len(), 3);
/// ```
#[derive(Debug, Clone)]
pub struct Job {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    env_clear: bool,
    cwd: Option<PathBuf>,
    stdin: Input,
    stdout: Output,
    stderr: Output,
    timeout: Option<Duration>,
    priority: i32,
    label: Option<String>,
    retry: Option<RetryPolicy>,
    output_limit: Option<usize>,
    max_memory: Option<u64>,
    lines: Option<mpsc::Sender<OutputLine>>,
}

/// Builds a job from a command and its arguments, like the reference pool's `job(cmd, args)`.
///
/// The reference's optional `cwd` and `timeout` are the builder methods [`Job::cwd`] and
/// [`Job::timeout`]. A job without arguments is [`Job::new`]: an empty list `[]` has no item
/// type for the compiler to infer.
///
/// ```
/// use std::time::Duration;
/// use process_pool::{job, Job};
///
/// let j = job("sleep", ["10"]).timeout(Duration::from_millis(100));
/// assert_eq!(j.get_timeout(), Some(Duration::from_millis(100)));
/// let files = vec!["a.txt".to_owned(), "b.txt".to_owned()];
/// let j = job("wc", &files); // borrowed items work too
/// assert_eq!(j.get_args().len(), 2);
/// let no_args = Job::new("true");
/// assert!(no_args.get_args().is_empty());
/// ```
pub fn job<P, I, S>(program: P, args: I) -> Job
where
    P: AsRef<OsStr>,
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Job::new(program).args(args)
}

impl Job {
    /// A job that runs `program` with no arguments.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Job {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            env_clear: false,
            cwd: None,
            stdin: Input::default(),
            stdout: Output::default(),
            stderr: Output::default(),
            timeout: None,
            priority: 0,
            label: None,
            retry: None,
            output_limit: None,
            max_memory: None,
            lines: None,
        }
    }

    /// Appends one argument.
    #[must_use]
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends several arguments.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the job (later settings of the same key win).
    #[must_use]
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Removes an environment variable the job would otherwise inherit.
    #[must_use]
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Starts the job with an empty environment plus what [`Job::env`] sets.
    ///
    /// Settings made before this call are dropped, as with [`std::process::Command::env_clear`].
    #[must_use]
    pub fn env_clear(mut self) -> Self {
        self.env.clear();
        self.env_clear = true;
        self
    }

    /// Sets the working directory.
    #[must_use]
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Feeds these bytes to the job's stdin, then closes it. Without it (or another `stdin_*`)
    /// stdin is empty. The last `stdin*` call wins.
    #[must_use]
    pub fn stdin(mut self, bytes: impl Into<Bytes>) -> Self {
        self.stdin = Input::bytes(bytes.into());
        self
    }

    /// Feeds the file at `path` to the job's stdin, opened when each attempt starts: a retried
    /// job reads it again from the start. The native backend hands the file itself to the
    /// process (no copy through the pool); the others stream it in bounded memory. A file that
    /// cannot be opened fails the attempt to start
    /// ([`Outcome::SpawnFailed`](crate::Outcome::SpawnFailed)), naming it.
    ///
    /// ```
    /// # // It runs Unix programs (sh, echo, cat...); Windows runs its own in process-pool-native.
    /// # #[cfg(unix)]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use process_pool::{Job, NativeSpawner};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let input = dir.path().join("words.txt");
    /// std::fs::write(&input, "b\na\n")?;
    /// let pool = NativeSpawner::pool(2)?;
    /// let sorted = pool.submit(Job::new("sort").stdin_file(&input)).await?.await;
    /// assert_eq!(sorted.stdout_lossy(), "a\nb\n");
    /// # Ok(()) }
    /// # #[cfg(not(unix))]
    /// # fn main() {}
    /// ```
    #[must_use]
    pub fn stdin_file(mut self, path: impl AsRef<Path>) -> Self {
        self.stdin = Input::file(path.as_ref().to_owned());
        self
    }

    /// Feeds `reader` to the job's stdin as the job reads it (a slow job slows the reader; the
    /// pool holds one chunk at a time). A reader serves one attempt: a job with one is not
    /// retried, and its result says so ([`JobResult::retry_prevented`]); give
    /// [`Job::stdin_reader_with`] a factory for a job that may be.
    ///
    /// [`JobResult::retry_prevented`]: crate::JobResult::retry_prevented
    ///
    /// ```
    /// # // It runs Unix programs (sh, echo, cat...); Windows runs its own in process-pool-native.
    /// # #[cfg(unix)]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use process_pool::{job, NativeSpawner};
    ///
    /// let (mut tx, rx) = tokio::io::duplex(1024);
    /// let pool = NativeSpawner::pool(2)?;
    /// let counted = pool.submit(job("wc", ["-l"]).stdin_reader(rx)).await?;
    /// tokio::io::AsyncWriteExt::write_all(&mut tx, b"one\ntwo\n").await?;
    /// drop(tx); // the end of the job's input
    /// assert_eq!(counted.await.stdout_lossy().trim(), "2");
    /// # Ok(()) }
    /// # #[cfg(not(unix))]
    /// # fn main() {}
    /// ```
    #[must_use]
    pub fn stdin_reader(mut self, reader: impl AsyncRead + Send + Unpin + 'static) -> Self {
        self.stdin = Input::reader(Box::new(reader));
        self
    }

    /// Feeds the job's stdin from a reader that `make` creates when each attempt starts, so
    /// the job may be retried; an error from `make` fails the attempt to start.
    ///
    /// ```
    /// use process_pool::Job;
    ///
    /// let job = Job::new("md5sum").stdin_reader_with(|| Ok(std::io::Cursor::new(b"data".to_vec())));
    /// assert!(job.get_input().single_use().is_none());
    /// ```
    #[must_use]
    pub fn stdin_reader_with<R, F>(mut self, make: F) -> Self
    where
        R: AsyncRead + Send + Unpin + 'static,
        F: Fn() -> std::io::Result<R> + Send + Sync + 'static,
    {
        self.stdin = Input::factory(std::sync::Arc::new(move || {
            make().map(|r| Box::new(r) as BoxReader)
        }));
        self
    }

    /// Sets the job's stdin from an [`Input`] (a pipeline's own wiring).
    pub(crate) fn stdin_input(mut self, input: Input) -> Self {
        self.stdin = input;
        self
    }

    /// Takes `other`'s stdin, stdout and stderr: for a backend that runs a job through a
    /// program of its own (a launcher such as `srun`) whose stdio carries the job's.
    #[must_use]
    pub fn stdio_from(mut self, other: &Job) -> Self {
        self.stdin = other.stdin.clone();
        self.stdout = other.stdout.clone();
        self.stderr = other.stderr.clone();
        self
    }

    /// Where the job's stdout goes: kept in memory up to the output limit (the default),
    /// spilled to disk past it, to a file, to a writer, or discarded; see [`Output`].
    ///
    /// ```
    /// # // It runs Unix programs (sh, echo, cat...); Windows runs its own in process-pool-native.
    /// # #[cfg(unix)]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use process_pool::{job, NativeSpawner, Output};
    ///
    /// let pool = NativeSpawner::pool(2)?;
    /// let (tx, mut rx) = tokio::io::duplex(1024);
    /// let handle = pool.submit(job("echo", ["to a writer"]).stdout(Output::writer(tx))).await?;
    /// let mut text = String::new();
    /// tokio::io::AsyncReadExt::read_to_string(&mut rx, &mut text).await?;
    /// assert_eq!(text, "to a writer\n");
    /// assert!(handle.await.stdout.is_empty(), "nothing kept in memory");
    /// # Ok(()) }
    /// # #[cfg(not(unix))]
    /// # fn main() {}
    /// ```
    #[must_use]
    pub fn stdout(mut self, output: Output) -> Self {
        self.stdout = output;
        self
    }

    /// Where the job's stderr goes; see [`Job::stdout`] and [`Output`].
    #[must_use]
    pub fn stderr(mut self, output: Output) -> Self {
        self.stderr = output;
        self
    }

    /// Wall-clock limit for one attempt; past it the job is stopped and reported as timed out.
    /// Overrides the pool's default timeout.
    #[must_use]
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Scheduling priority: higher runs first, equal priorities run in submission order.
    /// The default is 0.
    #[must_use]
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// A name for logs and hooks.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Overrides the pool's retry policy for this job.
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Overrides the pool's limit of bytes kept per output stream for this job.
    #[must_use]
    pub fn output_limit(mut self, bytes: usize) -> Self {
        self.output_limit = Some(bytes);
        self
    }

    /// Overrides the pool's memory limit for this job: `bytes` for all of its processes
    /// together, enforced by the kernel. When they go over it, the kernel kills one of them
    /// (the one holding most); a job that then fails ends
    /// [`Outcome::OutOfMemory`](crate::Outcome::OutOfMemory). Its siblings run on.
    ///
    /// Only a backend that can enforce it runs such a job (a `NativeSpawner` whose jobs run
    /// in cgroups, on Linux); any other fails it at its start, saying why
    /// ([`Spawner::check_memory_limit`](crate::backend::Spawner::check_memory_limit)).
    ///
    /// ```
    /// use process_pool::job;
    ///
    /// let j = job("convert", ["in.tiff", "out.png"]).max_memory(512 << 20);
    /// assert_eq!(j.get_max_memory(), Some(512 << 20));
    /// ```
    #[must_use]
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.max_memory = Some(bytes);
        self
    }

    /// Sends the job's output to `lines` as it is written, line by line (for a build tool's
    /// live log, say), besides capturing it in the result: the same output limit applies to
    /// both. The channel is bounded: a reader that falls behind slows the job's pipe rather
    /// than the pool's memory. Lines come from every attempt, each marked with its number.
    /// Supported by the native and WASI backends as the job runs; a backend that cannot
    /// stream sends the lines when the job ends.
    ///
    /// ```
    /// # // It runs Unix programs (sh, echo, cat...); Windows runs its own in process-pool-native.
    /// # #[cfg(unix)]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use process_pool::{job, NativeSpawner, Stream};
    ///
    /// let pool = NativeSpawner::pool(2)?;
    /// let (lines, mut live) = tokio::sync::mpsc::channel(64);
    /// let handle = pool.submit(job("printf", ["a\nb\n"]).output_lines(lines)).await?;
    /// let first = live.recv().await.expect("a line");
    /// assert_eq!((first.stream, &first.bytes[..]), (Stream::Stdout, &b"a\n"[..]));
    /// assert_eq!(&live.recv().await.expect("a line").bytes[..], b"b\n");
    /// assert!(handle.await.success());
    /// # Ok(()) }
    /// # #[cfg(not(unix))]
    /// # fn main() {}
    /// ```
    #[must_use]
    pub fn output_lines(mut self, lines: mpsc::Sender<OutputLine>) -> Self {
        self.lines = Some(lines);
        self
    }

    /// Where the job's live output goes, if anywhere ([`Job::output_lines`]).
    pub fn get_output_lines(&self) -> Option<&mpsc::Sender<OutputLine>> {
        self.lines.as_ref()
    }

    /// The program to run.
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments, without the program.
    pub fn get_args(&self) -> &[OsString] {
        &self.args
    }

    /// The environment changes in the order they were made: `Some(value)` sets, `None` removes.
    pub fn get_envs(&self) -> &[(OsString, Option<OsString>)] {
        &self.env
    }

    /// The effective environment changes: one entry per key, the last setting winning.
    pub fn effective_envs(&self) -> Vec<(&OsStr, Option<&OsStr>)> {
        let mut out: Vec<(&OsStr, Option<&OsStr>)> = Vec::with_capacity(self.env.len());
        for (k, v) in &self.env {
            match out.iter_mut().find(|(key, _)| *key == k.as_os_str()) {
                Some(slot) => slot.1 = v.as_deref(),
                None => out.push((k, v.as_deref())),
            }
        }
        out
    }

    /// Whether the inherited environment is cleared.
    pub fn get_env_clear(&self) -> bool {
        self.env_clear
    }

    /// The working directory, if set.
    pub fn get_cwd(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }

    /// The stdin bytes, if stdin is given as bytes.
    pub fn get_stdin(&self) -> Option<&Bytes> {
        self.stdin.as_bytes()
    }

    /// Where stdin comes from: what a backend opens for each attempt ([`Input::open`]).
    pub fn get_input(&self) -> &Input {
        &self.stdin
    }

    /// Where stdout goes: what a backend opens for each attempt ([`Output::open`]).
    pub fn get_stdout(&self) -> &Output {
        &self.stdout
    }

    /// Where stderr goes.
    pub fn get_stderr(&self) -> &Output {
        &self.stderr
    }

    /// Why the job can run only once, if it can: a single-use reader or writer (or a
    /// pipeline's pipe) serves one attempt.
    pub fn single_use(&self) -> Option<&'static str> {
        self.stdin
            .single_use()
            .or_else(|| self.stdout.single_use())
            .or_else(|| self.stderr.single_use())
    }

    /// The job's own timeout, if set.
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The scheduling priority.
    pub fn get_priority(&self) -> i32 {
        self.priority
    }

    /// The label, if set.
    pub fn get_label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// The job's own retry policy, if set.
    pub fn get_retry(&self) -> Option<&RetryPolicy> {
        self.retry.as_ref()
    }

    /// The job's own output limit, if set.
    pub fn get_output_limit(&self) -> Option<usize> {
        self.output_limit
    }

    /// The job's own memory limit in bytes, if set.
    pub fn get_max_memory(&self) -> Option<u64> {
        self.max_memory
    }

    /// The program as text, for messages.
    pub fn program_lossy(&self) -> String {
        self.program.to_string_lossy().into_owned()
    }

    /// The program (as text), label and working directory, copied, for an interim result.
    pub(crate) fn identity(&self) -> Identity {
        (self.program_lossy(), self.label.clone(), self.cwd.clone())
    }

    /// Moves the program (as text), label and working directory out of a job that has ended,
    /// for its result: no copy, and no allocation when the program is valid UTF-8.
    pub(crate) fn take_identity(&mut self) -> Identity {
        let program = std::mem::take(&mut self.program)
            .into_string()
            .unwrap_or_else(|raw| raw.to_string_lossy().into_owned());
        (program, self.label.take(), self.cwd.take())
    }

    /// Checks what can be checked without starting anything: a program name, a non-zero
    /// timeout, environment names that are names (not empty, no `=`), no NUL byte anywhere an
    /// operating system or a WASI guest would cut the text short, and a valid retry policy.
    ///
    /// A pool checks every job when it is submitted, so every backend refuses the same jobs
    /// with the same [`JobError::InvalidJob`].
    ///
    /// ```
    /// use process_pool::{Job, JobError};
    ///
    /// assert!(Job::new("env").env("LANG", "C").validate().is_ok());
    /// let error = Job::new("env").env("A=B", "c").validate().unwrap_err();
    /// assert!(matches!(error, JobError::InvalidJob { .. }));
    /// assert!(error.to_string().contains("`A=B`"), "{error}");
    /// ```
    pub fn validate(&self) -> Result<(), JobError> {
        self.check()
            .map_err(|reason| JobError::InvalidJob { reason })
    }

    fn check(&self) -> Result<(), String> {
        // Named in messages only: made only when there is one to write.
        let program = || self.program_lossy();
        if self.program.is_empty() {
            return Err("the program name is empty".into());
        }
        no_nul(&self.program, || "the program name".to_owned())?;
        for (i, arg) in self.args.iter().enumerate() {
            no_nul(arg, || format!("argument {} of `{}`", i + 1, program()))?;
        }
        for (key, value) in &self.env {
            let name = || key.to_string_lossy();
            if key.is_empty() {
                return Err(format!(
                    "an environment variable of `{}` has an empty name",
                    program()
                ));
            }
            if key.as_encoded_bytes().contains(&b'=') {
                return Err(format!(
                    "the environment variable name `{}` of `{}` contains `=`",
                    name(),
                    program()
                ));
            }
            no_nul(key, || {
                format!(
                    "the environment variable name `{}` of `{}`",
                    name(),
                    program()
                )
            })?;
            if let Some(value) = value {
                no_nul(value, || {
                    format!(
                        "the value of environment variable `{}` of `{}`",
                        name(),
                        program()
                    )
                })?;
            }
        }
        if let Some(cwd) = &self.cwd {
            no_nul(cwd.as_os_str(), || {
                format!("the working directory of `{}`", program())
            })?;
        }
        if self.timeout == Some(Duration::ZERO) {
            return Err(format!("the timeout of `{}` is zero", program()));
        }
        if self.max_memory == Some(0) {
            return Err(format!("the memory limit of `{}` is zero", program()));
        }
        if let Some(policy) = &self.retry {
            policy
                .validate()
                .map_err(|reason| format!("`{}`: {reason}", program()))?;
        }
        Ok(())
    }
}

/// Refuses text with a NUL byte, which the OS (and WASI) would cut short there.
fn no_nul(text: &OsStr, what: impl FnOnce() -> String) -> Result<(), String> {
    if text.as_encoded_bytes().contains(&0) {
        return Err(format!(
            "{} contains a NUL byte: `{}`",
            what(),
            text.to_string_lossy().replace('\0', "\\0")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_envs_keeps_the_last_setting_per_key() {
        let j = Job::new("x")
            .env("A", "1")
            .env("B", "2")
            .env_remove("A")
            .env("B", "3");
        let envs = j.effective_envs();
        assert_eq!(
            envs,
            vec![
                (OsStr::new("A"), None),
                (OsStr::new("B"), Some(OsStr::new("3")))
            ]
        );
    }

    #[test]
    fn env_clear_drops_earlier_settings() {
        let j = Job::new("x").env("A", "1").env_clear().env("B", "2");
        assert!(j.get_env_clear());
        assert_eq!(j.get_envs().len(), 1);
    }

    #[test]
    fn validate_rejects_empty_program_and_zero_timeout() {
        let reason = |job: Job| job.check().unwrap_err();
        assert!(reason(Job::new("")).contains("empty"));
        let err = reason(Job::new("sleep").timeout(Duration::ZERO));
        assert!(err.contains("sleep"), "{err}");
        assert!(Job::new("true").check().is_ok());
    }

    #[test]
    fn validate_refuses_bad_environment_names_and_nul_bytes() {
        let reason = |job: Job| job.check().unwrap_err();
        assert!(reason(Job::new("x").env("A=B", "c")).contains("`A=B`"));
        assert!(reason(Job::new("x").env("", "c")).contains("empty name"));
        assert!(reason(Job::new("x").env_remove("")).contains("empty name"));
        let err = reason(Job::new("x").env("ACC\0B", "c"));
        assert!(err.contains("NUL") && err.contains("ACC\\0B"), "{err}");
        assert!(
            reason(Job::new("x").env("A", "v\0w")).contains("value of environment variable `A`")
        );
        assert!(reason(Job::new("x").arg("ok").arg("b\0d")).contains("argument 2"));
        assert!(reason(Job::new("x\0y")).contains("program name"));
        assert!(reason(Job::new("x").cwd("/tmp/a\0b")).contains("working directory"));
        assert!(
            Job::new("x")
                .env("A", "B=C")
                .env("PATH_2", "")
                .check()
                .is_ok()
        );
    }
}
