//! A program for the native backend's job tests on every platform, where Unix tests use `sh`
//! and the usual tools (Windows has neither): one action per run, named by the first argument.
//!
//! - `exit N`: exits with code N (a number up to `u32::MAX`, its 32 bits on Windows);
//! - `print OUT ERR`: writes OUT to stdout and ERR to stderr;
//! - `cat [FILE]`: copies FILE (or stdin) to stdout;
//! - `env KEY`: prints the variable KEY, or nothing;
//! - `sleep MS`: sleeps MS milliseconds;
//! - `flood BYTES`: writes BYTES zero bytes to stdout;
//! - `crash`: ends by an access violation (Windows: exception `0xC0000005`);
//! - `tree`: starts a `stubborn` child, prints its own pid and the child's, then sleeps;
//! - `orphan`: starts a `stubborn` child, prints its own pid and the child's, then exits 0;
//! - `stubborn`: ignores the polite stop (Ctrl-Break on Windows, SIGTERM on Unix), sleeps;
//! - `pool`: runs a pool of its own with a `tree` job, prints that job's line (the pids of
//!   the job and its child), then waits to be killed.

use std::io::{Read, Write};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(1000);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map_or("", String::as_str);
    let number = |i: usize| -> u64 {
        arg(i)
            .parse()
            .unwrap_or_else(|_| fail(&format!("not a number: {:?}", arg(i))))
    };
    let mut out = std::io::stdout().lock();
    match arg(0) {
        "exit" => {
            let code = u32::try_from(number(1)).unwrap_or_else(|_| fail("code above u32::MAX"));
            // The code's 32 bits: Windows hands them on as the DWORD.
            #[allow(clippy::cast_possible_wrap)]
            std::process::exit(code as i32)
        }
        "print" => {
            out.write_all(arg(1).as_bytes()).unwrap_or_else(io_fail);
            out.flush().unwrap_or_else(io_fail);
            std::io::stderr()
                .write_all(arg(2).as_bytes())
                .unwrap_or_else(io_fail);
        }
        "cat" => {
            let mut input: Box<dyn Read> = match args.get(1) {
                Some(file) => Box::new(std::fs::File::open(file).unwrap_or_else(io_fail)),
                None => Box::new(std::io::stdin().lock()),
            };
            // A reader gone away (a broken pipe) ends the copy, as it ends `cat`.
            let _ = std::io::copy(&mut input, &mut out);
        }
        "env" => {
            if let Some(value) = std::env::var_os(arg(1)) {
                out.write_all(value.as_encoded_bytes())
                    .unwrap_or_else(io_fail);
            }
        }
        "sleep" => std::thread::sleep(Duration::from_millis(number(1))),
        "flood" => {
            let chunk = vec![0u8; 64 << 10];
            let mut left = number(1);
            while left > 0 {
                let n = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
                if out.write_all(&chunk[..n]).is_err() {
                    return;
                }
                left -= n as u64;
            }
        }
        "crash" => crash(),
        "pool" => own_pool(),
        "tree" | "orphan" => {
            let me = std::env::current_exe().unwrap_or_else(io_fail);
            // Left running on purpose: the pool must end it.
            #[allow(clippy::zombie_processes)]
            let child = std::process::Command::new(me)
                .arg("stubborn")
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap_or_else(io_fail);
            writeln!(out, "{} {}", std::process::id(), child.id()).unwrap_or_else(io_fail);
            out.flush().unwrap_or_else(io_fail);
            if arg(0) == "tree" {
                std::thread::sleep(LONG);
            }
        }
        "stubborn" => {
            ignore_polite_stop();
            std::thread::sleep(LONG);
        }
        other => fail(&format!("unknown action {other:?}")),
    }
}

/// A pool in this process, running a `tree` job: its line is printed, then this process waits
/// for its end, which must take the job's tree with it.
fn own_pool() {
    use process_pool_core::Job;
    use process_pool_native::NativeSpawner;

    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(io_fail);
    runtime.block_on(async {
        let pool = NativeSpawner::pool(1).unwrap_or_else(|e| fail(&e.to_string()));
        let me = std::env::current_exe().unwrap_or_else(io_fail);
        let (lines, mut live) = tokio::sync::mpsc::channel(4);
        let _running = pool
            .submit(Job::new(me).arg("tree").output_lines(lines))
            .await
            .unwrap_or_else(|e| fail(&e.to_string()));
        let line = live.recv().await.unwrap_or_else(|| fail("no line"));
        let mut out = std::io::stdout().lock();
        out.write_all(&line.bytes).unwrap_or_else(io_fail);
        out.flush().unwrap_or_else(io_fail);
        std::future::pending::<()>().await;
    });
}

fn fail(message: &str) -> ! {
    eprintln!("test_job: {message}");
    std::process::exit(100)
}

fn io_fail<T>(error: std::io::Error) -> T {
    fail(&error.to_string())
}

/// A write through a null pointer: SIGSEGV on Unix, exception 0xC0000005 on Windows.
#[allow(unsafe_code)]
fn crash() -> ! {
    // SAFETY: none; ending the process by a fault is the point.
    unsafe { std::ptr::null_mut::<u8>().write_volatile(1) };
    fail("still alive after the crash")
}

#[cfg(windows)]
#[allow(unsafe_code)]
fn ignore_polite_stop() {
    use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
    unsafe extern "system" fn ignore(_event: u32) -> windows_sys::core::BOOL {
        1
    }
    // SAFETY: the handler is a plain function that lives as long as the process.
    unsafe { SetConsoleCtrlHandler(Some(ignore), 1) };
}

#[cfg(unix)]
fn ignore_polite_stop() {
    // The Unix tree tests use `sh` with `trap '' TERM`; this program is for Windows' tests.
}
