//! Linux: the guard, a small process that outlives this one and ends every job this process
//! started when this process ends, however it ends (SIGKILL, the OOM killer, a crash).
//!
//! It is `/bin/sh` reading a pipe whose other end only this process holds (close-on-exec, so no
//! job holds it): the read returns at end-of-file, when this process is gone. It then kills the
//! pool's cgroup directory (every job cgroup under it) and removes it (and the pool's directory
//! in a cgroup v1 memory hierarchy, if it has one), or, without cgroups,
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
# $1: the pool's cgroup directory, or -; $2: its jobs' marker (NAME=value, each job's .<n>);
# $3: the pool's directory in a cgroup v1 memory hierarchy, or -.
if [ "$1" != - ]; then
    if [ -e "$1/cgroup.kill" ]; then
        echo 1 > "$1/cgroup.kill"
    else
        for d in "$1"/job*; do
            echo 1 > "$d/cgroup.freeze"
            for p in $(cat "$d/cgroup.procs"); do kill -9 "$p"; done
        done
    fi 2>/dev/null
fi
marked() { grep -lzx "$2\.[0-9]*" /proc/[0-9]*/environ 2>/dev/null; }
n=0
while [ $n -lt 500 ]; do
    left=$(marked "$@")
    for f in $left; do p=${f#/proc/}; kill -9 "${p%/environ}" 2>/dev/null; done
    if [ -z "$left" ] && { [ "$1" = - ] || ! grep -q '^populated 1' "$1/cgroup.events" 2>/dev/null; }; then
        break
    fi
    sleep 0.01; n=$((n + 1))
done
for dir in "$3" "$1"; do
    if [ "$dir" != - ]; then
        for d in "$dir"/job*; do rmdir "$d"; done 2>/dev/null
        rmdir "$dir" 2>/dev/null
    fi
done
exit 0
"#;

/// Starts a guard that, when this process ends, kills the pool's cgroup directory (the first of
/// `dirs`, if any) and every process whose environment holds `marker` (`NAME=value`) followed
/// by `.<n>`, waits until they are gone, and removes the directories (the second of `dirs`:
/// the pool's v1 memory directory, if any). `hold`, if given, is kept open by the guard until
/// then: whoever reads its other end sees it close only once the jobs are dead.
pub(crate) fn start(
    dirs: (Option<&Path>, Option<&Path>),
    marker: &str,
    hold: Option<OwnedFd>,
) -> io::Result<()> {
    let (cgroups, memory) = dirs;
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
    command
        .arg(cgroups.map_or(std::ffi::OsStr::new("-"), Path::as_os_str))
        .arg(marker)
        .arg(memory.map_or(std::ffi::OsStr::new("-"), Path::as_os_str));
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
