//! The command line, as clap reads it: options first, then the command, then the input
//! sources (`:::` values, `::::` files), as with GNU parallel.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

use crate::os_text::{NotUnicode, to_bytes};

const EXAMPLES: &str = "\
Examples:
  ppool gzip ::: *.log                      gzip each file, one job per CPU
  find . -name '*.jpg' | ppool -j 4 convert {} {.}.png
  ppool -k echo {1}-{2} ::: a b ::: 1 2     every combination, in input order
  ppool 'sort {} | uniq -c > {}.counts' ::: *.txt   a shell line per input
  ppool --timeout 10s --retries 3 --retry-delay 1s curl -fsS {} :::: urls
  ppool --halt now,fail=1 --joblog log make -C {} ::: */
  ppool --resume --joblog log make -C {} ::: */   rerun only what did not run
  ppool --json wc -w ::: *.md | jq .stdout
  ppool --wasi --dir data:/data:ro wordcount.wasm /data/{/} ::: data/*.txt";

// Not `{n}`: clap reads those four bytes in a help text as a line break.
const REPLACEMENTS: &str = "\
Replacement strings: {} input, {.} without extension, {/} basename, {//} dirname,
{/.} basename without extension, {#} job number, {%} job slot, {1} {2} ... input
source or column 1, 2, ... (also {1.} {1/} {1//} {1/.}; a negative number counts from
the end). With none, the input is appended.";

/// Run a command once per input, many at a time: GNU parallel's habits on process-pool
/// (whole process trees ended on timeout, retries with backoff, capped output, sandboxed WASI
/// jobs).
#[derive(Debug, Parser)]
#[command(
    name = "ppool",
    version,
    // As GNU parallel: a repeated option is not an error, the last one counts (`-k -k`).
    args_override_self = true,
    override_usage = "ppool [OPTIONS] [COMMAND [ARG]...] [::: VALUES... | :::: FILES...]...\n       \
                      ... | ppool [OPTIONS] COMMAND [ARG]...",
    after_help = EXAMPLES,
    after_long_help = format!(
        "{EXAMPLES}\n\n{REPLACEMENTS}\n{}\n\n{}",
        crate::shell::HELP,
        crate::exit::HELP
    ),
)]
pub(crate) struct Cli {
    /// Jobs at once: N, +N or -N CPUs, N% of the CPUs, or 0 for as many as the open-file limit
    /// allows [default: one per CPU]
    #[arg(
        short = 'j',
        long = "jobs",
        short_alias = 'P',
        alias = "max-procs",
        value_name = "N|+N|-N|N%|0",
        allow_hyphen_values = true
    )]
    pub(crate) jobs: Option<String>,

    /// Print output in input order, not as jobs end
    #[arg(short = 'k', long)]
    pub(crate) keep_order: bool,

    /// Stop a job (its whole process tree) after this long: 30, 1.5s, 500ms, 2m
    #[arg(long, value_name = "DURATION")]
    pub(crate) timeout: Option<String>,

    /// Run a failing job up to N times in all (GNU parallel's meaning; 0: no limit)
    #[arg(long, value_name = "N")]
    pub(crate) retries: Option<u32>,

    /// Wait before the first retry; doubles for each further retry
    #[arg(long, value_name = "DURATION", default_value = "0")]
    pub(crate) retry_delay: String,

    /// The longest wait between retries (equal to --retry-delay: a fixed wait)
    #[arg(long, value_name = "DURATION", default_value = "1m")]
    pub(crate) retry_max_delay: String,

    /// Outcomes that are retried, comma-separated: exit, signal, timeout, spawn, trap
    #[arg(long, value_name = "LIST", default_value = "exit,signal,timeout,trap")]
    pub(crate) retry_on: String,

    /// Stop early: now|soon,fail|success|done=N|P% (GNU parallel's --halt; also 0, 1, 2, -1, -2)
    #[arg(
        long,
        alias = "halt-on-error",
        value_name = "WHEN,WHY=N",
        allow_hyphen_values = true
    )]
    pub(crate) halt: Option<String>,

    /// Wait this long between job starts
    #[arg(long, value_name = "DURATION")]
    pub(crate) delay: Option<String>,

    /// After one Ctrl-C, how long running jobs may take to finish before they are ended
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub(crate) grace: String,

    /// Between SIGTERM and SIGKILL when a job's process tree is ended
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub(crate) kill_grace: String,

    /// Print nothing; show each job's command instead
    #[arg(long)]
    pub(crate) dry_run: bool,

    /// Print each line as a job writes it (lines of jobs may interleave, never mix); with -k,
    /// each job's output as soon as it ends, in order
    #[arg(long = "line-buffer", visible_alias = "lb", help_heading = "Output")]
    pub(crate) line_buffer: bool,

    /// Prefix each output line with the job's input and a TAB
    #[arg(long, help_heading = "Output")]
    pub(crate) tag: bool,

    /// Prefix each output line with TEXT and a TAB, its replacement strings filled in:
    /// --tagstring '{#}/{}'
    #[arg(
        long,
        alias = "tag-string",
        value_name = "TEXT",
        help_heading = "Output"
    )]
    pub(crate) tagstring: Option<OsString>,

    /// Keep at most this many bytes of each job's stdout and of its stderr: 64K, 1M [default:
    /// all of it; past 64 KiB a stream waits in a temporary file in $TMPDIR; with --json or
    /// a live --line-buffer, 64 MiB]
    #[arg(long, value_name = "BYTES", help_heading = "Output")]
    pub(crate) max_output: Option<String>,

    /// Also save each job's stdout, stderr and exit status in DIR/N/ (N: the job number), or
    /// every job in one table: DIR ending in .csv or .json, GNU parallel's columns
    #[arg(long, alias = "res", value_name = "DIR", help_heading = "Output")]
    pub(crate) results: Option<PathBuf>,

    /// Each job's output grouped, not mixed with another's: the default (GNU parallel's --group)
    #[arg(long, hide = true)]
    pub(crate) group: bool,

    /// Output in the order jobs end: the default without -k (GNU parallel's --no-keep-order)
    #[arg(long = "no-keep-order", hide = true)]
    pub(crate) no_keep_order: bool,

    /// Print one JSON object per job and per line instead of the jobs' output
    #[arg(long, help_heading = "Output")]
    pub(crate) json: bool,

    /// Log every job that ends to FILE, in GNU parallel's format (+FILE appends)
    #[arg(
        long,
        visible_alias = "jl",
        value_name = "FILE",
        help_heading = "Output"
    )]
    pub(crate) joblog: Option<String>,

    /// Skip the jobs already in the --joblog
    #[arg(long, requires = "joblog", help_heading = "Output")]
    pub(crate) resume: bool,

    /// Skip the jobs the --joblog shows succeeded; run the failed ones again
    #[arg(
        long,
        requires = "joblog",
        conflicts_with = "resume",
        help_heading = "Output"
    )]
    pub(crate) resume_failed: bool,

    /// Count all inputs first, so the progress bar shows an ETA from the start
    #[arg(long, help_heading = "Output")]
    pub(crate) eta: bool,

    /// The progress bar on stderr whenever stderr is a terminal, even with stdout piped
    /// (without it: only when both are)
    #[arg(long, alias = "progress", help_heading = "Output")]
    pub(crate) bar: bool,

    /// No progress bar, even on a terminal
    #[arg(long, help_heading = "Output")]
    pub(crate) no_progress: bool,

    /// Records end with NUL, not newline (stdin and :::: files)
    #[arg(short = '0', long = "null", help_heading = "Input")]
    pub(crate) null: bool,

    /// Split each input into columns {1} {2} ... at this regular expression
    #[arg(short = 'C', long, value_name = "REGEX", help_heading = "Input")]
    pub(crate) colsep: Option<String>,

    /// Give each job up to N inputs: {} is all of them, {1} {2} ... each one; 0: one input
    /// a job, none of it given [GNU parallel's -n]
    #[arg(
        short = 'n',
        long = "max-args",
        value_name = "N",
        help_heading = "Input"
    )]
    pub(crate) max_args: Option<usize>,

    /// As -n (GNU parallel's -N, which also names {1} ... {N})
    #[arg(
        short = 'N',
        long = "max-replace-args",
        value_name = "N",
        help_heading = "Input"
    )]
    pub(crate) max_replace_args: Option<usize>,

    /// Up to N input lines a job, with -X's context replace
    #[arg(
        short = 'L',
        long = "max-lines",
        value_name = "N",
        help_heading = "Input"
    )]
    pub(crate) max_lines: Option<usize>,

    /// As many inputs a job as the command line holds (-s), spread evenly over the job slots
    /// once the input ends
    #[arg(short = 'm', help_heading = "Input")]
    pub(crate) multiple: bool,

    /// As -m, and a word around {} is repeated for each input: pre-{}-post gives pre-a-post
    /// pre-b-post
    #[arg(short = 'X', help_heading = "Input")]
    pub(crate) context_replace: bool,

    /// The most bytes of inputs a job's command line takes with -m, -X, -n [default: 63000]
    #[arg(
        short = 's',
        long = "max-chars",
        value_name = "BYTES",
        help_heading = "Input"
    )]
    pub(crate) max_chars: Option<usize>,

    /// Cut stdin into blocks at record ends, each block the stdin of one job (-N: that many
    /// records a block)
    #[arg(long, alias = "spreadstdin", help_heading = "Pipe")]
    pub(crate) pipe: bool,

    /// As --pipe, cutting the file given with -a or :::: instead of stdin
    #[arg(long = "pipe-part", alias = "pipepart", help_heading = "Pipe")]
    pub(crate) pipe_part: bool,

    /// About how many bytes a --pipe block holds: 64K, 10M [default: 1M]
    #[arg(long, alias = "block-size", value_name = "SIZE", help_heading = "Pipe")]
    pub(crate) block: Option<String>,

    /// What ends a record with --pipe (\n, \t, \0 and \\ read as escapes) [default: \n]
    #[arg(long, value_name = "TEXT", help_heading = "Pipe")]
    pub(crate) recend: Option<String>,

    /// What starts a record with --pipe: a block is cut only where one starts [default: none]
    #[arg(long, value_name = "TEXT", help_heading = "Pipe")]
    pub(crate) recstart: Option<String>,

    /// Read inputs from FILE, like :::: FILE
    #[arg(
        short = 'a',
        long = "arg-file",
        value_name = "FILE",
        help_heading = "Input"
    )]
    pub(crate) arg_file: Vec<PathBuf>,

    /// Always run the command line through the shell, even where it could run directly with
    /// the same result (Windows: the words as one cmd.exe line)
    #[arg(long, help_heading = "Input")]
    pub(crate) shell: bool,

    /// Keep each word of the command as one argument, as given: no shell syntax, no splitting
    #[arg(short = 'q', long = "quote", help_heading = "Input")]
    pub(crate) quote: bool,

    /// The command is a WebAssembly module (.wasm or .wat), run sandboxed per input
    #[arg(long, help_heading = "WASI")]
    pub(crate) wasi: bool,

    /// Give guests a host directory, at GUEST (default: the same path), read-only with :ro
    #[arg(
        long,
        value_name = "HOST[:GUEST][:ro]",
        requires = "wasi",
        help_heading = "WASI"
    )]
    pub(crate) dir: Vec<String>,

    /// Linear memory a guest may use: 64M, 1G [default: 256M]
    #[arg(long, value_name = "BYTES", requires = "wasi", help_heading = "WASI")]
    pub(crate) max_memory: Option<String>,

    /// A budget of fuel (about one unit per wasm instruction) per job
    #[arg(long, value_name = "UNITS", requires = "wasi", help_heading = "WASI")]
    pub(crate) fuel: Option<u64>,

    /// Print a completion script for SHELL and exit
    #[arg(long, value_name = "SHELL")]
    pub(crate) completions: Option<clap_complete::Shell>,

    /// The command, then ::: VALUES or :::: FILES (:::+ and ::::+ link to the source before)
    #[arg(value_name = "COMMAND", trailing_var_arg = true)]
    pub(crate) command: Vec<OsString>,
}

/// An input source as written after the command.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Tail {
    /// `:::` (or `:::+` when linked) and its values.
    Values { linked: bool, values: Vec<Vec<u8>> },
    /// `::::` (or `::::+`) and its files.
    Files { linked: bool, files: Vec<PathBuf> },
}

/// Splits the words after the options into the command and its input sources; refuses a word
/// this OS's text cannot carry as bytes (see [`crate::os_text`]).
pub(crate) fn split_command(words: Vec<OsString>) -> Result<(Vec<Vec<u8>>, Vec<Tail>), NotUnicode> {
    let mut command = Vec::new();
    let mut tails: Vec<Tail> = Vec::new();
    for word in words {
        let separator = match word.as_encoded_bytes() {
            b":::" => Some((false, false)),
            b":::+" => Some((false, true)),
            b"::::" => Some((true, false)),
            b"::::+" => Some((true, true)),
            _ => None,
        };
        match (separator, tails.last_mut()) {
            (Some((false, linked)), _) => tails.push(Tail::Values {
                linked,
                values: Vec::new(),
            }),
            (Some((true, linked)), _) => tails.push(Tail::Files {
                linked,
                files: Vec::new(),
            }),
            (None, Some(Tail::Values { values, .. })) => values.push(to_bytes(word)?),
            (None, Some(Tail::Files { files, .. })) => files.push(word.into()),
            (None, None) => command.push(to_bytes(word)?),
        }
    }
    Ok((command, tails))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn command_and_sources_split_at_the_separators() {
        let (command, tails) = split_command(os(&[
            "echo", "{}", ":::", "a", "b", ":::+", "1", "::::", "f", "g",
        ]))
        .unwrap();
        assert_eq!(command, [b"echo".to_vec(), b"{}".to_vec()]);
        assert_eq!(
            tails,
            [
                Tail::Values {
                    linked: false,
                    values: vec![b"a".to_vec(), b"b".to_vec()]
                },
                Tail::Values {
                    linked: true,
                    values: vec![b"1".to_vec()]
                },
                Tail::Files {
                    linked: false,
                    files: vec!["f".into(), "g".into()]
                },
            ]
        );
    }

    #[test]
    fn repeated_options_and_old_halt_forms_are_read_as_gnu_parallel_reads_them() {
        let cli = Cli::try_parse_from(["ppool", "-k", "-k", "-j", "2", "-j", "3", "echo"]).unwrap();
        assert!(cli.keep_order);
        assert_eq!(cli.jobs.as_deref(), Some("3"), "the last one counts");
        for old in ["-1", "-2"] {
            let cli = Cli::try_parse_from(["ppool", "--halt", old, "echo", ":::", "a"]).unwrap();
            assert_eq!(cli.halt.as_deref(), Some(old));
            assert_eq!(cli.command, os(&["echo", ":::", "a"]));
        }
    }

    #[test]
    fn options_stop_at_the_command() {
        let cli = Cli::try_parse_from(["ppool", "-k", "-j", "-1", "grep", "-v", "x", ":::", "-a"])
            .unwrap();
        assert!(cli.keep_order);
        assert_eq!(cli.jobs.as_deref(), Some("-1"));
        assert_eq!(cli.command, os(&["grep", "-v", "x", ":::", "-a"]));
        let cli = Cli::try_parse_from(["ppool", "-0", "--jl", "log", "::: ", "a"]).unwrap();
        assert!(cli.null);
        assert_eq!(cli.joblog.as_deref(), Some("log"));
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
