//! `--joblog FILE` in GNU parallel's format, and what `--resume` / `--resume-failed` read back.
//!
//! One line per job that ended, in the order they ended, TAB separated: `Seq`, `Host` (`:`),
//! `Starttime` (seconds since the epoch, 3 decimals), `JobRuntime` (`%10.3f`), `Send` (0),
//! `Receive` (bytes of stdout), `Exitval`, `Signal`, `Command`. A timed-out job has Exitval -1
//! and Signal 15, a job killed by a signal Exitval 0 and its signal, a program that could not
//! be found 127 (126: not executable), as GNU parallel's shell would report. Jobs cancelled by
//! `--halt now` or an interrupt are not written: they did not end, and a resumed run runs them.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use process_pool::Outcome;

const HEADER: &str = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

/// An outcome as GNU parallel reports it: an exit value and a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GnuStatus {
    pub(crate) exitval: i32,
    pub(crate) signal: i32,
}

impl GnuStatus {
    pub(crate) fn of(outcome: &Outcome) -> GnuStatus {
        let (exitval, signal) = match outcome {
            Outcome::Exited(code) => (*code, 0),
            Outcome::Signaled(signal) => (0, *signal),
            // Windows' exit code, its 32 bits (the NTSTATUS), as `Exited` holds them.
            #[allow(clippy::cast_possible_wrap)]
            Outcome::Exception(code) => (*code as i32, 0),
            Outcome::TimedOut => (-1, 15),
            Outcome::SpawnFailed(error) => match error.kind() {
                io::ErrorKind::NotFound => (127, 0),
                io::ErrorKind::PermissionDenied => (126, 0),
                _ => (-1, 0),
            },
            _ => (-1, 0),
        };
        GnuStatus { exitval, signal }
    }

    /// The status a shell would give: the exit value, else 128 + the signal.
    pub(crate) fn shell_status(self) -> i32 {
        match (self.exitval, self.signal) {
            (0, 0) => 0,
            (0, signal) => 128 + signal,
            (code, _) => code,
        }
    }
}

/// Which jobs an earlier run's log says need not run again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resume {
    /// Run everything; the log starts anew (or is appended to, for `+FILE`).
    No,
    /// `--resume`: skip every job in the log.
    Logged,
    /// `--resume-failed`: skip the jobs the log shows succeeded.
    Succeeded,
}

/// An open job log.
#[derive(Debug)]
pub(crate) struct JobLog {
    path: PathBuf,
    file: File,
}

impl JobLog {
    /// Opens the log named on the command line (`+FILE` appends), after [`done_before`] read
    /// it when resuming: a resumed log is appended to.
    pub(crate) fn open(spec: &str, resume: Resume) -> Result<JobLog, String> {
        let (append, path) = parse_spec(spec);
        let keep = append || resume != Resume::No;
        let named = |e: io::Error| format!("joblog `{}`: {e}", path.display());
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(keep)
            .truncate(!keep)
            .open(&path)
            .map_err(named)?;
        let empty = file.metadata().map(|m| m.len() == 0).unwrap_or(true);
        if empty {
            file.write_all(HEADER.as_bytes()).map_err(named)?;
        }
        Ok(JobLog { path, file })
    }

    /// Writes one ended job's line (one `write`, so a line is never half there).
    pub(crate) fn write(
        &mut self,
        seq: u64,
        start: SystemTime,
        runtime: Duration,
        received: usize,
        status: GnuStatus,
        command: &str,
    ) -> Result<(), String> {
        let start = start.duration_since(UNIX_EPOCH).unwrap_or_default();
        let line = format!(
            "{seq}\t:\t{:.3}\t{:10.3}\t0\t{received}\t{}\t{}\t{}\n",
            start.as_secs_f64(),
            runtime.as_secs_f64(),
            status.exitval,
            status.signal,
            command.replace('\n', "\0"),
        );
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| format!("joblog `{}`: {e}", self.path.display()))
    }
}

/// `+FILE` appends to FILE.
fn parse_spec(spec: &str) -> (bool, PathBuf) {
    match spec.strip_prefix('+') {
        Some(rest) => (true, PathBuf::from(rest)),
        None => (false, PathBuf::from(spec)),
    }
}

/// The sequence numbers an earlier run's log says need not run again (none when not resuming,
/// or when there is no log yet).
pub(crate) fn done_before(spec: &str, resume: Resume) -> Result<HashSet<u64>, String> {
    let mut skip = HashSet::new();
    if resume == Resume::No {
        return Ok(skip);
    }
    let (_, path) = parse_spec(spec);
    let named = |e: io::Error| format!("joblog `{}`: {e}", path.display());
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(skip),
        Err(e) => return Err(named(e)),
    };
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(named)?;
        if number == 0 && line.starts_with("Seq\t") {
            continue;
        }
        let fields: Vec<&str> = line.splitn(9, '\t').collect();
        let parsed = (fields.len() == 9)
            .then(|| {
                Some((
                    fields[0].parse::<u64>().ok()?,
                    fields[6].parse::<i64>().ok()?,
                    fields[7].parse::<i64>().ok()?,
                ))
            })
            .flatten();
        let Some((seq, exitval, signal)) = parsed else {
            return Err(format!(
                "joblog `{}` line {} is not in GNU parallel's format: {line}",
                path.display(),
                number + 1
            ));
        };
        if resume == Resume::Logged || (exitval == 0 && signal == 0) {
            skip.insert(seq);
        }
    }
    Ok(skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_in_gnu_parallels_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let spec = path.to_str().unwrap();
        assert!(done_before(spec, Resume::Logged).unwrap().is_empty());
        let mut log = JobLog::open(spec, Resume::No).unwrap();
        let start = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let ok = GnuStatus::of(&Outcome::Exited(0));
        log.write(1, start, Duration::from_millis(4), 3, ok, "echo hi")
            .unwrap();
        let late = GnuStatus::of(&Outcome::TimedOut);
        log.write(2, start, Duration::from_millis(1065), 0, late, "sleep 3")
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "{HEADER}1\t:\t1700000000.123\t     0.004\t0\t3\t0\t0\techo hi\n\
                 2\t:\t1700000000.123\t     1.065\t0\t0\t-1\t15\tsleep 3\n"
            )
        );
        // --resume skips both, --resume-failed only the one that succeeded; neither adds a header.
        assert_eq!(
            done_before(spec, Resume::Logged).unwrap(),
            HashSet::from([1, 2])
        );
        assert_eq!(
            done_before(spec, Resume::Succeeded).unwrap(),
            HashSet::from([1])
        );
        JobLog::open(spec, Resume::Logged).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path)
                .unwrap()
                .matches("Seq")
                .count(),
            1
        );
    }

    #[test]
    fn a_log_in_another_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "Seq\tHost\nnot a job line\n").unwrap();
        let err = done_before(path.to_str().unwrap(), Resume::Logged).unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn signals_read_as_a_shell_reads_them() {
        assert_eq!(GnuStatus::of(&Outcome::Signaled(9)).shell_status(), 137);
        let exception = GnuStatus::of(&Outcome::Exception(0xC000_0005));
        assert_eq!(exception.exitval as u32, 0xC000_0005);
        assert_eq!(GnuStatus::of(&Outcome::Exited(3)).shell_status(), 3);
        assert_eq!(GnuStatus::of(&Outcome::TimedOut).shell_status(), -1);
    }
}
