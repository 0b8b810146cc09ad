//! What must hold for anything a user feeds `ppool` (its command's words, its input, a joblog
//! read back by `--resume`), as checks shared by the fuzz targets (`fuzz/` at the repository's
//! root) and this crate's property tests. Each check panics when the code under test does not
//! hold up.
//!
//! Not part of the tool: built for this crate's tests, and with the `fuzzing` feature.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use regex::bytes::Regex;

use crate::input::{columns, stream_records};
use crate::joblog::{GnuStatus, JobLog, Resume, done_before};
use crate::template::{Mode, Template, Words};

/// A command template, whatever its words, rendered for any input. Asserts that it is parsed
/// or refused with a reason, never a panic; that a command without replacement strings runs
/// as given with the input appended (run directly: its words split at blanks as the shell
/// would, each value its own word; through a shell: the line as written, each value quoted so
/// that the shell reads it back as one word); and that rendering a job, its text and its words
/// never fails.
///
/// # Panics
///
/// When one of these does not hold.
pub fn template(
    words: &[Vec<u8>],
    shell: bool,
    direct_only: bool,
    args: &[Vec<u8>],
    seq: u64,
    slot: usize,
) {
    let how = match (direct_only, shell) {
        (true, _) => Words::Module,
        (false, true) => Words::Shell,
        (false, false) => Words::Line,
    };
    let template = match Template::parse(words, how) {
        Ok(template) => template,
        Err(reason) => {
            assert!(!reason.is_empty(), "a refusal without a reason");
            return;
        }
    };
    let _ = template.text(args, seq, slot);
    let _ = template.job(args, seq, slot);
    let rendered = match template.render(args, seq, slot) {
        Ok(rendered) => rendered,
        Err(reason) => {
            assert!(!reason.to_string().is_empty(), "a refusal without a reason");
            return;
        }
    };
    let plain = !words.is_empty() && !words.iter().flatten().any(|&b| b == b'{');
    if !plain {
        return;
    }
    match template.mode() {
        Mode::Direct => {
            // A line is split at blanks, as the shell would; a module's words stay as given.
            let given: Vec<Vec<u8>> = if how == Words::Line && crate::shell::JOINS_WORDS {
                words
                    .join(&b' ')
                    .split(|&b| crate::shell::is_blank(b))
                    .filter(|word| !word.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect()
            } else {
                words.to_vec()
            };
            let expected: Vec<Vec<u8>> = given.iter().chain(args).cloned().collect();
            assert_eq!(rendered, expected, "a plain command run directly");
        }
        Mode::Shell => {
            let [line] = rendered.as_slice() else {
                panic!("a shell command is one line, not {}", rendered.len());
            };
            let command = words.join(&b' ');
            assert!(
                line.starts_with(&command),
                "the command is not kept as written"
            );
            let values = &line[command.len()..];
            if args.is_empty() {
                assert!(values == b" " || values.is_empty(), "{values:?}");
            } else {
                assert_eq!(values.first(), Some(&b' '));
                assert_eq!(
                    crate::shell::read_back(&values[1..]),
                    args,
                    "the shell would not read the values back"
                );
            }
        }
    }
}

/// Input records, whatever the bytes: asserts that the records joined by the delimiter are
/// the input (its last delimiter optional) and hold none, and that `--colsep` (when its
/// pattern compiles) splits each into at least one column, each trimmed.
///
/// # Panics
///
/// When one of these does not hold.
pub fn records(data: &[u8], delimiter: u8, colsep: Option<&str>) {
    let mut records = Vec::new();
    stream_records(data, delimiter, &mut |record| {
        records.push(record);
        true
    })
    .expect("reading from memory does not fail");
    assert!(records.iter().flatten().all(|&b| b != delimiter));
    let mut joined = records.join(&delimiter);
    if data.last() == Some(&delimiter) {
        joined.push(delimiter);
    }
    assert_eq!(joined, data, "records lost or added bytes");
    let Some(Ok(colsep)) = colsep.map(Regex::new) else {
        return;
    };
    for record in records {
        let columns = columns(record, Some(&colsep));
        assert!(!columns.is_empty());
        for column in columns {
            assert_eq!(
                column.trim_ascii(),
                column.as_slice(),
                "a column left untrimmed"
            );
        }
    }
}

/// `--pipe` and `--pipe-part` blocks, whatever the bytes, the block size and the separators:
/// asserts that the blocks joined are the input and none is empty; that each but the last
/// ends at a record boundary (after a `recend` that began in it, before a `recstart`); that with `records` each but
/// the last holds exactly that many records; that otherwise each but the last is as long as the
/// rule says (`--pipe`: within `size` unless no boundary is, `--pipe-part`: the first boundary
/// past `size`).
///
/// # Panics
///
/// When one of these does not hold.
pub fn blocks(
    data: &[u8],
    size: usize,
    records: Option<usize>,
    recend: &[u8],
    recstart: &[u8],
    extend: bool,
) {
    if recend.is_empty() && recstart.is_empty() {
        return; // Refused by the command line.
    }
    let how = crate::pipe::Blocks {
        size: size.max(1),
        records: records.map(|n| n.max(1)),
        recend: recend.to_vec(),
        recstart: recstart.to_vec(),
        extend,
    };
    let mut blocks = Vec::new();
    crate::pipe::split(data, &how, &mut |block| {
        blocks.push(block);
        true
    })
    .expect("reading from memory does not fail");
    assert_eq!(blocks.concat(), data, "blocks lost or added bytes");
    assert!(blocks.iter().all(|b| !b.is_empty()), "an empty block");
    // A record end is read within its block: one that began in the block before is none.
    let boundary = |start: usize, at: usize| {
        at > start && data[start..at].ends_with(recend) && data[at..].starts_with(recstart)
    };
    let mut start = 0;
    for (i, block) in blocks.iter().enumerate() {
        let end = start + block.len();
        if i + 1 < blocks.len() {
            let is_boundary = |at| boundary(start, at);
            assert!(is_boundary(end), "block {i} ends inside a record");
            let inside = (start + 1..=end).filter(|&at| is_boundary(at)).count();
            match (how.records, extend) {
                (Some(n), _) => assert_eq!(inside, n, "block {i}: records"),
                (None, false) => assert!(
                    block.len() <= how.size
                        || (start + 1..=start + how.size).all(|at| !is_boundary(at)),
                    "block {i} is longer than the block size"
                ),
                (None, true) => assert!(
                    block.len() > how.size
                        && (start + how.size + 1..end).all(|at| !is_boundary(at)),
                    "block {i} does not end at the first boundary past the size"
                ),
            }
        }
        start = end;
    }
}

/// A joblog file of this thread's, removed when dropped (a failing check too).
struct LogFile(PathBuf);

impl LogFile {
    fn new() -> LogFile {
        let thread = format!("{:?}", std::thread::current().id());
        let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
        let name = format!("ppool-fuzz-{}-{thread}.joblog", std::process::id());
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_file(&path);
        LogFile(path)
    }

    fn spec(&self) -> &str {
        self.0.to_str().expect("a UTF-8 path")
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A joblog read back by `--resume`, whatever it holds: asserts that it is read, or refused
/// with a message naming the log; and that what `--resume-failed` skips is a part of what
/// `--resume` skips.
///
/// # Panics
///
/// When one of these does not hold.
pub fn joblog(contents: &[u8]) {
    let file = LogFile::new();
    std::fs::write(&file.0, contents).expect("the joblog is written");
    let spec = file.spec();
    match (
        done_before(spec, Resume::Logged),
        done_before(spec, Resume::Succeeded),
    ) {
        (Ok(logged), Ok(succeeded)) => {
            assert!(succeeded.is_subset(&logged), "{succeeded:?} ⊄ {logged:?}");
            assert!(logged.len() <= contents.iter().filter(|&&b| b == b'\n').count() + 1);
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "the two reads disagree");
            assert!(a.starts_with(&format!("joblog `{spec}`")), "{a}");
        }
        (a, b) => panic!("one read fails, the other not: {a:?} {b:?}"),
    }
}

/// Jobs written to a joblog, then read back by `--resume` and `--resume-failed`: asserts that
/// `--resume` skips every job written, and `--resume-failed` those that succeeded, whatever
/// their commands hold (tabs, newlines, any text).
///
/// # Panics
///
/// When one of these does not hold.
pub fn joblog_round_trip(jobs: &[(u64, i32, i32, String)]) {
    let file = LogFile::new();
    let spec = file.spec();
    let mut log = JobLog::open(spec, Resume::No).expect("the joblog opens");
    for (seq, exitval, signal, command) in jobs {
        let status = GnuStatus {
            exitval: *exitval,
            signal: *signal,
        };
        log.write(*seq, UNIX_EPOCH, Duration::ZERO, 0, status, command)
            .expect("a joblog line is written");
    }
    let logged = done_before(spec, Resume::Logged).expect("a joblog we wrote reads back");
    let succeeded = done_before(spec, Resume::Succeeded).expect("a joblog we wrote reads back");
    let all = jobs.iter().map(|job| job.0).collect();
    assert_eq!(logged, all);
    let ok = jobs
        .iter()
        .filter(|job| job.1 == 0 && job.2 == 0)
        .map(|job| job.0)
        .collect();
    assert_eq!(succeeded, ok);
}

#[cfg(test)]
mod properties;
