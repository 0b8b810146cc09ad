//! Running the criterion benchmarks and reading their results from what they print.
//!
//! The results come from the bench executables' stdout, not from criterion's files under
//! `target/criterion/` (whose layout criterion documents as private, free to change in any
//! release): each runs with `--output-format bencher`, criterion's own machine-readable output,
//! one line per benchmark, `test <id> ... bench: <median> ns/iter (+/- <std dev>)`; and the
//! benches announce their jobs per iteration themselves, `process-pool-bench:
//! jobs-per-iteration <group> <n>` (`process_pool_benches::jobs_per_iteration`). A line that
//! looks like a result but does not read as one is an error, as is a result whose group
//! announced no jobs per iteration: a format change stops the run rather than losing figures.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};

use crate::build::Built;
use crate::report::{count, duration};

/// How the benches announce their jobs per iteration (see `process_pool_benches::JOBS_PER_ITERATION`).
const JOBS_PER_ITERATION: &str = "process-pool-bench: jobs-per-iteration";

/// Criterion's flags for every run: benchmark mode (criterion runs each benchmark once, as a
/// test, without `--bench`), and its machine-readable output.
const FLAGS: &[&str] = &["--bench", "--output-format", "bencher"];

/// Criterion's flags for `--quick`: a short warm-up and measurement, the fewest samples
/// allowed, and no plots (criterion draws several per benchmark).
pub(crate) const QUICK_FLAGS: &[&str] = &[
    "--warm-up-time",
    "0.5",
    "--measurement-time",
    "1",
    "--sample-size",
    "10",
    "--noplot",
];

/// One benchmark's result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Measurement {
    /// Criterion's full id, `group/function/parameter`.
    pub(crate) id: String,
    /// The benchmark group.
    pub(crate) group: String,
    /// The function within the group, if any.
    pub(crate) function: Option<String>,
    /// The parameter (`BenchmarkId::new(_, parameter)`), if any.
    pub(crate) parameter: Option<String>,
    /// Median time per iteration, in nanoseconds.
    pub(crate) median_ns: f64,
    /// Standard deviation of the time per iteration, in nanoseconds.
    pub(crate) std_dev_ns: f64,
    /// Jobs per iteration, as the bench announced them.
    pub(crate) elements: Option<u64>,
}

impl Measurement {
    /// Whether this is `group/function/parameter`.
    pub(crate) fn is(&self, group: &str, function: &str, parameter: &str) -> bool {
        self.group == group
            && self.function.as_deref() == Some(function)
            && self.parameter.as_deref() == Some(parameter)
    }

    /// Median nanoseconds per job (element), if the jobs per iteration are known.
    pub(crate) fn median_ns_per_job(&self) -> Option<f64> {
        self.elements.map(|n| self.median_ns / n as f64)
    }

    /// The line printed on the terminal as the result comes in.
    fn summary(&self) -> String {
        let per_iteration = format!(
            "{} ± {} per iteration",
            duration(self.median_ns),
            duration(self.std_dev_ns)
        );
        match (self.median_ns_per_job(), self.elements) {
            (Some(per_job), Some(jobs)) => format!(
                "{:<44} {:>10} per job  ({per_iteration} of {} jobs)",
                self.id,
                duration(per_job),
                count(jobs)
            ),
            _ => format!("{:<44} {per_iteration}", self.id),
        }
    }
}

/// What one line of a bench's stdout was.
#[derive(Debug, Clone, PartialEq)]
enum Line {
    /// A benchmark's result.
    Result(Measurement),
    /// The jobs per iteration of a group's next benchmarks.
    Jobs,
    /// Anything else, shown as it is.
    Other,
}

/// Reads the bench executables' stdout, line by line, in the order printed.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    /// The jobs per iteration each group announced last.
    jobs: HashMap<String, u64>,
    /// The results read so far.
    pub(crate) measurements: Vec<Measurement>,
}

