//! The main job's table: word-counting a corpus at 1, 2, 4 and 8 workers, native and WASI, at
//! each scale, beside the reference pool's published figures.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::criterion::Measurement;

/// The worker counts of the table.
pub(crate) const WORKERS: [usize; 4] = [1, 2, 4, 8];
/// The reference pool's (mizchi/process_pool) published times, in ms, at [`WORKERS`], for 16
/// documents of about 5,000 words.
pub(crate) const REFERENCE_MS: [f64; 4] = [632.0, 315.0, 194.0, 160.0];
/// The scales, as named in the benchmark ids.
pub(crate) const SCALES: [(&str, &str); 2] = [
    ("reference", "16 documents × 5,000 words"),
    ("large", "64 documents × 200,000 words"),
];
/// The backends, as named in the benchmark ids.
pub(crate) const BACKENDS: [(&str, &str); 2] = [("native", "native"), ("wasi", "WASI")];

/// One cell of the table: the batch's median time at a worker count, if measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cell {
    pub(crate) workers: usize,
    pub(crate) ms: Option<f64>,
}

/// The measured cells for `backend` at `scale`, in [`WORKERS`] order.
pub(crate) fn cells(measurements: &[Measurement], backend: &str, scale: &str) -> Vec<Cell> {
    let function = format!("{backend}_{scale}");
    WORKERS
        .iter()
        .map(|&workers| Cell {
            workers,
            ms: measurements
                .iter()
                .find(|m| m.is("wordcount", &function, &workers.to_string()))
                .map(|m| m.median_ns / 1e6),
        })
        .collect()
}

/// Every benchmark id of the tables, at every scale.
pub(crate) fn ids() -> Vec<String> {
    let mut ids = Vec::new();
    for (scale, _) in SCALES {
        for (backend, _) in BACKENDS {
            for workers in WORKERS {
                ids.push(format!("wordcount/{backend}_{scale}/{workers}"));
            }
        }
    }
    ids
}

/// The section of the Markdown report: one table per scale, a row per worker count. `quick`:
/// the large scale is left out on purpose.
pub(crate) fn markdown(measurements: &[Measurement], cpus: Option<usize>, quick: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n## Word count (the main job)\n");
    let _ = writeln!(
        out,
        "One job per document, the batch's median time; speed-up against 1 worker of the same \
         backend. The reference column is mizchi/process_pool's published table (16 documents \
         of about 5,000 words, MoonBit, its own machine).\n"
    );
    for (scale, description) in SCALES {
        let columns: Vec<Vec<Cell>> = BACKENDS
            .iter()
            .map(|(backend, _)| cells(measurements, backend, scale))
            .collect();
        if columns.iter().flatten().all(|c| c.ms.is_none()) {
            let why = if quick && scale == "large" {
                "measured by the full run only (`cargo xtask bench`)"
            } else {
                "not run"
            };
            let _ = writeln!(out, "### {description} ({scale}): {why}\n");
            continue;
        }
        let _ = writeln!(out, "### {description} ({scale})\n");
        let _ = writeln!(
            out,
            "| Workers | Native | Speed-up | WASI | Speed-up | WASI / native | Reference | Speed-up |"
        );
        let _ = writeln!(out, "|--:|--:|--:|--:|--:|--:|--:|--:|");
        for (i, workers) in WORKERS.iter().enumerate() {
            let over = cpus.is_some_and(|n| *workers > n);
            let mark = if over { " (oversubscribed)" } else { "" };
            let time = |c: &Cell| c.ms.map_or_else(|| "not run".to_owned(), ms);
            let speedup = |col: &[Cell]| match (col[0].ms, col[i].ms) {
                (Some(one), Some(this)) => format!("{:.2}×", one / this),
                _ => "—".to_owned(),
            };
            let (native, wasi) = (&columns[0], &columns[1]);
            let ratio = match (native[i].ms, wasi[i].ms) {
                (Some(n), Some(w)) => format!("{:.2}×", w / n),
                _ => "—".to_owned(),
            };
            let reference = if scale == "reference" {
                format!(
                    "{} | {:.2}×",
                    ms(REFERENCE_MS[i]),
                    REFERENCE_MS[0] / REFERENCE_MS[i]
                )
            } else {
                "— | —".to_owned()
            };
            let _ = writeln!(
                out,
                "| {workers}{mark} | {} | {} | {} | {} | {ratio} | {reference} |",
                time(&native[i]),
                speedup(native),
                time(&wasi[i]),
                speedup(wasi),
            );
        }
        let _ = writeln!(out);
    }
    out
}

