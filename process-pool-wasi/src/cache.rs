//! [`ModuleCache`]: each file compiled once per version, on a thread of its own, shared by the
//! jobs that want it, and bounded by the spawner's compile limit.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use crate::compile::{Compiler, Prepared};

/// What identifies a version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(path: &Path) -> io::Result<Stamp> {
        let meta = std::fs::metadata(path)?;
        Ok(Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// A failed compile, told to every job that waited for it.
#[derive(Debug, Clone)]
struct Failure {
    kind: io::ErrorKind,
    message: String,
}

type Compiled = Result<Arc<Prepared>, Failure>;

/// A version of a file: compiled, or being compiled.
#[derive(Clone)]
enum State {
    Ready(Arc<Prepared>),
    Compiling(Compiling),
}

/// A compile under way, which any number of jobs may wait for.
#[derive(Clone)]
struct Compiling {
    /// Tells this compile from a later one of the same path.
    id: u64,
    started: Instant,
    done: watch::Receiver<Option<Compiled>>,
}

struct Cached {
    stamp: Stamp,
    /// When the file was last found unchanged.
    checked: Instant,
    state: State,
    last_used: u64,
}

type Entries = Arc<Mutex<HashMap<PathBuf, Cached>>>;

/// Compiled files by path, at most `capacity` of them (the least recently used goes).
///
/// A file is compiled on a blocking thread, once per version however many jobs want it at
/// once. A job waits for it until the compile has run for the compile limit, then fails with
/// [`io::ErrorKind::TimedOut`]; the compile cannot be interrupted, so it goes on, and if it
/// succeeds the jobs after it use its result. A job that stops waiting (cancelled, timed out)
/// leaves the compile to the others.
pub(crate) struct ModuleCache {
    entries: Entries,
    compiler: Compiler,
    capacity: usize,
    /// How long a file found unchanged is trusted without looking again (zero: never).
    recheck_after: Duration,
    /// The longest a compile is waited for.
    compile_limit: Duration,
    clock: AtomicU64,
    next_compile: AtomicU64,
    compiled: Arc<AtomicU64>,
}

impl std::fmt::Debug for ModuleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleCache")
            .field("capacity", &self.capacity)
            .field("recheck_after", &self.recheck_after)
            .field("compile_limit", &self.compile_limit)
            .field("compiled", &self.compiled.load(Relaxed))
            .finish_non_exhaustive()
    }
}

impl ModuleCache {
    pub(crate) fn new(
        compiler: Compiler,
        capacity: usize,
        recheck_after: Duration,
        compile_limit: Duration,
    ) -> Self {
        ModuleCache {
            entries: Arc::default(),
            compiler,
            capacity: capacity.max(1),
            recheck_after,
            compile_limit,
            clock: AtomicU64::new(0),
            next_compile: AtomicU64::new(0),
            compiled: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many files have been compiled so far.
    pub(crate) fn compiled(&self) -> u64 {
        self.compiled.load(Relaxed)
    }

    /// The module or component at `path`, ready to instantiate, for a job submitted at
    /// `submitted`: from the cache if the file was found unchanged since then (or less than
    /// `recheck_after` ago), or is now (same size and modification time); else compiled (or
    /// joined to the compile of that version already under way).
    ///
    /// So a job always runs the file as it was at some moment after it was submitted, and a
    /// batch of jobs of one file costs one look (`stat`) at the file, not one per job.
    ///
    /// Dropping the future stops waiting, not the compile.
    pub(crate) async fn get(&self, path: &Path, submitted: Instant) -> io::Result<Arc<Prepared>> {
        let now = self.clock.fetch_add(1, Relaxed);
        let fresh = |c: &&mut Cached| {
            c.checked >= submitted
                || (!self.recheck_after.is_zero() && c.checked.elapsed() < self.recheck_after)
        };
        let hit = lock(&self.entries).get_mut(path).filter(fresh).map(|hit| {
            hit.last_used = now;
            hit.state.clone()
        });
        if let Some(state) = hit {
            return self.wait(state, path).await;
        }
        // Taken before looking: the look tells of the file as it was at this moment or later.
        let checked = Instant::now();
        let stamp = Stamp::of(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot read module `{}`: {e}", path.display()),
            )
        })?;
        let state = {
            let mut entries = lock(&self.entries);
            match entries.get_mut(path).filter(|c| c.stamp == stamp) {
                Some(hit) => {
                    hit.last_used = now;
                    hit.checked = checked;
                    hit.state.clone()
                }
                None => {
                    let state = State::Compiling(self.compile(path));
                    if entries.len() >= self.capacity && !entries.contains_key(path) {
                        let oldest = entries
                            .iter()
                            .min_by_key(|(_, c)| c.last_used)
                            .map(|(p, _)| p.clone());
                        if let Some(oldest) = oldest {
                            entries.remove(&oldest);
                        }
                    }
                    let cached = Cached {
                        stamp,
                        checked,
                        state: state.clone(),
                        last_used: now,
                    };
                    entries.insert(path.to_owned(), cached);
                    state
                }
            }
        };
        self.wait(state, path).await
    }

