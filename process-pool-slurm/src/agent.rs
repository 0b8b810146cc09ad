//! The agent: what `process-pool-agent` runs on a node. It serves the worker protocol on its
//! stdin and stdout (through [`crate::lines`]), runs each job it is sent with the native
//! spawner (its own process group, tree kill, output caps), many at once, and takes its jobs'
//! processes with it when its input ends. In relay mode it runs a user's worker program
//! instead and carries that worker's protocol bytes.

use std::io;
use std::os::fd::AsFd;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use process_pool_core::backend::{
    CancellationToken, ExitStatus, RunContext, Spawner, StartedWorker, WorkerSpawner,
};
use process_pool_native::{NativeSpawner, NativeWorker};
use process_pool_protocol::{CallContext, Worker};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::lines::{LineReader, LineWriter};
use crate::spec::{JobSpec, Reply};

/// The method an agent serves: run one job.
pub const RUN_METHOD: &str = "run";
/// The first words of the line an agent writes to stderr once it serves; the pool reads the
/// job, step and node from it.
pub const READY_PREFIX: &str = "process-pool-agent: ready";
/// How long past a job's own timeout the agent waits for the pool's cancel before it stops
/// the job by itself.
const TIMEOUT_SLACK: Duration = Duration::from_secs(1);
/// How long a relayed worker has to exit after its input ends.
const RELAY_GRACE: Duration = Duration::from_secs(1);

/// How an agent runs.
#[derive(Debug, Clone, Default)]
pub struct AgentOptions {
    /// Jobs at once (default: the CPUs Slurm gave this node, `SLURM_CPUS_ON_NODE`, else the
    /// CPUs it has).
    pub concurrency: Option<u32>,
    /// The allocation is the pool's own: when the pool goes (the input ends without a
    /// shutdown), cancel it (`scancel $SLURM_JOB_ID`), in case `salloc` went with the pool.
    pub release_allocation: bool,
}

/// The CPUs this node gave the allocation, or the machine's.
pub fn node_cpus() -> u32 {
    std::env::var("SLURM_CPUS_ON_NODE")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
        })
}

/// Runs the agent until its input ends or the pool asks it to stop.
pub fn run_agent(options: &AgentOptions) -> io::Result<()> {
    let concurrency = options.concurrency.unwrap_or_else(node_cpus).max(1);
    // The pool reads this agent's answers from its stdout (through srun): a guard holds a copy
    // of it until every job this agent started is dead, so that however the agent ends (kill -9
    // included) the pool sees its connection close only then, and never answers or reruns a
    // job whose process still runs. Before the announcement: no job can come earlier.
    let connection = std::io::stdout().as_fd().try_clone_to_owned()?;
    process_pool_native::hold_until_jobs_end(connection)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(concurrency.clamp(1, 4) as usize)
        .enable_all()
        .build()?;
    let input_ended = Arc::new(AtomicBool::new(false));
    let result = runtime.block_on(async {
        let (reader, writer) = stdio()?;
        let reader = LineReader::new(EndFlag {
            inner: reader,
            ended: Arc::clone(&input_ended),
        });
        announce(concurrency);
        Worker::new()
            .method_with_context(RUN_METHOD, run_job)
            .concurrency(concurrency)
            .serve_on(reader, LineWriter::new(writer))
            .await
    });
    // Dropping the jobs' tasks kills their process groups (the native spawner's guard).
    runtime.shutdown_timeout(Duration::from_secs(1));
    if options.release_allocation && input_ended.load(Ordering::SeqCst) {
        release_allocation();
    }
    result
}

/// Tells the pool where this agent runs (stderr, one line).
fn announce(concurrency: u32) {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| "-".to_owned());
    eprintln!(
        "{READY_PREFIX} node={} job={} step={} pid={} cpus={concurrency}",
        var("SLURMD_NODENAME"),
        var("SLURM_JOB_ID"),
        var("SLURM_STEP_ID"),
        std::process::id(),
    );
}

/// Cancels this agent's allocation: the pool that owned it is gone.
fn release_allocation() {
    if let Ok(job) = std::env::var("SLURM_JOB_ID") {
        let _ = std::process::Command::new("scancel")
            .arg(job)
            .stdin(Stdio::null())
            .status();
    }
}

