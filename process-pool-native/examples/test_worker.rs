//! A worker for the tests and benchmarks of worker pools: well-behaved methods, and methods
//! that misbehave on purpose.
//!
//! Environment:
//! - `WORKER_CONCURRENCY`: calls at once (default 1);
//! - `WORKER_EXIT_AT_START`: exit with code 2 before the hello;
//! - `WORKER_EXIT_AFTER_HELLO`: say hello, then exit with code 4 at once;
//! - `WORKER_EXIT_EVERY`: `flaky` exits (code 3) on every Nth call to it in this worker
//!   (default 7);
//! - `WORKER_STUBBORN_CHILD`: not a worker: the child `spawn` starts, which ignores the polite
//!   stop (Ctrl-Break on Windows) and sleeps.
//!
//! Methods: `echo`, `upper`, `pid`, `add` (JSON `[a, b]`), `sleep` (ms; cancellable; replies
//! `ms:peak`, peak being the most calls it saw in flight at once), `stubborn` (ms; ignores cancels), `hang`
//! (never answers, cancellable), `flaky` (echo that exits on every Nth call), `die` (aborts
//! the process), `garbage` (writes non-frames to stdout), `freeze` (stops the whole process
//! 50 ms after replying), `wedge` (stops the whole process at once, without replying), `fail`
//! (answers an error), `spawn` (starts a child that ignores the polite stop and answers its
//! pid), `spew` (writes N MiB to stderr without a newline), `leak` (keeps N MiB more, touched), `limited` (fails with "rate
//! limited" for the first N calls to it in this worker, then succeeds).

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use process_pool_protocol::{Bytes, Worker};

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static FLAKY_CALLS: AtomicUsize = AtomicUsize::new(0);
static LEAKED: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
static LIMITED_CALLS: AtomicUsize = AtomicUsize::new(0);

fn number(payload: &Bytes) -> Result<u64, String> {
    std::str::from_utf8(payload)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| format!("expected a number, got {payload:?}"))
}

fn env_number(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> std::io::Result<()> {
    if std::env::var_os("WORKER_STUBBORN_CHILD").is_some() {
        ignore_polite_stop();
        std::thread::sleep(Duration::from_secs(1000));
        std::process::exit(0);
    }
    if std::env::var_os("WORKER_EXIT_AT_START").is_some() {
        eprintln!("test_worker: told to exit at start");
        std::process::exit(2);
    }
    let exit_every = env_number("WORKER_EXIT_EVERY", 7);
    if std::env::var_os("WORKER_EXIT_AFTER_HELLO").is_some() {
        exit_after_hello();
    }
    Worker::new()
        .method("echo", |input: Bytes| async move { Ok::<_, String>(input) })
        .method("upper", |input: Bytes| async move {
            Ok::<_, String>(input.to_ascii_uppercase())
        })
        .method("pid", |_| async {
            Ok::<_, String>(std::process::id().to_string())
        })
        .typed(
            "add",
            |(a, b): (i64, i64)| async move { Ok::<_, String>(a + b) },
        )
        .method("sleep", |input: Bytes| async move {
            let ms = number(&input)?;
            let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
            PEAK.fetch_max(now, Ordering::SeqCst);
            // Decremented even when the call is cancelled (its future dropped).
            struct Leave;
            impl Drop for Leave {
                fn drop(&mut self) {
                    IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
                }
            }
            let _leave = Leave;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, String>(format!("{ms}:{}", PEAK.load(Ordering::SeqCst)))
        })
        .blocking("stubborn", |input: Bytes, _call: &_| {
            std::thread::sleep(Duration::from_millis(number(&input)?));
            Ok::<_, String>("finished anyway")
        })
        .method("hang", |_| std::future::pending::<Result<Bytes, String>>())
        .method("flaky", move |input: Bytes| async move {
            if (FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) + 1).is_multiple_of(exit_every) {
                eprintln!("test_worker: exiting on purpose");
                std::process::exit(3);
            }
            Ok::<_, String>(input)
        })
        .method("die", |_| async {
            eprintln!("test_worker: aborting on purpose");
            std::process::abort();
            #[allow(unreachable_code)]
            Ok::<Bytes, String>(Bytes::new())
        })
        .method("garbage", |_| async {
            let mut out = std::io::stdout();
            let _ = out.write_all(b"\xff\xff\xff\xffthis is not a frame");
            let _ = out.flush();
            Ok::<_, String>("sent")
        })
        .method("freeze", |_| async {
            std::thread::spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                stop_self();
            });
            Ok::<_, String>("freezing")
        })
        .method("wedge", |_| async {
            stop_self();
            Ok::<_, String>("never sent")
        })
        .method("spawn", |_| async {
            let me = std::env::current_exe().map_err(|e| e.to_string())?;
            // Left running on purpose: the pool must end it with the worker.
            #[allow(clippy::zombie_processes)]
            let child = std::process::Command::new(me)
                .env("WORKER_STUBBORN_CHILD", "1")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(child.id().to_string())
        })
        .method("fail", |_| async {
            Err::<Bytes, _>("asked to fail".to_owned())
        })
        .blocking("spew", |input: Bytes, _call: &_| {
            // MiB of stderr without a single newline.
            let chunk = vec![b'x'; 1 << 20];
            let mut err = std::io::stderr().lock();
            for _ in 0..number(&input)? {
                err.write_all(&chunk).map_err(|e| e.to_string())?;
            }
            err.flush().map_err(|e| e.to_string())?;
            Ok::<_, String>("spewed")
        })
        .method("limited", |input: Bytes| async move {
            let free_after = usize::try_from(number(&input)?).map_err(|e| e.to_string())?;
            if LIMITED_CALLS.fetch_add(1, Ordering::SeqCst) < free_after {
                return Err("rate limited: try again later".to_owned());
            }
            Ok::<_, String>("through".to_owned())
        })
        .method("leak", |input: Bytes| async move {
            let mib = usize::try_from(number(&input)?).map_err(|e| e.to_string())?;
            let block = vec![1u8; mib << 20];
            let mut leaked = LEAKED.lock().unwrap_or_else(|e| e.into_inner());
            leaked.push(block);
            Ok::<_, String>(leaked.len().to_string())
        })
        .concurrency(u32::try_from(env_number("WORKER_CONCURRENCY", 1)).unwrap_or(1))
        .run()
}

