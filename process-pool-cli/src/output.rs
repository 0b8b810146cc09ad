//! Everything written about ended jobs, on a thread of its own so a slow reader of our output
//! never blocks the runtime: each job's output grouped (stdout, then stderr, never mixed with
//! another job's), tagged with `--tag`, in input order with `-k`; `--json` lines; the joblog;
//! `--results` files; and a line on stderr for what the output alone does not show (a timeout,
//! a program that could not start, a trap, output cut at `--max-output`).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::SystemTime;

use process_pool::{JobResult, Outcome, OutputLine, SpillFile, Stream};
use tokio::sync::{mpsc, oneshot};

use crate::input::Record;
use crate::joblog::{GnuStatus, JobLog};
use crate::json;
use crate::progress::Progress;
use crate::results::{Results, Row, started};
use crate::template::{Tag, Template};
use crate::units::show_duration;

/// A job that got its result (cancelled ones too: they are only shown by `--json`).
#[derive(Debug)]
pub(crate) struct Ended {
    /// Its place among started jobs, for `-k`.
    pub(crate) pos: u64,
    pub(crate) record: Record,
    pub(crate) slot: usize,
    pub(crate) result: JobResult,
    pub(crate) ended_at: SystemTime,
}

/// What the writer is sent.
#[derive(Debug)]
pub(crate) enum Message {
    /// A job ended; with `-k`, every job before position `printable_below` has ended too.
    Ended {
        ended: Box<Ended>,
        printable_below: u64,
    },
    /// With `-k`: jobs that had nothing to show ended, so those before this position may print.
    PrintableBelow(u64),
    /// `--line-buffer`: a line of a running job, printed at once (`tag` before it when it
    /// starts a line).
    Line {
        tag: Option<Arc<[u8]>>,
        line: OutputLine,
    },
}

/// What the writer was told to do.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) keep_order: bool,
    /// `--tag`, `--tagstring`.
    pub(crate) tag: Option<Tag>,
    /// Lines were printed as they came: a job's end prints only what its output does not say.
    pub(crate) live_lines: bool,
    pub(crate) json: bool,
    pub(crate) results: Option<Results>,
    pub(crate) joblog: Option<JobLog>,
    pub(crate) output_limit: usize,
}

/// Why the writer stopped early.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Our stdout was closed (`ppool ... | head`).
    BrokenPipe,
    /// Anything else, as one line.
    Other(String),
}

/// The way to the writer thread, and its last word.
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) tx: mpsc::Sender<Message>,
    /// The thread's outcome, sent as the last thing it does: `Some` if it stopped early.
    pub(crate) done: oneshot::Receiver<Option<Failure>>,
    /// Whether `done` has been received already.
    pub(crate) heard: bool,
}

impl Writer {
    pub(crate) fn spawn(settings: Settings, template: Arc<Template>, progress: Progress) -> Writer {
        let (tx, mut rx) = mpsc::channel::<Message>(256);
        let (done_tx, done) = oneshot::channel();
        let writer = move || {
            let mut state = State {
                settings,
                template,
                progress,
                waiting: BTreeMap::new(),
            };
            let mut outcome = None;
            while let Some(message) = rx.blocking_recv() {
                if let Err(failure) = state.take(message) {
                    outcome = Some(failure);
                    break;
                }
            }
            if outcome.is_none() {
                outcome = state.flush_rest().err();
            }
            let _ = done_tx.send(outcome);
        };
        if let Err(e) = std::thread::Builder::new()
            .name("ppool-output".into())
            .spawn(writer)
        {
            eprintln!("ppool: cannot start the output writer: {e}");
        }
        Writer {
            tx,
            done,
            heard: false,
        }
    }

    /// Waits until everything sent has been written; says why it stopped early, if it did
    /// (and was not heard yet).
    pub(crate) async fn finish(self) -> Option<Failure> {
        let Writer { tx, done, heard } = self;
        drop(tx);
        if heard {
            return None;
        }
        done.await.ok().flatten()
    }
}

struct State {
    settings: Settings,
    template: Arc<Template>,
    progress: Progress,
    /// With `-k`: jobs ended before an earlier one, by position.
    waiting: BTreeMap<u64, Ended>,
}

