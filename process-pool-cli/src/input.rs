//! Where the inputs come from: stdin lines, `:::` arguments, `::::` files, and GNU parallel's
//! combinations of them (every combination of the sources, first source outermost; a source
//! written with `:::+` or `::::+` is linked to the one before it, value by value, the shortest
//! deciding the length). Records end at a newline, or at NUL with `-0`; `--colsep` splits each
//! value into columns (trimmed of surrounding white space, as GNU parallel's `--trim rl`).
//!
//! A lone source is read as jobs are started, so stdin may be endless; several sources are read
//! whole first, as their combinations need them.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;

use regex::bytes::Regex;
use tokio::sync::mpsc;

use crate::group::{Grouper, Grouping};
use crate::pipe::{self, Blocks};

/// Where one input source's values come from.
#[derive(Debug)]
pub(crate) enum Origin {
    /// Values given after `:::`.
    Args(Vec<Vec<u8>>),
    /// A file given after `::::` or `-a`, opened before anything runs.
    File(PathBuf, File),
    /// The tool's stdin (the default source, or `-` after `::::`).
    Stdin,
}

/// One input source.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) origin: Origin,
    /// Linked to the source before it (`:::+`, `::::+`) rather than combined with it.
    pub(crate) linked: bool,
}

/// How the sources are read.
#[derive(Debug)]
pub(crate) struct InputSpec {
    pub(crate) sources: Vec<Source>,
    pub(crate) delimiter: u8,
    pub(crate) colsep: Option<Regex>,
    /// How many records make one job (`-n`, `-X`, ...).
    pub(crate) grouping: Grouping,
    /// `--pipe`: the one source cut into blocks instead.
    pub(crate) pipe: Option<Blocks>,
}

/// One input: its values (the sources' values, or their columns), numbered from 1.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) seq: u64,
    pub(crate) args: Vec<Vec<u8>>,
    /// `--pipe`: the job's stdin, its block of the input (taken when the job starts).
    pub(crate) block: Option<Vec<u8>>,
}

/// What the reader sends.
#[derive(Debug)]
pub(crate) enum Item {
    Record(Record),
    /// The input is over: this many records in all.
    End(u64),
    /// A source could not be read; nothing more follows.
    Failed(String),
}

/// Reads the input on a thread of its own (reads block) and hands records over as they come.
pub(crate) fn spawn(spec: InputSpec) -> mpsc::Receiver<Item> {
    // Blocks are big: one waits, the next is being read.
    let capacity = if spec.pipe.is_some() { 1 } else { 1024 };
    let (tx, rx) = mpsc::channel(capacity);
    std::thread::Builder::new()
        .name("ppool-input".into())
        .spawn(move || read(spec, &tx))
        .map_err(|e| eprintln!("ppool: cannot start the input reader: {e}"))
        .ok();
    rx
}

fn read(spec: InputSpec, tx: &mpsc::Sender<Item>) {
    let InputSpec {
        sources,
        delimiter,
        colsep,
        grouping,
        pipe,
    } = spec;
    if let Some(blocks) = pipe {
        return read_blocks(&sources, &blocks, tx);
    }
    let split = |value: Vec<u8>| columns(value, colsep.as_ref());
    let mut seq = 0u64;
    let mut grouper = Grouper::new(grouping, |args: Vec<Vec<u8>>| {
        seq += 1;
        tx.blocking_send(Item::Record(Record {
            seq,
            args,
            block: None,
        }))
        .is_ok()
    });
    let mut send = |args| grouper.push(args);
    let outcome = if let [source] = sources.as_slice() {
        stream_values(&source.origin, delimiter, &mut |value| send(split(value)))
    } else {
        combine(sources, delimiter, &split, &mut send)
    };
    if outcome.is_ok() {
        grouper.finish();
    } else {
        drop(grouper);
    }
    let last = match outcome {
        Ok(()) => Item::End(seq),
        Err(message) => Item::Failed(message),
    };
    let _ = tx.blocking_send(last);
}

