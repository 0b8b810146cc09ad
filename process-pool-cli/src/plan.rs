//! From the command line to a checked plan: every option parsed and every input opened before
//! any job starts, so a mistake is one clear line and nothing has run.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use process_pool::{Backoff, ProcessPool, RetryOn, RetryPolicy};
use regex::bytes::Regex;

use crate::args::{Cli, Tail, split_command};
use crate::backend::{self, Backend};
use crate::group::{DEFAULT_MAX_CHARS, Grouping};
use crate::halt::HaltSpec;
use crate::input::{self, InputSpec, Origin, Source};
use crate::joblog::{self, JobLog, Resume};
use crate::pipe::{Blocks, DEFAULT_BLOCK, parse_block};
use crate::results::Results;
use crate::template::{Tag, Template, Words};
use crate::units::{parse_bytes, parse_duration};

/// What to run and how, checked.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) template: Arc<Template>,
    pub(crate) input: InputSpec,
    pub(crate) workers: usize,
    pub(crate) keep_order: bool,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) halt: Option<HaltSpec>,
    pub(crate) halt_text: String,
    pub(crate) delay: Option<Duration>,
    pub(crate) grace: Duration,
    pub(crate) kill_grace: Duration,
    pub(crate) output_limit: Option<usize>,
    /// Each job's output kept whole: past [`SPILL_PAST`] bytes a stream goes to a temporary
    /// file, so nothing is cut and memory stays bounded (without `--max-output`, `--json` and
    /// live lines, which keep an in-memory cap).
    pub(crate) spill: bool,
    /// `--pipe`: each job's stdin is its block of the input.
    pub(crate) pipe: bool,
    pub(crate) dry_run: bool,
    /// `--tag`, `--tagstring`.
    pub(crate) tag: Option<Tag>,
    /// `--line-buffer` without `-k` or `--json`: each line printed as a job writes it.
    pub(crate) live_lines: bool,
    pub(crate) json: bool,
    pub(crate) results: Option<Results>,
    pub(crate) joblog: Option<JobLog>,
    /// Jobs an earlier run's log says need not run again.
    pub(crate) skip: HashSet<u64>,
    pub(crate) progress: bool,
    /// Read every input before starting (an ETA from the start, or `--halt` percentages).
    pub(crate) count_first: bool,
    pub(crate) backend: Backend,
}

/// How much of each output stream of a job stays in memory before the whole stream spills to
/// a temporary file (in `$TMPDIR`, as GNU parallel's buffers): a job ended behind a slow one
/// with `-k` holds at most this much of each stream in memory.
pub(crate) const SPILL_PAST: usize = 64 << 10;

