//! `--results`: each job's output and status kept for later: a folder per job (`DIR/N/stdout`,
//! `stderr`, `exit`, `command`), or, as GNU parallel does for a path ending in `.csv` or
//! `.json`, one table of every job with GNU parallel's columns (`Seq`, `Host`, `Starttime`,
//! `JobRuntime`, `Send`, `Receive`, `Exitval`, `Signal`, `Command`, the values, `Stdout`,
//! `Stderr`): CSV with a header, or a JSON object a line.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use process_pool::JobResult;
use serde::Serialize;

use crate::input::Record;
use crate::joblog::GnuStatus;

/// Where `--results` goes.
#[derive(Debug)]
pub(crate) enum Results {
    /// A folder per job.
    Dir(PathBuf),
    /// One CSV table (its header written with the first job, which says how many values).
    Csv {
        path: PathBuf,
        file: BufWriter<File>,
        header: bool,
    },
    /// One JSON object a line.
    Json {
        path: PathBuf,
        file: BufWriter<File>,
    },
}

/// One job, as the tables hold it.
pub(crate) struct Row<'a> {
    pub(crate) record: &'a Record,
    pub(crate) result: &'a JobResult,
    pub(crate) start: Duration,
    pub(crate) status: GnuStatus,
    pub(crate) command: &'a str,
}

impl Results {
    /// Opens `path` before any job runs: a table is created (emptied), a folder made as jobs end.
    pub(crate) fn open(path: PathBuf) -> Result<Results, String> {
        let table = |path: &Path| {
            File::create(path)
                .map(BufWriter::new)
                .map_err(|e| format!("--results `{}`: {e}", path.display()))
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => Ok(Results::Csv {
                file: table(&path)?,
                path,
                header: false,
            }),
            Some("json") => Ok(Results::Json {
                file: table(&path)?,
                path,
            }),
            _ => Ok(Results::Dir(path)),
        }
    }

    /// Keeps one job's output and status.
    pub(crate) fn write(&mut self, row: &Row<'_>) -> Result<(), String> {
        let (path, done) = match self {
            Results::Dir(dir) => {
                let dir = dir.join(row.record.seq.to_string());
                let done = write_dir(&dir, row);
                (dir, done)
            }
            Results::Csv { path, file, header } => {
                let done = write_csv(file, header, row);
                (path.clone(), done)
            }
            Results::Json { path, file } => (path.clone(), write_json(file, row)),
        };
        done.map_err(|e| format!("--results `{}`: {e}", path.display()))
    }

    /// Writes out what is buffered (at the end of the run).
    pub(crate) fn flush(&mut self) -> Result<(), String> {
        match self {
            Results::Dir(_) => Ok(()),
            Results::Csv { path, file, .. } | Results::Json { path, file } => file
                .flush()
                .map_err(|e| format!("--results `{}`: {e}", path.display())),
        }
    }
}

fn write_dir(dir: &Path, row: &Row<'_>) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let result = row.result;
    for (name, memory, spill) in [
        ("stdout", &result.stdout, &result.stdout_spill),
        ("stderr", &result.stderr, &result.stderr_spill),
    ] {
        match spill {
            Some(spill) => std::fs::copy(spill.path(), dir.join(name)).map(drop)?,
            None => std::fs::write(dir.join(name), memory)?,
        }
    }
    std::fs::write(dir.join("exit"), format!("{}\n", row.status.shell_status()))?;
    std::fs::write(dir.join("command"), format!("{}\n", row.command))
}

/// A whole stream: from memory, or from its spill file.
fn whole(memory: &[u8], spill: Option<&process_pool::SpillFile>) -> io::Result<Vec<u8>> {
    match spill {
        Some(spill) => std::fs::read(spill.path()),
        None => Ok(memory.to_vec()),
    }
}