impl Reader {
    /// Takes in one line; an error for a line that should be a result or an announcement and
    /// does not read as one.
    fn line(&mut self, line: &str) -> Result<Line> {
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix(JOBS_PER_ITERATION) {
            let mut words = rest.split_whitespace();
            let (Some(group), Some(jobs), None) = (words.next(), words.next(), words.next()) else {
                bail!("unexpected announcement from a bench: `{line}`");
            };
            let jobs: u64 = jobs
                .parse()
                .with_context(|| format!("unexpected announcement from a bench: `{line}`"))?;
            self.jobs.insert(group.to_owned(), jobs);
            return Ok(Line::Jobs);
        }
        let Some((id, result)) = line
            .strip_prefix("test ")
            .and_then(|rest| rest.split_once(" ... bench:"))
        else {
            return Ok(Line::Other);
        };
        let measurement = self
            .result(id.trim(), result)
            .with_context(|| format!("unexpected result line from criterion: `{line}`"))?;
        self.measurements.push(measurement.clone());
        Ok(Line::Result(measurement))
    }

    /// A result: `<id>` and `<median> ns/iter (+/- <std dev>)`, numbers with thousands commas.
    fn result(&self, id: &str, result: &str) -> Result<Measurement> {
        let words: Vec<&str> = result.split_whitespace().collect();
        let [median, "ns/iter", "(+/-", std_dev] = words[..] else {
            bail!("expected `<median> ns/iter (+/- <std dev>)`");
        };
        let integer = |text: &str| -> Result<f64> {
            let digits: String = text.chars().filter(|c| *c != ',').collect();
            Ok(digits.parse::<u64>()? as f64)
        };
        let mut parts = id.splitn(3, '/');
        let group = parts.next().unwrap_or_default().to_owned();
        let (function, parameter) = (parts.next(), parts.next());
        let elements = self.jobs.get(&group).copied().ok_or_else(|| {
            anyhow!("the group `{group}` announced no jobs per iteration (`{JOBS_PER_ITERATION} {group} N`)")
        })?;
        Ok(Measurement {
            id: id.to_owned(),
            group,
            function: function.map(str::to_owned),
            parameter: parameter.map(str::to_owned),
            median_ns: integer(median)?,
            std_dev_ns: integer(std_dev.trim_end_matches(')'))?,
            elements: Some(elements),
        })
    }
}

/// What criterion prints on stderr that quick mode makes normal, counted rather than shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Noise {
    /// "Gnuplot not found, using plotters backend": criterion looks for gnuplot at every start,
    /// even with `--noplot`.
    pub(crate) gnuplot: usize,
    /// "Unable to complete 10 samples in …": a benchmark whose 10 samples take longer than the
    /// measurement time (1 s in `--quick`) takes them anyway, over a longer time.
    pub(crate) short_time: usize,
}

impl Noise {
    /// Whether `line` of a bench's stderr is noise (counted), or is to be shown.
    fn take(&mut self, line: &str) -> bool {
        let line = line.trim();
        if line.is_empty() {
            true
        } else if line.starts_with("Gnuplot not found") {
            self.gnuplot += 1;
            true
        } else if line.starts_with("Warning: Unable to complete") {
            self.short_time += 1;
            true
        } else {
            false
        }
    }
}

/// Runs every benchmark of `built`, one executable after another, with criterion's results
/// shown per job as they come, and returns them. `results` is where criterion keeps its own
/// files (its HTML report). Fails if a bench fails or prints a result that does not read.
pub(crate) fn run(built: &Built, quick: bool, results: &Path) -> Result<(Reader, Noise)> {
    let mut reader = Reader::default();
    let mut noise = Noise::default();
    let total = built.benches.len();
    for (i, (name, exe)) in built.benches.iter().enumerate() {
        eprintln!(
            "\n==> [{}/{total}] {name}: {} {}",
            i + 1,
            exe.display(),
            flags(quick).join(" ")
        );
        run_one(exe, quick, results, &mut reader, &mut noise)
            .with_context(|| format!("the benchmark `{name}` failed; no report written"))?;
    }
    Ok((reader, noise))
}