/// Writes a hello frame by hand (as PROTOCOL.md lays it out), then exits with code 4.
fn exit_after_hello() -> ! {
    let hello = Worker::new().method("echo", |b: Bytes| async move { Ok::<_, String>(b) });
    let payload = hello.hello().to_json();
    let mut frame = Vec::new();
    frame.extend_from_slice(
        &u32::try_from(12 + payload.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    frame.extend_from_slice(&[process_pool_protocol::Kind::Hello as u8, 0, 0, 0]);
    frame.extend_from_slice(&0u64.to_be_bytes());
    frame.extend_from_slice(&payload);
    let mut out = std::io::stdout();
    let _ = out.write_all(&frame);
    let _ = out.flush();
    eprintln!("test_worker: exiting right after the hello");
    std::process::exit(4);
}

/// Stops the whole process, as a debugger would: SIGSTOP on Unix.
#[cfg(unix)]
fn stop_self() {
    let me = rustix::process::getpid();
    let _ = rustix::process::kill_process(me, rustix::process::Signal::STOP);
}

/// Stops the whole process, as a debugger would: on Windows, every other thread suspended,
/// then this one.
#[cfg(windows)]
#[allow(unsafe_code)] // FFI to kernel32 on handles opened and closed here.
fn stop_self() {
    use windows_sys::Win32::Foundation::{CloseHandle, INVALID_HANDLE_VALUE};
    use windows_sys::Win32::System::Diagnostics::ToolHelp::{
        CreateToolhelp32Snapshot, TH32CS_SNAPTHREAD, THREADENTRY32, Thread32First, Thread32Next,
    };
    use windows_sys::Win32::System::Threading::{
        GetCurrentThread, GetCurrentThreadId, OpenThread, SuspendThread, THREAD_SUSPEND_RESUME,
    };
    let (me, this) = (std::process::id(), unsafe { GetCurrentThreadId() });
    // SAFETY: each handle is checked, used, then closed; `entry` has its size set.
    unsafe {
        let snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
        if snapshot == INVALID_HANDLE_VALUE {
            return;
        }
        let mut entry = THREADENTRY32 {
            dwSize: std::mem::size_of::<THREADENTRY32>() as u32,
            ..THREADENTRY32::default()
        };
        let mut more = Thread32First(snapshot, &mut entry) != 0;
        while more {
            if entry.th32OwnerProcessID == me && entry.th32ThreadID != this {
                let thread = OpenThread(THREAD_SUSPEND_RESUME, 0, entry.th32ThreadID);
                if !thread.is_null() {
                    SuspendThread(thread);
                    CloseHandle(thread);
                }
            }
            more = Thread32Next(snapshot, &mut entry) != 0;
        }
        CloseHandle(snapshot);
        SuspendThread(GetCurrentThread());
    }
}

#[cfg(windows)]
#[allow(unsafe_code)] // One call that installs a plain function as the handler.
fn ignore_polite_stop() {
    unsafe extern "system" fn ignore(_event: u32) -> windows_sys::core::BOOL {
        1
    }
    // SAFETY: the handler is a plain function that lives as long as the process.
    unsafe { windows_sys::Win32::System::Console::SetConsoleCtrlHandler(Some(ignore), 1) };
}

/// The Unix tests of trees use `sh` with `trap '' TERM`.
#[cfg(unix)]
fn ignore_polite_stop() {}