    /// Starts compiling `path` on a blocking thread, which puts the result in the cache (in
    /// place of this compile, unless a later one replaced it) and tells whoever waits.
    fn compile(&self, path: &Path) -> Compiling {
        let id = self.next_compile.fetch_add(1, Relaxed);
        let (tell, done) = watch::channel(None);
        let (entries, compiler, compiled) = (
            Arc::clone(&self.entries),
            self.compiler.clone(),
            Arc::clone(&self.compiled),
        );
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let result = compiler.prepare(&path).map(Arc::new);
            let mut entries = lock(&entries);
            let ours = entries
                .get(&path)
                .is_some_and(|c| matches!(&c.state, State::Compiling(c) if c.id == id));
            match &result {
                Ok(prepared) => {
                    compiled.fetch_add(1, Relaxed);
                    if let Some(entry) = entries.get_mut(&path).filter(|_| ours) {
                        entry.state = State::Ready(Arc::clone(prepared));
                    }
                }
                // A failure is not kept: the next job looks at the file again.
                Err(_) if ours => drop(entries.remove(&path)),
                Err(_) => {}
            }
            drop(entries);
            tell.send_replace(Some(result.map_err(|e| Failure {
                kind: e.kind(),
                message: e.to_string(),
            })));
        });
        Compiling {
            id,
            started: Instant::now(),
            done,
        }
    }

    /// Waits for `state` to be ready, until its compile has run for the compile limit.
    async fn wait(&self, state: State, path: &Path) -> io::Result<Arc<Prepared>> {
        let mut compiling = match state {
            State::Ready(prepared) => return Ok(prepared),
            State::Compiling(compiling) => compiling,
        };
        let deadline = compiling.started + self.compile_limit;
        let waited =
            tokio::time::timeout_at(deadline.into(), compiling.done.wait_for(Option::is_some))
                .await;
        let compiled = match waited {
            Ok(Ok(done)) => done.clone(),
            // The thread is gone without a word (a panic, a runtime shutting down): let the
            // next job compile again.
            Ok(Err(_)) => {
                let mut entries = lock(&self.entries);
                let ours = entries.get(path).is_some_and(
                    |c| matches!(&c.state, State::Compiling(c) if c.id == compiling.id),
                );
                if ours {
                    entries.remove(path);
                }
                None
            }
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "`{}` did not compile within {:?}, the spawner's compile limit \
                         (`compile_timeout`)",
                        path.display(),
                        self.compile_limit
                    ),
                ));
            }
        };
        match compiled {
            Some(Ok(prepared)) => Ok(prepared),
            Some(Err(failure)) => Err(io::Error::new(failure.kind, failure.message)),
            None => Err(io::Error::other(format!(
                "the compile of `{}` ended without a result",
                path.display()
            ))),
        }
    }
}

fn lock(entries: &Entries) -> MutexGuard<'_, HashMap<PathBuf, Cached>> {
    entries.lock().unwrap_or_else(|p| p.into_inner())
}