impl Plan {
    /// Checks the command line; the error is one line for the user.
    pub(crate) fn new(cli: Cli) -> Result<Plan, String> {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let workers = parse_jobs(cli.jobs.as_deref(), cpus, as_many_as_possible())?;
        let duration =
            |name: &str, text: &str| parse_duration(text).map_err(|e| format!("--{name}: {e}"));
        let timeout = cli
            .timeout
            .as_deref()
            .map(|t| duration("timeout", t))
            .transpose()?
            .filter(|t| !t.is_zero());
        let delay = cli
            .delay
            .as_deref()
            .map(|t| duration("delay", t))
            .transpose()?;
        let grace = duration("grace", &cli.grace)?;
        let kill_grace = duration("kill-grace", &cli.kill_grace)?;
        let retry = retry_policy(&cli, &duration)?;
        let halt_text = cli.halt.clone().unwrap_or_default();
        let halt = cli
            .halt
            .as_deref()
            .map(HaltSpec::parse)
            .transpose()?
            .flatten();
        let output_limit = cli
            .max_output
            .as_deref()
            .map(|t| {
                parse_bytes(t)
                    .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
                    .map_err(|e| format!("--max-output: {e}"))
            })
            .transpose()?;
        let colsep = cli
            .colsep
            .as_deref()
            .map(|re| {
                // regex's syntax errors draw the pattern over several lines; the last says why.
                Regex::new(re).map_err(|e| {
                    let text = e.to_string();
                    let why = text
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("");
                    let why = why.trim().trim_start_matches("error: ");
                    format!("--colsep `{re}`: not a regular expression: {why}")
                })
            })
            .transpose()?;

        let pipe = pipe_blocks(&cli)?;
        let grouping = if pipe.is_some() {
            Grouping {
                max_records: Some(1),
                insert_none: false,
                fill: false,
                max_chars: DEFAULT_MAX_CHARS,
                slots: workers,
            }
        } else {
            grouping(&cli, workers)?
        };
        let (command, tails) = split_command(cli.command).map_err(|e| e.to_string())?;
        let how = if cli.wasi {
            Words::Module
        } else if cli.shell {
            Words::Shell
        } else if cli.quote {
            Words::Quoted
        } else {
            Words::Line
        };
        let template = Template::parse(&command, how)?
            .context_replace(cli.context_replace || cli.max_lines.is_some());
        let backend = backend::choose(&cli.wasi, &cli.dir, cli.max_memory.as_deref(), cli.fuel)?;
        if !cli.dry_run {
            backend.check_program(&template)?;
        }
        let sources = sources(cli.arg_file, tails)?;
        if pipe.is_some() {
            check_pipe_source(&sources, cli.pipe_part)?;
        }

        let resume = match (cli.resume, cli.resume_failed) {
            (true, _) => Resume::Logged,
            (_, true) => Resume::Succeeded,
            _ => Resume::No,
        };
        let skip = match &cli.joblog {
            Some(spec) => joblog::done_before(spec, resume)?,
            None => HashSet::new(),
        };
        let joblog = match (&cli.joblog, cli.dry_run) {
            (Some(spec), false) => Some(JobLog::open(spec, resume)?),
            _ => None,
        };
        let progress = !cli.no_progress
            && !cli.dry_run
            && (cli.bar || std::io::stdout().is_terminal())
            && std::io::stderr().is_terminal();
        let live_lines = cli.line_buffer && !cli.keep_order && !cli.json;
        let tag = match (&cli.tagstring, cli.tag) {
            (Some(text), _) => Some(
                Tag::parse(&crate::os_text::to_bytes(text.clone()).map_err(|e| e.to_string())?)
                    .map_err(|e| format!("--tagstring: {e}"))?,
            ),
            (None, true) => Some(Tag::inputs()),
            (None, false) => None,
        };
        Ok(Plan {
            template: Arc::new(template),
            input: InputSpec {
                sources,
                delimiter: if cli.null { b'\0' } else { b'\n' },
                colsep,
                grouping,
                pipe: pipe.clone(),
            },
            workers,
            keep_order: cli.keep_order,
            live_lines,
            timeout,
            retry,
            // With --pipe, blocks are read as jobs start: never the whole input first.
            count_first: pipe.is_none() && (cli.eta || halt.is_some_and(|h| h.needs_total())),
            pipe: pipe.is_some(),
            halt,
            halt_text,
            delay: delay.filter(|d| !d.is_zero()),
            grace,
            kill_grace,
            spill: output_limit.is_none() && !cli.json && !live_lines,
            output_limit,
            dry_run: cli.dry_run,
            tag,
            json: cli.json,
            results: match (cli.results, cli.dry_run) {
                (Some(path), false) => Some(Results::open(path)?),
                _ => None,
            },
            joblog,
            skip,
            progress,
            backend,
        })
    }
}

impl Plan {
    /// The pool: the plan's limits, timeout, output cap and retries on the chosen backend.
    /// Each retry's job id goes to `retried` (its slot is free while it waits).
    pub(crate) fn pool(&self) -> Result<ProcessPool, String> {
        let mut builder = ProcessPool::builder()
            .max_workers(self.workers)
            .kill_grace(self.kill_grace);
        if let Some(limit) = self.timeout {
            builder = builder.timeout(limit);
        }
        if self.spill {
            builder = builder.output_limit(SPILL_PAST);
        } else if let Some(limit) = self.output_limit {
            builder = builder.output_limit(limit);
        }
        if let Some(policy) = self.retry.clone() {
            builder = builder.retry(policy);
        }
        self.backend.build(builder, self.workers)
    }
}

