//! Reading criterion's saved results: `<criterion dir>/<group>/<function>/<parameter>/new/`
//! holds `benchmark.json` (ids and throughput) and `estimates.json` (nanoseconds per iteration).

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

/// One benchmark's latest result.
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
    /// Mean time per iteration, in nanoseconds.
    pub(crate) mean_ns: f64,
    /// Median time per iteration, in nanoseconds.
    pub(crate) median_ns: f64,
    /// Jobs per iteration, from `Throughput::Elements`.
    pub(crate) elements: Option<u64>,
    /// Whether the result predates the run being reported (a benchmark no longer run).
    pub(crate) stale: bool,
}

impl Measurement {
    /// Whether this is `group/function/parameter`.
    pub(crate) fn is(&self, group: &str, function: &str, parameter: &str) -> bool {
        self.group == group
            && self.function.as_deref() == Some(function)
            && self.parameter.as_deref() == Some(parameter)
    }

    /// Median nanoseconds per job (element), if the throughput is known.
    pub(crate) fn median_ns_per_job(&self) -> Option<f64> {
        self.elements.map(|n| self.median_ns / n as f64)
    }

    /// Mean nanoseconds per job (element), if the throughput is known.
    pub(crate) fn mean_ns_per_job(&self) -> Option<f64> {
        self.elements.map(|n| self.mean_ns / n as f64)
    }
}

/// Every result under `dir`, sorted by id. A missing directory gives none; a result that cannot
/// be read is reported on stderr and skipped. Results whose estimates were written before
/// `fresh_since` are marked stale.
pub(crate) fn collect(dir: &Path, fresh_since: Option<SystemTime>) -> Vec<Measurement> {
    let mut new_dirs = Vec::new();
    find_new_dirs(dir, &mut new_dirs);
    let mut measurements: Vec<Measurement> = new_dirs
        .iter()
        .filter_map(|new| match read(new, fresh_since) {
            Ok(measurement) => Some(measurement),
            Err(error) => {
                eprintln!("warning: skipping {}: {error:#}", new.display());
                None
            }
        })
        .collect();
    measurements.sort_by(|a, b| a.id.cmp(&b.id));
    measurements
}

/// Collects the `new/` directories holding a `benchmark.json` below `dir`.
fn find_new_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == ErrorKind::NotFound => return,
        Err(error) => {
            eprintln!("warning: cannot read {}: {error}", dir.display());
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if entry.file_name() == "new" && path.join("benchmark.json").is_file() {
            out.push(path);
        } else {
            find_new_dirs(&path, out);
        }
    }
}