/// The flags each bench executable is given.
pub(crate) fn flags(quick: bool) -> Vec<&'static str> {
    let mut flags = FLAGS.to_vec();
    if quick {
        flags.extend(QUICK_FLAGS);
    }
    flags
}

/// Runs one bench executable as `cargo bench` would (from its package's directory), reading
/// its stdout through `reader` and its stderr through `noise`.
fn run_one(
    exe: &Path,
    quick: bool,
    results: &Path,
    reader: &mut Reader,
    noise: &mut Noise,
) -> Result<()> {
    let mut command = Command::new(exe);
    command
        .args(flags(quick))
        .current_dir(crate::project_root().join("benches"))
        .env("CRITERION_HOME", results)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if quick {
        command.env("PROCESS_POOL_BENCH_QUICK", "1");
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start {}", exe.display()))?;
    let stderr = child.stderr.take().context("the bench's stderr")?;
    let filter = std::thread::spawn(move || {
        let mut noise = Noise::default();
        let mut out = std::io::stderr();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !noise.take(&line) {
                let _ = writeln!(out, "{line}");
            }
        }
        noise
    });
    let stdout = child.stdout.take().context("the bench's stdout")?;
    let mut read = Ok(());
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading the bench's output")?;
        match reader.line(&line) {
            Ok(Line::Result(m)) => println!("{}", m.summary()),
            Ok(Line::Jobs) => {}
            Ok(Line::Other) if line.trim().is_empty() => {}
            Ok(Line::Other) => println!("{line}"),
            Err(error) => {
                // Read on, so that the bench is not stopped by a closed pipe.
                if read.is_ok() {
                    read = Err(error);
                }
            }
        }
    }
    let status = child.wait().context("waiting for the bench")?;
    let seen = filter.join().unwrap_or_default();
    noise.gnuplot += seen.gnuplot;
    noise.short_time += seen.short_time;
    read?;
    if !status.success() {
        bail!("{} exited with {status}", exe.display());
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod fake {
    use super::*;

    /// Results as the benches would print them: (id, median ns per iteration, jobs).
    pub(crate) fn measurements(results: &[(&str, f64, u64)]) -> Vec<Measurement> {
        let mut reader = Reader::default();
        for &(id, median, jobs) in results {
            let group = id.split('/').next().unwrap_or_default();
            reader
                .line(&format!("{JOBS_PER_ITERATION} {group} {jobs}"))
                .expect("an announcement");
            let line = format!("test {id} ... bench: {median:>11} ns/iter (+/- 1,000)");
            reader.line(&line).expect("a result");
        }
        reader.measurements
    }

    /// Every benchmark's results: the pool and the hand-rolled floor for both scheduler
    /// worker counts, the three native spawn functions, and the WASI group.
    pub(crate) fn full() -> Vec<Measurement> {
        measurements(&[
            ("native_spawn/pool/2", 880e6, 2_000),
            ("native_spawn/pool_subreaper/2", 870e6, 2_000),
            ("native_spawn/std_loop/2", 800e6, 2_000),
            ("native_spawn/std_piped/2", 840e6, 2_000),
            ("scheduler/pool/1", 14.5e6, 100_000),
            ("scheduler/pool/2", 62e6, 100_000),
            ("scheduler/raw_workers/1", 5e6, 100_000),
            ("scheduler/raw_workers/2", 8e6, 100_000),
            ("wasi_instantiate/floor_hello_p1/1", 28e6, 4_000),
            ("wasi_instantiate/floor_hello_p1/2", 16e6, 4_000),
            ("wasi_instantiate/floor_hello_p2/1", 44e6, 4_000),
            ("wasi_instantiate/floor_hello_p2/2", 24e6, 4_000),
            ("wasi_instantiate/floor_trivial/1", 16e6, 4_000),
            ("wasi_instantiate/floor_trivial/2", 10e6, 4_000),
            ("wasi_instantiate/pool_hello_p1/1", 32e6, 4_000),
            ("wasi_instantiate/pool_hello_p1/2", 20e6, 4_000),
            ("wasi_instantiate/pool_hello_p2/1", 48e6, 4_000),
            ("wasi_instantiate/pool_hello_p2/2", 28e6, 4_000),
            ("wasi_instantiate/pool_trivial/1", 20e6, 4_000),
            ("wasi_instantiate/pool_trivial/2", 14e6, 4_000),
            ("wasi_instantiate/native_true/2", 390e6, 1_000),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_results_with_the_jobs_announced_before_them() {
        let mut reader = Reader::default();
        let lines = [
            "process-pool-bench: jobs-per-iteration scheduler 100000",
            "test scheduler/pool/1 ... bench:    14,500,000 ns/iter (+/- 120,400)",
            "",
            "process-pool-bench: jobs-per-iteration scheduler 10",
            "test scheduler/raw_workers/2 ... bench:           800 ns/iter (+/- 3)",
            "skipping the hello guest for wasm32-wasip1: not built",
        ];
        let kinds: Vec<Line> = lines.iter().map(|l| reader.line(l).unwrap()).collect();
        assert_eq!(kinds[0], Line::Jobs);
        assert!(matches!(kinds[1], Line::Result(_)));
        assert_eq!(kinds[2], Line::Other);
        assert_eq!(kinds[5], Line::Other);
        let [one, two] = &reader.measurements[..] else {
            panic!("two results: {:?}", reader.measurements);
        };
        assert!(one.is("scheduler", "pool", "1"));
        assert_eq!(one.id, "scheduler/pool/1");
        assert_eq!(
            (one.median_ns, one.std_dev_ns, one.elements),
            (14_500_000.0, 120_400.0, Some(100_000))
        );
        assert_eq!(one.median_ns_per_job(), Some(145.0));
        assert_eq!(two.elements, Some(10));
        assert_eq!(two.median_ns_per_job(), Some(80.0));
        assert_eq!(
            one.summary(),
            "scheduler/pool/1                              145.00 ns per job  \
             (14.50 ms ± 120.40 µs per iteration of 100,000 jobs)"
        );
    }

    #[test]
    fn a_result_that_does_not_read_is_an_error() {
        let mut reader = Reader::default();
        reader
            .line("process-pool-bench: jobs-per-iteration g 10")
            .unwrap();
        for bad in [
            "test g/f/1 ... bench: 1.5 ms/iter (+/- 3)",
            "test g/f/1 ... bench: 12 ns/iter",
            "test g/f/1 ... bench: twelve ns/iter (+/- 3)",
            "process-pool-bench: jobs-per-iteration g",
            "process-pool-bench: jobs-per-iteration g many",
        ] {
            let error = reader.line(bad).unwrap_err();
            assert!(format!("{error:#}").contains(bad), "{error:#}");
        }
        assert!(reader.measurements.is_empty());
    }

    #[test]
    fn a_result_without_jobs_per_iteration_is_an_error() {
        let mut reader = Reader::default();
        let error = reader
            .line("test other/f/1 ... bench: 12 ns/iter (+/- 3)")
            .unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.contains("`other` announced no jobs per iteration"),
            "{text}"
        );
    }

    #[test]
    fn counts_the_noise_of_quick_mode_and_shows_the_rest() {
        let mut noise = Noise::default();
        for line in [
            "Gnuplot not found, using plotters backend",
            "",
            "Warning: Unable to complete 10 samples in 1.0s. You may wish to increase target \
             time to 1.6s.",
        ] {
            assert!(noise.take(line), "{line}");
        }
        assert!(!noise.take("thread 'main' panicked at benches/benches/wordcount.rs:9"));
        assert_eq!(
            noise,
            Noise {
                gnuplot: 1,
                short_time: 1
            }
        );
    }

    #[test]
    fn quick_mode_adds_criterions_short_settings() {
        assert_eq!(flags(false), ["--bench", "--output-format", "bencher"]);
        assert_eq!(
            flags(true).join(" "),
            "--bench --output-format bencher --warm-up-time 0.5 --measurement-time 1 \
             --sample-size 10 --noplot"
        );
    }
}