/// `--pipe` and `--pipe-part`: how the input is cut into blocks (`-N` records a block).
fn pipe_blocks(cli: &Cli) -> Result<Option<Blocks>, String> {
    if !cli.pipe && !cli.pipe_part {
        for (given, name) in [
            (cli.block.is_some(), "--block"),
            (cli.recend.is_some(), "--recend"),
            (cli.recstart.is_some(), "--recstart"),
        ] {
            if given {
                return Err(format!(
                    "{name} cuts the input into blocks: give --pipe too"
                ));
            }
        }
        return Ok(None);
    }
    if cli.wasi || cli.multiple || cli.context_replace {
        return Err("--pipe gives each job a block on stdin: not with --wasi, -m or -X".into());
    }
    let size = match cli.block.as_deref() {
        Some(text) => parse_block(text).ok_or_else(|| {
            format!("--block `{text}`: give a size in bytes above 0: 64K, 10M (k, m: 1000s)")
        })?,
        None => DEFAULT_BLOCK,
    };
    let records = cli.max_replace_args.or(cli.max_args).or(cli.max_lines);
    if records == Some(0) {
        return Err("-N 0 with --pipe: a block needs at least one record".into());
    }
    let blocks = Blocks {
        size,
        records,
        recend: unescape(cli.recend.as_deref().unwrap_or("\\n")),
        recstart: unescape(cli.recstart.as_deref().unwrap_or("")),
        extend: cli.pipe_part,
    };
    if blocks.recend.is_empty() && blocks.recstart.is_empty() {
        return Err("--recend and --recstart both empty: a block could end anywhere".into());
    }
    Ok(Some(blocks))
}

/// GNU parallel's escapes in `--recend` and `--recstart`: `\n`, `\t`, `\r`, `\0`, `\\`.
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(byte) = bytes.next() {
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        match bytes.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'r') => out.push(b'\r'),
            Some(b'0') => out.push(0),
            Some(other) => out.push(other),
            None => out.push(b'\\'),
        }
    }
    out
}

/// `--pipe` cuts stdin; `--pipe-part` one file (`-a`, `::::`).
fn check_pipe_source(sources: &[Source], part: bool) -> Result<(), String> {
    match sources {
        [
            Source {
                origin: Origin::File(..),
                ..
            },
        ] if part => Ok(()),
        [
            Source {
                origin: Origin::Stdin,
                ..
            },
        ] if !part => Ok(()),
        _ if part => Err("--pipe-part cuts one file: give it with -a FILE or :::: FILE".into()),
        _ => Err(
            "--pipe cuts stdin, not ::: values or files: give a file as stdin (< FILE), or \
             use --pipe-part -a FILE"
                .into(),
        ),
    }
}

/// How many inputs make one job: `-n`, else `-N`, else `-L`; `-m`, `-X` and `-s`.
fn grouping(cli: &Cli, slots: usize) -> Result<Grouping, String> {
    let count = cli.max_args.or(cli.max_replace_args).or(cli.max_lines);
    let max_chars = cli.max_chars.unwrap_or(DEFAULT_MAX_CHARS);
    if max_chars == 0 {
        return Err("-s 0: a command line needs room for at least one input".into());
    }
    Ok(Grouping {
        max_records: match count {
            Some(0) => Some(1),
            Some(n) => Some(n),
            None if cli.multiple || cli.context_replace => None,
            None => Some(1),
        },
        insert_none: count == Some(0),
        fill: cli.multiple || cli.context_replace,
        max_chars,
        slots,
    })
}

/// Open files a job may take (its pipes, a pidfd, its cgroup's files) for `-j 0`.
const FILES_PER_JOB: u64 = 8;

/// `-j 0`, as GNU parallel's: as many jobs as can run at once, which the open-file limit
/// decides (`ulimit -n`, less what `ppool` keeps for itself, over [`FILES_PER_JOB`]), at most
/// 4,096; on Windows, which has no such limit, 256.
fn as_many_as_possible() -> usize {
    #[cfg(unix)]
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    #[cfg(not(unix))]
    let limit = 256 * FILES_PER_JOB + 64;
    let jobs = limit.saturating_sub(64) / FILES_PER_JOB;
    usize::try_from(jobs.clamp(1, 4096)).unwrap_or(4096)
}

/// `-j`: N, the CPUs plus or minus N (`+N`, `-N`: refused, as GNU parallel refuses it, when
/// that leaves none), N% of the CPUs, or 0 for `as_many` (no `-j`: one per CPU).
pub(crate) fn parse_jobs(text: Option<&str>, cpus: usize, as_many: usize) -> Result<usize, String> {
    let bad = |t: &str| {
        format!(
            "-j `{t}`: give a number of jobs (at least 1), +N or -N for the CPUs plus or \
             minus N, N% of the CPUs, or 0 for as many as the open-file limit allows"
        )
    };
    let Some(text) = text else { return Ok(cpus) };
    let offset = |digits: &str| {
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse::<usize>().ok())
            .flatten()
            .ok_or_else(|| bad(text))
    };
    if let Some(more) = text.strip_prefix('+') {
        return Ok(cpus.saturating_add(offset(more)?));
    }
    if let Some(fewer) = text.strip_prefix('-') {
        return match cpus.checked_sub(offset(fewer)?) {
            Some(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "-j `{text}`: {cpus} CPUs minus {fewer} leaves no job to run"
            )),
        };
    }
    if let Some(pct) = text.strip_suffix('%') {
        return match pct.parse::<usize>() {
            Ok(p) if p > 0 => Ok((cpus.saturating_mul(p) / 100).max(1)),
            _ => Err(bad(text)),
        };
    }
    match text.parse::<usize>() {
        Ok(0) => Ok(as_many),
        Ok(n) => Ok(n),
        Err(_) => Err(bad(text)),
    }
}