/// Reads one `new/` directory.
fn read(new: &Path, fresh_since: Option<SystemTime>) -> Result<Measurement> {
    let benchmark = read_json(&new.join("benchmark.json"))?;
    let estimates_path = new.join("estimates.json");
    let estimates = read_json(&estimates_path)?;

    let text = |key: &str| {
        benchmark
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let group = text("group_id").ok_or_else(|| anyhow!("benchmark.json has no group_id"))?;
    let function = text("function_id");
    let parameter = text("value_str");
    let id = text("full_id").unwrap_or_else(|| {
        [Some(group.clone()), function.clone(), parameter.clone()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/")
    });
    let estimate = |statistic: &str| {
        estimates
            .get(statistic)
            .and_then(|s| s.get("point_estimate"))
            .and_then(Value::as_f64)
            .ok_or_else(|| anyhow!("estimates.json has no {statistic}.point_estimate"))
    };
    let stale = match fresh_since {
        Some(since) => fs::metadata(&estimates_path)
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified < since),
        None => false,
    };
    Ok(Measurement {
        id,
        group,
        function,
        parameter,
        mean_ns: estimate("mean")?,
        median_ns: estimate("median")?,
        elements: benchmark.get("throughput").and_then(elements),
        stale,
    })
}

/// Elements per iteration from criterion's serialised `Throughput`, if it counts elements.
fn elements(throughput: &Value) -> Option<u64> {
    throughput
        .get("Elements")
        .and_then(Value::as_u64)
        .or_else(|| {
            throughput
                .get("ElementsAndBytes")?
                .get("elements")?
                .as_u64()
        })
        .filter(|&n| n > 0)
}

/// Reads and parses a JSON file.
fn read_json(path: &Path) -> Result<Value> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// A fake criterion output tree for tests, removed when dropped.
#[cfg(test)]
pub(crate) mod fake {
    use std::fs;
    use std::path::{Path, PathBuf};

    /// A temporary directory laid out like `target/criterion`.
    #[derive(Debug)]
    pub(crate) struct Tree(PathBuf);

    impl Tree {
        /// An empty tree, unique to this process and `name`.
        pub(crate) fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("xtask-test-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("a temp dir");
            Self(dir)
        }

        /// The tree's root.
        pub(crate) fn path(&self) -> &Path {
            &self.0
        }

        /// Writes `<group>/<function>/<parameter>/<kind>/` as criterion would, with the given
        /// median and mean (ns per iteration) and elements per iteration.
        pub(crate) fn add(
            &self,
            kind: &str,
            (group, function, parameter): (&str, &str, &str),
            median: f64,
            mean: f64,
            elements: u64,
        ) -> &Self {
            let dir = self.0.join(group).join(function).join(parameter).join(kind);
            fs::create_dir_all(&dir).expect("a result dir");
            let id = format!("{group}/{function}/{parameter}");
            let benchmark = serde_json::json!({
                "group_id": group, "function_id": function, "value_str": parameter,
                "throughput": {"Elements": elements},
                "full_id": id, "directory_name": id, "title": id,
            });
            let estimate = |x: f64| {
                serde_json::json!({
                    "confidence_interval": {
                        "confidence_level": 0.95, "lower_bound": x * 0.9, "upper_bound": x * 1.1
                    },
                    "point_estimate": x, "standard_error": x * 0.01,
                })
            };
            let estimates = serde_json::json!({
                "mean": estimate(mean), "median": estimate(median),
                "median_abs_dev": estimate(1.0), "slope": estimate(mean), "std_dev": estimate(1.0),
            });
            fs::write(dir.join("benchmark.json"), benchmark.to_string()).expect("written");
            fs::write(dir.join("estimates.json"), estimates.to_string()).expect("written");
            self
        }

        /// Every benchmark's results: the pool and the hand-rolled floor for both scheduler
        /// worker counts, and the three native spawn functions.
        pub(crate) fn full(name: &str) -> Self {
            let tree = Self::new(name);
            for (id, median, mean, elements) in [
                (("scheduler", "pool", "1"), 14.5e6, 14.4e6, 100_000),
                (("scheduler", "pool", "2"), 62e6, 60e6, 100_000),
                (("scheduler", "raw_workers", "1"), 5e6, 5.1e6, 100_000),
                (("scheduler", "raw_workers", "2"), 8e6, 8.2e6, 100_000),
                (("native_spawn", "std_loop", "2"), 800e6, 810e6, 2_000),
                (("native_spawn", "std_piped", "2"), 840e6, 850e6, 2_000),
                (("native_spawn", "pool", "2"), 880e6, 900e6, 2_000),
                (
                    ("wasi_instantiate", "floor_trivial", "1"),
                    16e6,
                    16e6,
                    4_000,
                ),
                (("wasi_instantiate", "pool_trivial", "1"), 20e6, 20e6, 4_000),
                (
                    ("wasi_instantiate", "floor_trivial", "2"),
                    10e6,
                    10e6,
                    4_000,
                ),
                (("wasi_instantiate", "pool_trivial", "2"), 14e6, 14e6, 4_000),
                (
                    ("wasi_instantiate", "floor_hello_p1", "1"),
                    28e6,
                    28e6,
                    4_000,
                ),
                (
                    ("wasi_instantiate", "pool_hello_p1", "1"),
                    32e6,
                    32e6,
                    4_000,
                ),
                (
                    ("wasi_instantiate", "floor_hello_p1", "2"),
                    16e6,
                    16e6,
                    4_000,
                ),
                (
                    ("wasi_instantiate", "pool_hello_p1", "2"),
                    20e6,
                    20e6,
                    4_000,
                ),
                (
                    ("wasi_instantiate", "floor_hello_p2", "1"),
                    44e6,
                    44e6,
                    4_000,
                ),
                (
                    ("wasi_instantiate", "pool_hello_p2", "1"),
                    48e6,
                    48e6,
                    4_000,
                ),
                (
                    ("wasi_instantiate", "floor_hello_p2", "2"),
                    24e6,
                    24e6,
                    4_000,
                ),
                (
                    ("wasi_instantiate", "pool_hello_p2", "2"),
                    28e6,
                    28e6,
                    4_000,
                ),
                (
                    ("wasi_instantiate", "native_true", "2"),
                    390e6,
                    390e6,
                    1_000,
                ),
            ] {
                tree.add("new", id, median, mean, elements);
            }
            tree
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::Tree;
    use super::*;
    use std::time::Duration;

    #[test]
    fn reads_new_results_and_ignores_base_and_reports() {
        let tree = Tree::full("reads");
        tree.add("base", ("scheduler", "old", "1"), 1.0, 1.0, 1);
        fs::create_dir_all(tree.path().join("scheduler/report")).unwrap();
        fs::write(tree.path().join("scheduler/report/index.html"), "<html/>").unwrap();

        let found = collect(tree.path(), None);
        let ids: Vec<&str> = found.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids.len(), 20);
        assert_eq!(ids[19], "wasi_instantiate/pool_trivial/2");
        assert_eq!(
            ids[..7],
            [
                "native_spawn/pool/2",
                "native_spawn/std_loop/2",
                "native_spawn/std_piped/2",
                "scheduler/pool/1",
                "scheduler/pool/2",
                "scheduler/raw_workers/1",
                "scheduler/raw_workers/2",
            ]
        );
        let one = &found[3];
        assert!(one.is("scheduler", "pool", "1"));
        assert!(!one.is("scheduler", "pool", "2"));
        assert_eq!(one.elements, Some(100_000));
        assert_eq!(one.median_ns, 14_500_000.0);
        assert_eq!(one.median_ns_per_job(), Some(145.0));
        assert_eq!(one.mean_ns_per_job(), Some(144.0));
        assert!(!one.stale);
    }

    #[test]
    fn missing_dir_gives_nothing() {
        let tree = Tree::new("missing");
        assert!(collect(&tree.path().join("nope"), None).is_empty());
    }

    #[test]
    fn skips_unreadable_results() {
        let tree = Tree::full("broken");
        let broken = tree.path().join("scheduler/pool/1/new/estimates.json");
        fs::write(&broken, "{ not json").unwrap();
        let found = collect(tree.path(), None);
        assert_eq!(found.len(), 19);
        assert!(!found.iter().any(|m| m.id == "scheduler/pool/1"));
    }

    #[test]
    fn marks_results_older_than_the_run_stale() {
        let tree = Tree::full("stale");
        let future = SystemTime::now() + Duration::from_secs(3600);
        assert!(collect(tree.path(), Some(future)).iter().all(|m| m.stale));
        let past = SystemTime::now() - Duration::from_secs(3600);
        assert!(collect(tree.path(), Some(past)).iter().all(|m| !m.stale));
    }

    #[test]
    fn parses_throughput_variants() {
        let json = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert_eq!(elements(&json(r#"{"Elements": 2000}"#)), Some(2000));
        assert_eq!(
            elements(&json(
                r#"{"ElementsAndBytes": {"elements": 5, "bytes": 9}}"#
            )),
            Some(5)
        );
        assert_eq!(elements(&json(r#"{"Bytes": 2000}"#)), None);
        assert_eq!(elements(&json(r#"{"Elements": 0}"#)), None);
        assert_eq!(elements(&Value::Null), None);
    }
}
