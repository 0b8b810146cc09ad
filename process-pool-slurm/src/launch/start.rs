//! [`Launcher::start`]: a worker's start, from `salloc`/`srun` to the program saying it runs
//! on its node, and everything it began ended when it is given up half-way.

use std::io;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use process_pool_core::backend::{ExitStatus, StartedWorker, StderrTail, WorkerId};
use tokio::sync::mpsc;

use super::control::Control;
use super::stderr::{Event, classify, read_stderr};
use super::{KILL_FALLBACK, Launcher, Placement, READY_TIMEOUT, STDERR_DRAIN};
use crate::error::SlurmError;
use crate::lines::{LineReader, LineWriter};

impl Launcher {
    /// Starts a worker: waits for its allocation (own placement), then hands its streams over.
    pub(crate) async fn start(self: &Arc<Self>, id: WorkerId) -> io::Result<StartedWorker> {
        let node = self.pick_node();
        let release = |launcher: &Launcher| {
            if let Some(node) = &node {
                launcher.release_node(node);
            }
        };
        let mut command = self.command(node.as_deref());
        command
            .env("PROCESS_POOL_WORKER_ID", id.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Away from the terminal's signals: the pool's own end is what stops it.
            .process_group(0);
        let started_at = Instant::now();
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) => {
                release(self);
                return Err(self.fail(SlurmError::NotReachable {
                    reason: format!("cannot run {}: {error}", describe(&command)),
                }));
            }
        };
        let own = matches!(self.placement, Placement::Own { .. });
        let control = Arc::new(Control {
            commands: self.commands.clone(),
            pid: child.id(),
            own_allocation: own,
            target: Mutex::new(None),
            node: Mutex::new(node.clone()),
            ended: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            tail: StderrTail::default(),
        });
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            release(self);
            return Err(io::Error::other("the worker's pipes were not set up"));
        };
        let (events, mut news) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_stderr(stderr, id, Arc::clone(&control), events));
        let mut abandon = Abandon {
            control: Arc::clone(&control),
            pending: None,
            armed: true,
        };

        if let Placement::Own {
            pending_timeout, ..
        } = &self.placement
        {
            let deadline = tokio::time::Instant::from_std(started_at) + *pending_timeout;
            let mut job = None;
            let mut errors = Vec::new();
            let granted = loop {
                tokio::select! {
                    event = news.recv() => match event {
                        Some(Event::Pending(id)) => {
                            abandon.pending = Some(id.clone());
                            job = Some(id);
                        }
                        Some(Event::Granted(id)) => break Ok(id),
                        Some(Event::Error(line)) => errors.push(line),
                        Some(Event::Ready { .. }) => {}
                        None => break Err(None),
                    },
                    () = tokio::time::sleep_until(deadline) => break Err(Some("pending")),
                    () = self.closing.cancelled() => break Err(Some("closing")),
                }
            };
            match granted {
                Ok(job) => {
                    *control
                        .target
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(job);
                }
                Err(why) => {
                    abandon.armed = false;
                    let reason = match &job {
                        Some(job) if why == Some("pending") => {
                            self.commands.pending_reason(job).await
                        }
                        _ => String::new(),
                    };
                    if let Some(job) = &job {
                        self.commands.cancel_detached(job, None);
                    }
                    // salloc gives up a request it is told to stop.
                    if let Some(pid) = child
                        .id()
                        .and_then(|p| rustix::process::Pid::from_raw(i32::try_from(p).ok()?))
                    {
                        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
                    }
                    if tokio::time::timeout(KILL_FALLBACK, child.wait())
                        .await
                        .is_err()
                    {
                        control.kill_local();
                        let _ = child.wait().await;
                    }
                    let _ = tokio::time::timeout(STDERR_DRAIN, reader).await;
                    while let Ok(event) = news.try_recv() {
                        if let Event::Error(line) = event {
                            errors.push(line);
                        }
                    }
                    let error = match why {
                        Some("pending") => SlurmError::Pending {
                            job,
                            waited: started_at.elapsed(),
                            reason,
                        },
                        Some(_) => SlurmError::Refused {
                            command: "salloc".into(),
                            message: "the pool was dropped while the allocation was pending".into(),
                        },
                        None => classify(&errors, &control.tail.text()),
                    };
                    return Err(self.fail(error));
                }
            }
        }

        // The program runs on its node once it says so; if it ends before, it could not
        // start there (a program missing on the node is `NotFound`, which the pool does not
        // try again).
        let ready = tokio::time::timeout(READY_TIMEOUT, async {
            loop {
                tokio::select! {
                    event = news.recv() => match event {
                        Some(Event::Ready { .. }) => return Ok(()),
                        Some(_) => {}
                        None => return Err(child.wait().await),
                    },
                    status = child.wait() => return Err(status),
                }
            }
        })
        .await;
        match ready {
            Ok(Ok(())) => {}
            Ok(Err(status)) => {
                abandon.armed = false;
                if let Some(job) = control.target() {
                    self.commands.cancel_detached(&job, None);
                }
                let _ = tokio::time::timeout(STDERR_DRAIN, reader).await;
                release(self);
                let tail = control.tail.text();
                let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                return Err(not_started(&self.what, &tail, &status));
            }
            Err(_) => {
                release(self);
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{} did not start within {READY_TIMEOUT:?}", self.what),
                ));
            }
        }
        abandon.armed = false;
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&control));
        let watcher = Arc::clone(&control);
        let launcher = Arc::clone(self);
        let exited = Box::pin(async move {
            let status = child.wait().await;
            watcher.ended.store(true, Ordering::SeqCst);
            if let Some(node) = &node {
                launcher.release_node(node);
            }
            let _ = tokio::time::timeout(STDERR_DRAIN, reader).await;
            let status = match status {
                Ok(status) => status,
                Err(error) => {
                    tracing::warn!(worker = id, %error, "waiting for srun failed");
                    return ExitStatus::Code(-1);
                }
            };
            use std::os::unix::process::ExitStatusExt;
            if watcher.own_allocation && status.signal().is_some() {
                // salloc itself was killed: it could not give the allocation back.
                if let Some(job) = watcher.target() {
                    watcher.commands.cancel_detached(&job, None);
                }
            }
            match (status.code(), status.signal()) {
                (Some(code), _) => ExitStatus::Code(code),
                (None, Some(signal)) => ExitStatus::Signal(signal),
                (None, None) => ExitStatus::Code(-1),
            }
        });
        // A kill that came too late for Slurm to act must still end the local processes.
        let fallback = Arc::clone(&control);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if fallback.ended.load(Ordering::SeqCst) {
                    return;
                }
                if fallback.killed.load(Ordering::SeqCst) {
                    tokio::time::sleep(KILL_FALLBACK).await;
                    if !fallback.ended.load(Ordering::SeqCst) {
                        fallback.kill_local();
                    }
                    return;
                }
            }
        });
        Ok(StartedWorker {
            reader: Box::new(LineReader::new(stdout)),
            writer: Box::new(LineWriter::new(stdin)),
            exited,
            control,
        })
    }
}

/// Ends what a start began when the start is given up half-way (its future dropped by the
/// pool, or a failure): the allocation, pending or granted, and the local `salloc`/`srun`.
struct Abandon {
    control: Arc<Control>,
    pending: Option<String>,
    armed: bool,
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        for job in self.control.target().iter().chain(&self.pending) {
            self.control.commands.cancel_detached(job, None);
        }
        self.control.kill_local();
    }
}

/// Why a program ended on its node before it said it runs, as an error: one the node cannot
/// run (the relay's `cannot start` line) is `NotFound` or `PermissionDenied`.
fn not_started(what: &str, tail: &str, status: &str) -> io::Error {
    let kind = match tail.lines().find(|l| l.contains("cannot start")) {
        Some(line) if line.contains("No such file") => io::ErrorKind::NotFound,
        Some(line) if line.contains("Permission denied") => io::ErrorKind::PermissionDenied,
        _ => io::ErrorKind::Other,
    };
    let tail = tail.trim();
    io::Error::new(
        kind,
        format!("{what} ended before it ran ({status}): {tail}"),
    )
}

fn describe(command: &tokio::process::Command) -> String {
    let command = command.as_std();
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}