/// `--pipe`: the one source (stdin, or a file) cut into blocks, a job each.
fn read_blocks(sources: &[Source], blocks: &Blocks, tx: &mpsc::Sender<Item>) {
    let mut seq = 0u64;
    let mut send = |block: Vec<u8>| {
        seq += 1;
        let record = Record {
            seq,
            args: Vec::new(),
            block: Some(block),
        };
        tx.blocking_send(Item::Record(record)).is_ok()
    };
    let outcome = match sources {
        [
            Source {
                origin: Origin::File(path, file),
                ..
            },
        ] => pipe::split(file, blocks, &mut send)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display())),
        _ => pipe::split(io::stdin().lock(), blocks, &mut send)
            .map_err(|e| format!("cannot read stdin: {e}")),
    };
    let last = match outcome {
        Ok(()) => Item::End(seq),
        Err(message) => Item::Failed(message),
    };
    let _ = tx.blocking_send(last);
}

/// Calls `each` with every value of one source, in order, until it returns false.
fn stream_values(
    origin: &Origin,
    delimiter: u8,
    each: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<(), String> {
    match origin {
        Origin::Args(values) => {
            for value in values {
                if !each(value.clone()) {
                    break;
                }
            }
            Ok(())
        }
        Origin::File(path, file) => {
            let reader = BufReader::new(file);
            stream_records(reader, delimiter, each)
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))
        }
        Origin::Stdin => stream_records(io::stdin().lock(), delimiter, each)
            .map_err(|e| format!("cannot read stdin: {e}")),
    }
}

pub(crate) fn stream_records(
    mut reader: impl BufRead,
    delimiter: u8,
    each: &mut dyn FnMut(Vec<u8>) -> bool,
) -> io::Result<()> {
    loop {
        let mut record = Vec::new();
        if reader.read_until(delimiter, &mut record)? == 0 {
            return Ok(());
        }
        if record.last() == Some(&delimiter) {
            record.pop();
        }
        if !each(record) {
            return Ok(());
        }
    }
}

/// Reads every source whole, then sends every combination.
fn combine(
    sources: Vec<Source>,
    delimiter: u8,
    split: &dyn Fn(Vec<u8>) -> Vec<Vec<u8>>,
    send: &mut dyn FnMut(Vec<Vec<u8>>) -> bool,
) -> Result<(), String> {
    // groups[g][row] = the columns of that row: linked sources zipped together.
    let mut groups: Vec<Vec<Vec<Vec<u8>>>> = Vec::new();
    for source in sources {
        let mut values = Vec::new();
        stream_values(&source.origin, delimiter, &mut |v| {
            values.push(split(v));
            true
        })?;
        match groups.last_mut() {
            Some(rows) if source.linked => {
                rows.truncate(values.len());
                for (row, more) in rows.iter_mut().zip(values) {
                    row.extend(more);
                }
            }
            _ => groups.push(values),
        }
    }
    // As GNU parallel: no job when every source is empty; an empty source beside others gives
    // one empty value.
    if groups.iter().all(Vec::is_empty) {
        return Ok(());
    }
    for rows in groups.iter_mut().filter(|rows| rows.is_empty()) {
        rows.push(vec![Vec::new()]);
    }
    // An odometer over the groups, the last one turning fastest.
    let mut at = vec![0usize; groups.len()];
    loop {
        let args = groups
            .iter()
            .zip(&at)
            .flat_map(|(rows, &i)| rows[i].iter().cloned())
            .collect();
        if !send(args) {
            return Ok(());
        }
        let mut g = groups.len();
        loop {
            if g == 0 {
                return Ok(());
            }
            g -= 1;
            at[g] += 1;
            if at[g] < groups[g].len() {
                break;
            }
            at[g] = 0;
        }
    }
}

