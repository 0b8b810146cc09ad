//! The report as Markdown: a header, the targets table, each section, and a table of all
//! results.

use std::fmt::Write as _;

use super::*;

impl Report {
    /// The report as Markdown: a header, the targets table and a table of all results.
    pub(crate) fn to_markdown(&self) -> String {
        let mut out = String::new();
        let cpus = self
            .cpus
            .map_or_else(|| "unknown".to_owned(), |n| n.to_string());
        let model = self.cpu_model.as_deref().unwrap_or("unknown model");
        let mode = if self.quick { "quick" } else { "full" };
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# process-pool benchmark report\n");
        let _ = writeln!(out, "- Date: {}", self.timestamp);
        let _ = writeln!(
            out,
            "- Command: `{}`, built by `{}`, each benchmark run with `{}`",
            self.xtask, self.command, self.bench_flags
        );
        let _ = writeln!(out, "- Mode: {mode}");
        let _ = writeln!(out, "- Machine: {cpus} CPUs, {model}");
        if let Err(why) = &self.guests {
            let _ = writeln!(
                out,
                "- WASI guests: not built ({why}); their benchmarks not run"
            );
        }
        if self.quick {
            let _ = writeln!(
                out,
                "\nQuick mode: short warm-up and measurement, 10 samples; indicative numbers only."
            );
        }

        let _ = writeln!(out, "\n## Targets\n");
        let _ = writeln!(
            out,
            "Medians per job: criterion's time per iteration divided by the jobs per iteration.\n"
        );
        let _ = writeln!(
            out,
            "| Metric | Benchmark | Measured | Reference | Ratio | Target | Result |"
        );
        let _ = writeln!(out, "|---|---|--:|---|--:|---|---|");
        for row in self.target_rows() {
            let measured = match row.value {
                Ok(v) => format!("{} {}", number(v), row.unit),
                Err(why) => why.to_owned(),
            };
            let reference = row.reference.as_ref().map_or_else(
                || "—".to_owned(),
                |r| match r.value {
                    Ok(v) => format!("{} {} {}", r.name, number(v), r.unit),
                    Err(why) => format!("{}: {why}", r.name),
                },
            );
            let ratio = row
                .ratio
                .map_or_else(|| "—".to_owned(), |r| format!("{r:.2}×"));
            let _ = writeln!(
                out,
                "| {} | `{}` | {measured} | {reference} | {ratio} | {} | {} |",
                row.metric,
                row.benchmark,
                row.target,
                row.status.cell()
            );
        }

        out.push_str(&crate::wordcount::markdown(
            &self.measurements,
            self.cpus,
            self.quick,
        ));
        out.push_str(&crate::compare::markdown(&self.external));
        let ours = self.per_job_us("wasi_instantiate/pool_hello_p1/2");
        out.push_str(&crate::wasi_peers::markdown(&self.peers, ours));
        let ours = self.per_job_us("workers/throughput_pool/2");
        out.push_str(&crate::pool_peers::markdown(&self.python_pool, ours));
        out.push_str(&crate::slurm_peers::markdown(&self.slurm));

        let _ = writeln!(out, "\n## All results\n");
        if self.measurements.is_empty() {
            let _ = writeln!(out, "No criterion results found.");
            return out;
        }
        let _ = writeln!(
            out,
            "| Benchmark | Jobs/iter | Median/iter | Std dev/iter | Median/job |"
        );
        let _ = writeln!(out, "|---|--:|--:|--:|--:|");
        for m in &self.measurements {
            let jobs = m.elements.map_or_else(|| "—".to_owned(), count);
            let per_job = m
                .median_ns_per_job()
                .map_or_else(|| "—".to_owned(), duration);
            let _ = writeln!(
                out,
                "| `{}` | {jobs} | {} | {} | {per_job} |",
                m.id,
                duration(m.median_ns),
                duration(m.std_dev_ns),
            );
        }
        out
    }
}