/// The same tables as JSON: per scale and backend, the time at each worker count.
pub(crate) fn json(measurements: &[Measurement]) -> Value {
    let mut scales = serde_json::Map::new();
    for (scale, description) in SCALES {
        let mut backends = serde_json::Map::new();
        for (backend, _) in BACKENDS {
            let rows: Vec<Value> = cells(measurements, backend, scale)
                .iter()
                .map(|c| json!({ "workers": c.workers, "median_ms": c.ms }))
                .collect();
            backends.insert(backend.to_owned(), Value::Array(rows));
        }
        backends.insert("description".to_owned(), json!(description));
        scales.insert(scale.to_owned(), Value::Object(backends));
    }
    scales.insert(
        "reference_ms".to_owned(),
        json!(WORKERS.iter().zip(REFERENCE_MS).collect::<Vec<_>>()),
    );
    Value::Object(scales)
}

/// Milliseconds, with a precision that suits their size.
fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0} ms")
    } else {
        format!("{value:.1} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::criterion::fake;

    /// Word-count results: the reference scale, and the large one natively.
    fn results() -> Vec<Measurement> {
        let mut results = Vec::new();
        for (function, times) in [
            ("native_reference", [26e6, 13e6, 13e6, 13e6]),
            ("wasi_reference", [18e6, 10e6, 8e6, 8e6]),
            ("native_large", [1000e6, 540e6, 530e6, 520e6]),
        ] {
            for (workers, ns) in WORKERS.iter().zip(times) {
                results.push((format!("wordcount/{function}/{workers}"), ns));
            }
        }
        let results: Vec<(&str, f64, u64)> = results
            .iter()
            .map(|(id, ns)| (id.as_str(), *ns, 16))
            .collect();
        fake::measurements(&results)
    }

    #[test]
    fn tables_each_scale_with_speedups_and_the_reference() {
        let md = markdown(&results(), Some(2), false);
        assert!(md.contains("### 16 documents × 5,000 words (reference)"));
        assert!(md.contains("| 1 | 26.0 ms | 1.00× | 18.0 ms | 1.00× | 0.69× | 632 ms | 1.00× |"));
        assert!(md.contains("| 2 | 13.0 ms | 2.00× | 10.0 ms | 1.80× | 0.77× | 315 ms | 2.01× |"));
        assert!(md.contains("| 8 (oversubscribed) | 13.0 ms | 2.00× | 8.0 ms | 2.25× |"));
        // The large scale has no WASI results and no reference.
        assert!(md.contains("| 2 | 540 ms | 1.85× | not run | — | — | — | — |"));
    }

    #[test]
    fn says_when_a_scale_was_not_run() {
        let md = markdown(&[], None, false);
        assert!(md.contains("(reference): not run"));
        assert!(md.contains("(large): not run"));
        let md = markdown(&[], None, true);
        assert!(md.contains("(large): measured by the full run only"));
        let json = json(&[]);
        assert_eq!(json["large"]["wasi"][0]["median_ms"], Value::Null);
    }

    #[test]
    fn names_every_benchmark() {
        let ids = ids();
        assert_eq!(ids.len(), 16);
        assert_eq!(ids[0], "wordcount/native_reference/1");
        assert_eq!(ids[15], "wordcount/wasi_large/8");
    }

    #[test]
    fn writes_json() {
        let json = json(&results());
        assert_eq!(json["reference"]["native"][1]["workers"], 2);
        assert_eq!(json["reference"]["native"][1]["median_ms"], 13.0);
        assert_eq!(json["reference_ms"][0][1], 632.0);
    }
}