/// The columns before the values, as text.
fn leading(row: &Row<'_>) -> [String; 8] {
    [
        row.record.seq.to_string(),
        ":".to_owned(),
        format!("{:.3}", row.start.as_secs_f64()),
        format!("{:.3}", row.result.duration.as_secs_f64()),
        "0".to_owned(),
        row.result.stdout_len().to_string(),
        row.status.exitval.to_string(),
        row.status.signal.to_string(),
    ]
}

fn write_csv(file: &mut impl Write, header: &mut bool, row: &Row<'_>) -> io::Result<()> {
    let values = &row.record.args;
    if !*header {
        let names = (1..=values.len()).map(|i| format!("V{i}"));
        let mut line: Vec<String> = [
            "Seq",
            "Host",
            "Starttime",
            "JobRuntime",
            "Send",
            "Receive",
            "Exitval",
            "Signal",
            "Command",
        ]
        .map(str::to_owned)
        .to_vec();
        line.extend(names);
        line.extend(["Stdout".to_owned(), "Stderr".to_owned()]);
        writeln!(file, "{}", line.join(","))?;
        *header = true;
    }
    let result = row.result;
    let mut fields: Vec<Vec<u8>> = leading(row).map(String::into_bytes).to_vec();
    fields.push(row.command.as_bytes().to_vec());
    fields.extend(values.iter().cloned());
    fields.push(whole(&result.stdout, result.stdout_spill.as_ref())?);
    fields.push(whole(&result.stderr, result.stderr_spill.as_ref())?);
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            file.write_all(b",")?;
        }
        csv_field(file, field)?;
    }
    file.write_all(b"\n")
}

/// A CSV field (RFC 4180): quoted, quotes doubled, when it holds a comma, a quote or white
/// space (as GNU parallel quotes it: a line break, and a space too).
fn csv_field(out: &mut impl Write, field: &[u8]) -> io::Result<()> {
    if !field
        .iter()
        .any(|&b| b == b',' || b == b'"' || b.is_ascii_whitespace())
    {
        return out.write_all(field);
    }
    out.write_all(b"\"")?;
    for piece in field.split_inclusive(|&b| b == b'"') {
        out.write_all(piece)?;
        if piece.ends_with(b"\"") {
            out.write_all(b"\"")?;
        }
    }
    out.write_all(b"\"")
}

/// One job as GNU parallel's `--results FILE.json` writes it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct JsonRow<'a> {
    seq: u64,
    host: &'static str,
    starttime: f64,
    job_runtime: f64,
    send: u64,
    receive: u64,
    exitval: i32,
    signal: i32,
    command: &'a str,
    #[serde(rename = "V")]
    values: Vec<String>,
    stdout: String,
    stderr: String,
}

fn write_json(file: &mut impl Write, row: &Row<'_>) -> io::Result<()> {
    let result = row.result;
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    let line = JsonRow {
        seq: row.record.seq,
        host: ":",
        starttime: (row.start.as_secs_f64() * 1000.0).round() / 1000.0,
        job_runtime: (result.duration.as_secs_f64() * 1000.0).round() / 1000.0,
        send: 0,
        receive: result.stdout_len(),
        exitval: row.status.exitval,
        signal: row.status.signal,
        command: row.command,
        values: row.record.args.iter().map(|v| text(v.clone())).collect(),
        stdout: text(whole(&result.stdout, result.stdout_spill.as_ref())?),
        stderr: text(whole(&result.stderr, result.stderr_spill.as_ref())?),
    };
    serde_json::to_writer(&mut *file, &line)?;
    file.write_all(b"\n")
}

/// When a job started, from when it ended and how long it ran, as seconds since the epoch.
pub(crate) fn started(ended_at: std::time::SystemTime, ran: Duration) -> Duration {
    ended_at
        .checked_sub(ran)
        .unwrap_or(ended_at)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(text: &str) -> String {
        let mut out = Vec::new();
        csv_field(&mut out, text.as_bytes()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_fields_are_quoted_as_rfc_4180_says() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a b"), "\"a b\"");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field(""), "");
    }
}