fn retry_policy(
    cli: &Cli,
    duration: &dyn Fn(&str, &str) -> Result<Duration, String>,
) -> Result<Option<RetryPolicy>, String> {
    let attempts = match cli.retries {
        None | Some(1) => return Ok(None),
        Some(0) => u32::MAX,
        Some(n) => n,
    };
    let first = duration("retry-delay", &cli.retry_delay)?;
    let max = duration("retry-max-delay", &cli.retry_max_delay)?;
    let backoff = if first.is_zero() {
        Backoff::none()
    } else if max <= first {
        Backoff::fixed(first)
    } else {
        Backoff::exponential(first, max)
    };
    let mut on = RetryOn::NONE;
    for word in cli
        .retry_on
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        on = match word {
            "exit" => on | RetryOn::FAILURE,
            "signal" => on | RetryOn::CRASH,
            "timeout" => on | RetryOn::TIMEOUT,
            "spawn" => on | RetryOn::SPAWN_FAILURE,
            "trap" => on | RetryOn::TRAP,
            other => {
                return Err(format!(
                    "--retry-on `{other}`: the outcomes are exit, signal, timeout, spawn, trap"
                ));
            }
        };
    }
    Ok(Some(
        RetryPolicy::attempts(attempts).backoff(backoff).on(on),
    ))
}

/// The input sources, in order: `-a` files, then what follows the command; stdin if none.
fn sources(arg_files: Vec<PathBuf>, tails: Vec<Tail>) -> Result<Vec<Source>, String> {
    let mut sources = Vec::new();
    for path in arg_files {
        sources.push(Source {
            origin: input::open(path)?,
            linked: false,
        });
    }
    for tail in tails {
        match tail {
            Tail::Values { linked, values } => sources.push(Source {
                origin: Origin::Args(values),
                linked,
            }),
            Tail::Files { linked, files } => {
                for (i, path) in files.into_iter().enumerate() {
                    sources.push(Source {
                        origin: input::open(path)?,
                        linked: linked && i == 0,
                    });
                }
            }
        }
    }
    if sources.is_empty() {
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal() {
            // A bare command typed at a prompt, most likely missing its `:::`.
            eprintln!(
                "ppool: reading inputs from the terminal, one per line; end them with Ctrl-D \
                 (or give them after ::: or ::::, see ppool --help)"
            );
        }
        sources.push(Source {
            origin: Origin::Stdin,
            linked: false,
        });
    }
    if sources
        .iter()
        .filter(|s| matches!(s.origin, Origin::Stdin))
        .count()
        > 1
    {
        return Err("stdin (`-`) can be read as one input source only".into());
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_a_count_a_percentage_or_zero_for_the_cpus() {
        assert_eq!(parse_jobs(None, 8, 100), Ok(8));
        assert_eq!(parse_jobs(Some("0"), 8, 100), Ok(100));
        assert_eq!(parse_jobs(Some("3"), 8, 100), Ok(3));
        assert_eq!(parse_jobs(Some("50%"), 8, 100), Ok(4));
        assert_eq!(parse_jobs(Some("10%"), 2, 100), Ok(1));
        // GNU parallel's CPUs plus or minus N, at least 1.
        assert_eq!(parse_jobs(Some("+1"), 2, 100), Ok(3));
        assert_eq!(parse_jobs(Some("-1"), 8, 100), Ok(7));
        assert!(
            parse_jobs(Some("-2"), 2, 100)
                .unwrap_err()
                .contains("leaves no job")
        );
        for bad in ["x", "0%", "1.5", "", "+", "-", "+x", "--1", "+-1"] {
            let err = parse_jobs(Some(bad), 8, 100).unwrap_err();
            assert!(err.starts_with("-j"), "{err}");
        }
    }
}