impl State {
    fn take(&mut self, message: Message) -> Result<(), Failure> {
        let below = match message {
            Message::Ended {
                ended,
                printable_below,
            } => {
                if !ended.result.cancelled() {
                    self.log(&ended)?;
                }
                if !self.settings.keep_order {
                    return self.keep_and_show(&ended);
                }
                self.waiting.insert(ended.pos, *ended);
                printable_below
            }
            Message::PrintableBelow(below) => below,
            Message::Line { tag, line } => return self.line(tag.as_deref(), &line),
        };
        while let Some(entry) = self.waiting.first_entry() {
            if *entry.key() >= below {
                break;
            }
            let ended = entry.remove();
            self.keep_and_show(&ended)?;
        }
        Ok(())
    }

    /// What is left waiting for an earlier job that never came (stopped runs), in order.
    fn flush_rest(&mut self) -> Result<(), Failure> {
        for ended in std::mem::take(&mut self.waiting).into_values() {
            self.keep_and_show(&ended)?;
        }
        if let Some(results) = &mut self.settings.results {
            results.flush().map_err(Failure::Other)?;
        }
        io::stdout().flush().map_err(stdout_failure)
    }

    fn command(&self, ended: &Ended) -> String {
        self.template
            .text(&ended.record.args, ended.record.seq, ended.slot)
    }

    /// The joblog line, as jobs end.
    fn log(&mut self, ended: &Ended) -> Result<(), Failure> {
        let status = GnuStatus::of(&ended.result.outcome);
        let command = self.command(ended);
        if let Some(log) = &mut self.settings.joblog {
            let start = ended
                .ended_at
                .checked_sub(ended.result.duration)
                .unwrap_or(ended.ended_at);
            log.write(
                ended.record.seq,
                start,
                ended.result.duration,
                usize::try_from(ended.result.stdout_len()).unwrap_or(usize::MAX),
                status,
                &command,
            )
            .map_err(Failure::Other)?;
        }
        Ok(())
    }

    /// Keeps one job in `--results` (as it is shown: in input order with `-k`), then shows it.
    fn keep_and_show(&mut self, ended: &Ended) -> Result<(), Failure> {
        if let Some(results) = &mut self.settings.results
            && !ended.result.cancelled()
        {
            let row = Row {
                record: &ended.record,
                result: &ended.result,
                start: started(ended.ended_at, ended.result.duration),
                status: GnuStatus::of(&ended.result.outcome),
                command: &self
                    .template
                    .text(&ended.record.args, ended.record.seq, ended.slot),
            };
            results.write(&row).map_err(Failure::Other)?;
        }
        self.show(ended)
    }

    /// Prints one job: its JSON line, or its output and what the output does not say.
    fn show(&self, ended: &Ended) -> Result<(), Failure> {
        let result = &ended.result;
        if self.settings.json {
            let line = json::line(ended, &self.command(ended));
            return self
                .progress
                .suspend(|| io::stdout().lock().write_all(&line))
                .map_err(stdout_failure);
        }
        if result.cancelled() {
            return Ok(());
        }
        let tag = self.settings.tag.as_ref().map(|tag| {
            let record = &ended.record;
            tag.render(&record.args, record.seq, ended.slot)
        });
        // With live lines, the output was printed as it came.
        let shown = !self.settings.live_lines;
        let mut notices = Vec::new();
        for line in self.notices(ended) {
            notices.extend_from_slice(format!("ppool: {line}\n").as_bytes());
        }
        self.progress
            .suspend(|| {
                if shown && result.stdout_len() > 0 {
                    let mut out = io::stdout().lock();
                    let spill = result.stdout_spill.as_ref();
                    copy_stream(&mut out, &result.stdout, spill, tag.as_deref())?;
                    if result.stderr_len() > 0 || !notices.is_empty() {
                        out.flush()?;
                    }
                }
                // stderr is unbuffered: the job's block in as few writes as it takes.
                let mut err = io::BufWriter::with_capacity(COPY_BUFFER, io::stderr().lock());
                let spill = result.stderr_spill.as_ref();
                let written = if shown {
                    copy_stream(&mut err, &result.stderr, spill, tag.as_deref())
                } else {
                    Ok(())
                };
                let _ = written
                    .and_then(|()| err.write_all(&notices))
                    .and_then(|()| err.flush());
                Ok(())
            })
            .map_err(stdout_failure)
    }