/// Runs one job: the `run` method.
async fn run_job(payload: Bytes, _call: CallContext) -> Result<Bytes, String> {
    let spec = JobSpec::decode(&payload).map_err(|e| format!("a bad job spec: {e}"))?;
    let job = spec.to_job();
    let token = CancellationToken::new();
    // A cancel (or the end of input) drops this future: the job is then stopped the way the
    // pool asked (SIGTERM, the grace, SIGKILL) by its own task, which goes on without us.
    let _stop_if_dropped = token.clone().drop_guard();
    let limit = usize::try_from(spec.output_limit).unwrap_or(usize::MAX);
    let grace = spec.kill_grace;
    let timeout = spec.timeout;
    let max_memory = spec.max_memory;
    let task = tokio::spawn(async move {
        let ctx = RunContext::new(token.clone(), limit, grace).with_max_memory(max_memory);
        let spawner = NativeSpawner::new();
        let run = spawner.spawn(&job, &ctx);
        tokio::pin!(run);
        if let Some(limit) = timeout {
            tokio::select! {
                outcome = &mut run => return outcome,
                () = tokio::time::sleep(limit.saturating_add(TIMEOUT_SLACK)) => token.cancel(),
            }
        }
        run.await
    });
    let outcome = task
        .await
        .map_err(|e| format!("the job's task failed: {e}"))?;
    let reply = match outcome {
        Ok(exit) => Reply::Exit(exit),
        Err(error) => Reply::SpawnFailed(error),
    };
    Ok(Bytes::from(reply.encode()))
}

/// Sets a flag when the stream under it ends.
struct EndFlag<R> {
    inner: R,
    ended: Arc<AtomicBool>,
}

impl<R: AsyncRead + Unpin> AsyncRead for EndFlag<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, std::task::Poll::Ready(Ok(()))) && buf.filled().len() == before {
            self.ended.store(true, Ordering::SeqCst);
        }
        poll
    }
}

type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// This process's stdin and stdout: non-blocking pipe ends where they are pipes (as slurmstepd
/// makes them), tokio's blocking-thread stdio otherwise.
fn stdio() -> io::Result<(BoxRead, BoxWrite)> {
    use std::os::fd::AsFd;
    let pipes = || -> io::Result<(BoxRead, BoxWrite)> {
        let stdin = io::stdin().as_fd().try_clone_to_owned()?;
        let stdout = io::stdout().as_fd().try_clone_to_owned()?;
        Ok((
            Box::new(tokio::net::unix::pipe::Receiver::from_owned_fd(stdin)?),
            Box::new(tokio::net::unix::pipe::Sender::from_owned_fd(stdout)?),
        ))
    };
    Ok(pipes().unwrap_or_else(|_| (Box::new(tokio::io::stdin()), Box::new(tokio::io::stdout()))))
}

/// Runs a user's worker program on this node and relays its protocol bytes between it and
/// the pool; returns the exit code to exit with (128 + the signal for a killed worker).
pub fn run_relay(program: &std::ffi::OsStr, args: &[std::ffi::OsString]) -> io::Result<i32> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let code = runtime.block_on(relay(program, args));
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

async fn relay(program: &std::ffi::OsStr, args: &[std::ffi::OsString]) -> io::Result<i32> {
    // As an agent's jobs: the worker runs held by the native backend's containment (a cgroup
    // of its own where the node allows), and a guard holds the pool's connection until the
    // worker and all it started are dead, however this relay ends (kill -9 included).
    let connection = std::io::stdout().as_fd().try_clone_to_owned()?;
    process_pool_native::hold_until_jobs_end(connection)?;
    let id = std::env::var("PROCESS_POOL_WORKER_ID")
        .ok()
        .and_then(|id| id.parse().ok())
        .unwrap_or(0);
    let worker = NativeWorker::new(program).args(args).inherit_stderr();
    let StartedWorker {
        reader: mut from_worker,
        writer: mut to_worker,
        exited,
        control,
    } = worker.start(id).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot start `{}`: {e}", program.to_string_lossy()),
        )
    })?;
    announce(1);
    let (reader, writer) = stdio()?;
    let inbound = async move {
        let mut reader = LineReader::new(reader);
        let mut buf = vec![0; 64 << 10];
        loop {
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            to_worker.write_all(&buf[..n]).await?;
            to_worker.flush().await?;
        }
        // The pool is gone: the worker sees its input end too.
        drop(to_worker);
        Ok::<(), io::Error>(())
    };
    let outbound = async move {
        let mut writer = LineWriter::new(writer);
        let mut buf = vec![0; 64 << 10];
        loop {
            let n = from_worker.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            writer.write_all(&buf[..n]).await?;
            writer.flush().await?;
        }
        Ok::<(), io::Error>(())
    };
    let outbound = tokio::spawn(outbound);
    tokio::pin!(inbound);
    tokio::pin!(exited);
    let status = tokio::select! {
        status = &mut exited => status,
        _ = &mut inbound => {
            // Input ended (or broke): the worker has a moment to exit by itself.
            match tokio::time::timeout(RELAY_GRACE, &mut exited).await {
                Ok(status) => status,
                Err(_) => {
                    // With everything it started.
                    control.kill();
                    exited.await
                }
            }
        }
    };
    let _ = tokio::time::timeout(RELAY_GRACE, outbound).await;
    Ok(match status {
        ExitStatus::Code(code) => code,
        ExitStatus::Signal(signal) => 128 + signal,
        _ => 1,
    })
}
