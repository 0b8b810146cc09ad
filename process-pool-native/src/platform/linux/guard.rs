//! Linux: the guard, a small process that outlives this one and ends every job this process
//! started when this process ends, however it ends (SIGKILL, the OOM killer, a crash).
//!
//! It is `/bin/sh` reading a pipe whose other end only this process holds (close-on-exec, so no
//! job holds it): the read returns at end-of-file, when this process is gone. It then kills the
//! pool's cgroup directory (every job cgroup under it) and removes it, or, without cgroups,
//! kills every process whose environment carries this process's job marker
//! ([`MARKER`](super::MARKER)). It ignores the terminal's signals (its own process group) so
//! that a Ctrl-C to the pool cannot end it first.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The write ends of the guards' pipes: never written, closed when this process ends.
static HELD: Mutex<Vec<OwnedFd>> = Mutex::new(Vec::new());

const SCRIPT: &str = r#"
trap '' INT HUP TERM QUIT PIPE
while read -r _; do :; done
case "$1" in
cgroup)
    if [ -e "$2/cgroup.kill" ]; then
        echo 1 > "$2/cgroup.kill"
    else
        for d in "$2"/job*; do
            echo 1 > "$d/cgroup.freeze"
            for p in $(cat "$d/cgroup.procs"); do kill -9 "$p"; done
        done
    fi 2>/dev/null
    n=0
    while [ $n -lt 500 ] && grep -q '^populated 1' "$2/cgroup.events" 2>/dev/null; do
        sleep 0.01; n=$((n + 1))
    done
    for d in "$2"/job*; do rmdir "$d"; done 2>/dev/null
    rmdir "$2" 2>/dev/null ;;
marker)
    for round in 1 2 3; do
        for f in $(grep -lzx "$2\.[0-9]*" /proc/[0-9]*/environ 2>/dev/null); do
            p=${f#/proc/}; kill -9 "${p%/environ}" 2>/dev/null
        done
    done ;;
esac
exit 0
"#;

/// What the guard ends when this process ends.
pub(crate) enum Target<'a> {
    /// The pool's cgroup directory.
    Cgroup(&'a Path),
    /// Every process whose environment holds this `NAME=value` line followed by `.<n>`.
    Marker(&'a str),
}

/// Starts a guard for `target`. `hold`, if given, is kept open by the guard until it has ended
/// the jobs: whoever reads its other end sees it close only then.
pub(crate) fn start(target: Target<'_>, hold: Option<OwnedFd>) -> io::Result<()> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    // Started in the background by a shell that exits at once, so that the guard is init's
    // child, not this process's (whose children are its jobs and workers).
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(r#"exec 3<&0; /bin/sh -c "$PROCESS_POOL_GUARD" process-pool-guard "$@" <&3 3<&- & exit 0"#)
        .arg("process-pool-guard")
        // Nothing of the pool's environment: it is no job (nor an agent's, to Slurm's eyes).
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("PROCESS_POOL_GUARD", SCRIPT);
    match target {
        Target::Cgroup(dir) => command.arg("cgroup").arg(dir),
        Target::Marker(line) => command.arg("marker").arg(line),
    };
    command
        .stdin(Stdio::from(read))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    if let Some(hold) = hold {
        // Its stdout: a descriptor the guard never writes to, only holds.
        command.stdout(Stdio::from(hold));
    }
    let status = command.status()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "the guard's shell failed: {status}"
        )));
    }
    HELD.lock().unwrap_or_else(|e| e.into_inner()).push(write);
    Ok(())
}