    /// Prints a line a job wrote, whole, to the stream it was written to.
    fn line(&self, tag: Option<&[u8]>, line: &OutputLine) -> Result<(), Failure> {
        let mut bytes = Vec::with_capacity(line.bytes.len() + tag.map_or(0, <[u8]>::len));
        bytes.extend_from_slice(tag.unwrap_or_default());
        bytes.extend_from_slice(&line.bytes);
        self.progress
            .suspend(|| match line.stream {
                Stream::Stdout => {
                    let mut out = io::stdout().lock();
                    out.write_all(&bytes)?;
                    out.flush()
                }
                Stream::Stderr => io::stderr().lock().write_all(&bytes),
            })
            .map_err(stdout_failure)
    }

    /// One line each for what the job's own output does not show.
    fn notices(&self, ended: &Ended) -> Vec<String> {
        let result = &ended.result;
        let seq = ended.record.seq;
        let mut lines = Vec::new();
        match &result.outcome {
            Outcome::TimedOut => lines.push(format!(
                "job {seq} timed out after {} and was stopped: {}",
                show_duration(result.time_limit.unwrap_or_default()),
                self.command(ended)
            )),
            Outcome::SpawnFailed(error) => lines.push(format!(
                "job {seq} could not start: {error}: {}",
                self.command(ended)
            )),
            Outcome::Trapped(message) => lines.push(format!("job {seq} trapped: {message}")),
            _ => {}
        }
        let limit = self.settings.output_limit;
        for (truncated, name) in [
            (result.stdout_truncated, "stdout"),
            (result.stderr_truncated, "stderr"),
        ] {
            if truncated {
                lines.push(format!(
                    "job {seq}: {name} cut at {limit} bytes (--max-output)"
                ));
            }
        }
        lines
    }
}

/// Whether a job ends with nothing for the writer to do when it keeps no joblog, results or
/// JSON: no output, and nothing to say about how it ended. Such jobs are not sent at all (a
/// wake-up of the writer thread per job costs more than a `true` job's bookkeeping).
pub(crate) fn is_silent(result: &JobResult) -> bool {
    result.stdout.is_empty()
        && result.stderr.is_empty()
        && !result.stdout_truncated
        && !result.stderr_truncated
        && matches!(
            result.outcome,
            Outcome::Exited(_) | Outcome::Signaled(_) | Outcome::Exception(_) | Outcome::Cancelled
        )
}

/// The size of the pieces a spilled stream is copied in.
const COPY_BUFFER: usize = 64 << 10;

/// Writes a job's stream to `out`, `tag` before each line (a last line without newline stays
/// so, as with GNU parallel): the bytes in memory, or once it spilled, its whole file read in
/// pieces, so that memory stays bounded whatever its size.
fn copy_stream(
    out: &mut impl Write,
    memory: &[u8],
    spill: Option<&SpillFile>,
    tag: Option<&[u8]>,
) -> io::Result<()> {
    let mut line_start = true;
    let mut put = |out: &mut dyn Write, piece: &[u8]| -> io::Result<()> {
        let Some(tag) = tag else {
            return out.write_all(piece);
        };
        for line in piece.split_inclusive(|&b| b == b'\n') {
            if line_start {
                out.write_all(tag)?;
            }
            out.write_all(line)?;
            line_start = line.ends_with(b"\n");
        }
        Ok(())
    };
    let Some(spill) = spill else {
        return put(out, memory);
    };
    let mut file = std::fs::File::open(spill.path())?;
    let mut buffer = vec![0; COPY_BUFFER];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => put(out, &buffer[..n])?,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

fn stdout_failure(error: io::Error) -> Failure {
    if error.kind() == io::ErrorKind::BrokenPipe {
        Failure::BrokenPipe
    } else {
        Failure::Other(format!("cannot write the output: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(text: &[u8], tag: Option<&[u8]>) -> Vec<u8> {
        let mut out = Vec::new();
        copy_stream(&mut out, text, None, tag).unwrap();
        out
    }

    #[test]
    fn every_line_gets_the_tag() {
        assert_eq!(tagged(b"x\ny\n", Some(b"a\t")), b"a\tx\na\ty\n");
        assert_eq!(tagged(b"x\ny", Some(b"a\t")), b"a\tx\na\ty");
        assert_eq!(tagged(b"", Some(b"a\t")), b"");
        assert_eq!(tagged(b"x", None), b"x");
    }
}