/// One value as its columns: itself, or split by `--colsep` and trimmed.
pub(crate) fn columns(value: Vec<u8>, colsep: Option<&Regex>) -> Vec<Vec<u8>> {
    match colsep {
        None => vec![value],
        Some(re) => re.split(&value).map(|c| c.trim_ascii().to_vec()).collect(),
    }
}

/// Opens a `::::` file now, so a missing one is reported before any job starts.
pub(crate) fn open(path: PathBuf) -> Result<Origin, String> {
    if path.as_os_str() == "-" {
        return Ok(Origin::Stdin);
    }
    // Asked before opening: Windows refuses to open a directory as a file at all.
    if path.is_dir() {
        return Err(format!(
            "cannot read `{}`: it is a directory",
            path.display()
        ));
    }
    let file = File::open(&path).map_err(|e| format!("cannot open `{}`: {e}", path.display()))?;
    Ok(Origin::File(path, file))
}

/// Reads the whole of a small reader (for tests).
#[cfg(test)]
fn all(items: &mut mpsc::Receiver<Item>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    while let Some(item) = items.blocking_recv() {
        match item {
            Item::Record(r) => out.push(
                r.args
                    .into_iter()
                    .map(|a| String::from_utf8(a).unwrap())
                    .collect(),
            ),
            Item::End(n) => {
                assert_eq!(n as usize, out.len());
                break;
            }
            Item::Failed(m) => panic!("{m}"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(values: &[&str], linked: bool) -> Source {
        Source {
            origin: Origin::Args(values.iter().map(|v| v.as_bytes().to_vec()).collect()),
            linked,
        }
    }

    fn run(sources: Vec<Source>, colsep: Option<&str>) -> Vec<Vec<String>> {
        let spec = InputSpec {
            sources,
            delimiter: b'\n',
            colsep: colsep.map(|c| Regex::new(c).unwrap()),
            grouping: Grouping::ONE,
            pipe: None,
        };
        all(&mut spawn(spec))
    }

    #[test]
    fn sources_combine_first_outermost() {
        let got = run(
            vec![args(&["1", "2"], false), args(&["a", "b", "c"], false)],
            None,
        );
        let want = [
            ["1", "a"],
            ["1", "b"],
            ["1", "c"],
            ["2", "a"],
            ["2", "b"],
            ["2", "c"],
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn linked_sources_go_value_by_value_shortest_first() {
        let got = run(
            vec![
                args(&["a", "b", "c"], false),
                args(&["1", "2"], true),
                args(&["X", "Y"], false),
            ],
            None,
        );
        assert_eq!(
            got,
            [
                ["a", "1", "X"],
                ["a", "1", "Y"],
                ["b", "2", "X"],
                ["b", "2", "Y"]
            ]
        );
    }

    #[test]
    fn an_empty_source_beside_others_is_one_empty_value_and_alone_no_job() {
        assert_eq!(
            run(vec![args(&["1", "2"], false), args(&[], false)], None),
            [["1", ""], ["2", ""]]
        );
        assert!(run(vec![args(&[], false), args(&[], false)], None).is_empty());
    }

    #[test]
    fn columns_are_split_and_trimmed() {
        let got = run(vec![args(&[" a , b ", "c,d,e"], false)], Some(","));
        assert_eq!(got, [vec!["a", "b"], vec!["c", "d", "e"]]);
    }

    #[test]
    fn files_split_at_the_delimiter_and_the_last_record_needs_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in");
        std::fs::write(&path, "a b\0\nc\0d").unwrap();
        let spec = InputSpec {
            sources: vec![Source {
                origin: open(path).unwrap(),
                linked: false,
            }],
            delimiter: 0,
            colsep: None,
            grouping: Grouping::ONE,
            pipe: None,
        };
        assert_eq!(all(&mut spawn(spec)), [["a b"], ["\nc"], ["d"]]);
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = open("/nonexistent/list".into()).unwrap_err();
        assert!(err.contains("/nonexistent/list"), "{err}");
        let err = open("/".into()).unwrap_err();
        assert!(err.contains("directory"), "{err}");
    }
}
