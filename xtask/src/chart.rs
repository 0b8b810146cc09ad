//! The chart beside the report (`target/bench-report.svg`), drawn from the report's JSON (so
//! that `cargo xtask chart` can draw it again from a saved report): on the left, the word
//! count's speed-up against workers, ours beside the reference pool's published figures; on the
//! right, the cost per job of each tool on the same jobs, ours in colour.

use std::ops::Range;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;

use crate::wordcount::{self, WORKERS};

/// The chart's size in pixels.
const SIZE: (u32, u32) = (1280, 620);
/// The height of the title band, and of the legend under each panel.
const TITLE_HEIGHT: u32 = 44;
const LEGEND_HEIGHT: u32 = 104;

/// Ours, in the cost panel and the legends.
const OURS: RGBColor = RGBColor(31, 119, 180);
/// The other tools.
const THEIRS: RGBColor = RGBColor(175, 175, 175);
/// The reference pool's published figures.
const REFERENCE: RGBColor = RGBColor(110, 110, 110);
/// Text that explains rather than labels.
const NOTE: RGBColor = RGBColor(90, 90, 90);
/// The oversubscribed region.
const SHADE: RGBColor = RGBColor(238, 238, 238);
/// The speed-up lines: native and WASI at the reference scale, then at the large scale.
const LINES: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// One line of the speed-up panel: speed-up against 1 worker at each worker count measured.
#[derive(Debug, Clone, PartialEq)]
struct Series {
    label: String,
    points: Vec<(f64, f64)>,
}

/// One bar of the cost panel: a tool and its µs per job.
#[derive(Debug, Clone, PartialEq)]
struct Bar {
    label: String,
    us: f64,
    /// Whether it is ours (drawn in colour).
    ours: bool,
}

/// The bars of one kind of job, under a heading.
#[derive(Debug, Clone, PartialEq)]
struct Group {
    heading: String,
    bars: Vec<Bar>,
}

/// What the chart shows, read from the report's JSON.
#[derive(Debug, Clone, PartialEq)]
struct Data {
    title: String,
    cpus: Option<usize>,
    /// Ours: native and WASI at each scale.
    series: Vec<Series>,
    /// The reference pool's published speed-ups.
    reference: Series,
    groups: Vec<Group>,
    /// Tools that were not measured, and why.
    skipped: Vec<String>,
}

/// The chart of the report `report` (as written to `bench-report.json`), as an SVG document.
pub(crate) fn svg(report: &Value) -> String {
    let data = data(report);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        // Drawing into a String fails only on a plotting bug; the report goes on without it.
        let drawn = draw(&root, &data).and_then(|()| root.present());
        if let Err(error) = drawn {
            eprintln!("warning: the chart is incomplete: {error}");
        }
    }
    out
}

fn draw(root: &Area<'_>, data: &Data) -> DrawResult {
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(TITLE_HEIGHT);
    title.draw(&Text::new(
        data.title.clone(),
        (SIZE.0 as i32 / 2, 14),
        ("sans-serif", 18)
            .into_text_style(&title)
            .pos(Pos::new(HPos::Center, VPos::Top)),
    ))?;
    let (left, right) = body.split_horizontally(SIZE.0 / 2);
    speedups(&left, data)?;
    costs(&right, data)
}

/// A numeric axis over `range`, on a log10 scale if `log`, whose ticks are exactly `ticks`.
/// (plotters' own `with_key_points` cannot take a label formatter on an `f64` axis.)
#[derive(Debug, Clone)]
struct Axis {
    range: Range<f64>,
    ticks: Vec<f64>,
    log: bool,
}

impl Ranged for Axis {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let scale = |x: f64| if self.log { x.log10() } else { x };
        let (low, high) = (scale(self.range.start), scale(self.range.end));
        let share = (scale(*value) - low) / (high - low);
        limit.0 + (share * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }
}

/// The title, the speed-up series and the bars from the report's JSON; anything missing is
/// left out.
fn data(report: &Value) -> Data {
    let cpus = report["cpus"].as_u64().map(|n| n as usize);
    let machine = match (cpus, report["cpu_model"].as_str()) {
        (Some(n), Some(model)) => format!("{n} CPUs ({model})"),
        (Some(n), None) => format!("{n} CPUs"),
        (None, _) => "this machine".to_owned(),
    };
    let title = format!(
        "process-pool: `{}` on {}, {}{}",
        report["xtask"].as_str().unwrap_or("cargo xtask bench"),
        report["date"].as_str().unwrap_or("an unknown date"),
        machine,
        if report["quick"] == true {
            "; quick mode, indicative"
        } else {
            ""
        }
    );

    let mut series = Vec::new();
    for (scale, description) in wordcount::SCALES {
        for (backend, name) in wordcount::BACKENDS {
            let cells: Vec<(f64, f64)> = report["wordcount"][scale][backend]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| Some((c["workers"].as_f64()?, c["median_ms"].as_f64()?)))
                .collect();
            let Some(&(1.0, one)) = cells.first() else {
                continue;
            };
            series.push(Series {
                label: format!("{name}, {}", short(description)),
                points: cells.iter().map(|&(w, ms)| (w, one / ms)).collect(),
            });
        }
    }
    let reference = Series {
        label: format!(
            "mizchi/process_pool (MoonBit), {}: its published figures, measured on another machine",
            short(wordcount::SCALES[0].1)
        ),
        points: WORKERS
            .iter()
            .zip(wordcount::REFERENCE_MS)
            .map(|(&w, ms)| (w as f64, wordcount::REFERENCE_MS[0] / ms))
            .collect(),
    };

    let mut skipped = Vec::new();
    let mut native: Vec<Bar> = Vec::new();
    let mut native_heading = None;
    for timing in report["external_tools"].as_array().into_iter().flatten() {
        let workload = timing["workload"].as_str().unwrap_or_default();
        if !workload.contains("`true`") {
            continue;
        }
        let tool = timing["tool"].as_str().unwrap_or_default();
        let ours = tool.starts_with("process-pool");
        let label = tool_label(tool);
        let (Some(ms), Some(jobs)) = (timing["median_ms"].as_f64(), timing["jobs"].as_f64()) else {
            skipped.push(label);
            continue;
        };
        native_heading.get_or_insert_with(|| {
            format!(
                "OS processes: {} jobs of `true`",
                crate::report::count(jobs as u64)
            )
        });
        native.push(Bar {
            label,
            us: ms * 1e3 / jobs,
            ours,
        });
    }
    let mut wasi: Vec<Bar> = Vec::new();
    if let Some(benchmarks) = report["benchmarks"].as_array() {
        let ours = benchmarks
            .iter()
            .find(|b| b["id"] == "wasi_instantiate/pool_hello_p1/2")
            .and_then(|b| b["median_ns_per_job"].as_f64());
        if let Some(ns) = ours {
            wasi.push(Bar {
                label: "process-pool (WasiSpawner)".to_owned(),
                us: ns / 1e3,
                ours: true,
            });
        }
    }
    for peer in report["wasi_peers"].as_array().into_iter().flatten() {
        let label = match peer["peer"].as_str().unwrap_or_default() {
            "wasmtime CLI" => "wasmtime CLI under xargs -P 2".to_owned(),
            "Python wasmtime" => "PyPI wasmtime, one Python process".to_owned(),
            other => other.to_owned(),
        };
        match peer["us_per_job"].as_f64() {
            Some(us) => wasi.push(Bar {
                label,
                us,
                ours: false,
            }),
            None => skipped.push(label),
        }
    }
    let (slurm_heading, slurm) = slurm_bars(report, &mut skipped);
    let mut groups = Vec::new();
    for (heading, mut bars) in [
        (native_heading, native),
        (
            Some("WASI: the `hello` guest, a fresh instance per job".to_owned()),
            wasi,
        ),
        (slurm_heading, slurm),
    ] {
        // Ours first (every ratio is against it), then the others, cheapest first.
        bars.sort_by(|a, b| b.ours.cmp(&a.ours).then(a.us.total_cmp(&b.us)));
        if let (Some(heading), false) = (heading, bars.is_empty()) {
            groups.push(Group { heading, bars });
        }
    }
    Data {
        title,
        cpus,
        series,
        reference,
        groups,
        skipped,
    }
}

/// The bars of the ways to run `true` on Slurm, under their heading; the ways not measured go
/// to `skipped`.
fn slurm_bars(report: &Value, skipped: &mut Vec<String>) -> (Option<String>, Vec<Bar>) {
    let mut heading = None;
    let mut bars = Vec::new();
    for timing in report["slurm"]["timings"].as_array().into_iter().flatten() {
        if !timing["workload"]
            .as_str()
            .is_some_and(|w| w.contains("`true`"))
        {
            continue;
        }
        let way = timing["way"].as_str().unwrap_or_default();
        let in_flight = timing["in_flight"].as_u64().unwrap_or(0);
        let label = match way {
            "agents" => "process-pool agent mode".to_owned(),
            "srun" => "one srun per job".to_owned(),
            "sbatch_array" => "sbatch --array".to_owned(),
            "hyperqueue" => "HyperQueue in an allocation".to_owned(),
            other => match other.strip_prefix("local/") {
                Some(n) => format!("local pool, {n} workers (no Slurm)"),
                None => other.to_owned(),
            },
        };
        let Some(ms) = timing["ms_per_job"].as_f64() else {
            skipped.push(format!("{label} on Slurm"));
            continue;
        };
        if way == "agents" {
            heading = Some(format!(
                "On Slurm, nodes sharing these CPUs: `true`, {in_flight} in flight"
            ));
        }
        bars.push(Bar {
            label,
            us: ms * 1e3,
            ours: way == "agents" || way.starts_with("local/"),
        });
    }
    (heading, bars)
}

/// "16 documents × 5,000 words" as "16 docs × 5,000 words".
fn short(description: &str) -> String {
    description.replace("documents", "docs")
}

/// A tool's name as the report gives it, for a bar.
fn tool_label(tool: &str) -> String {
    if tool.starts_with("process-pool") {
        "process-pool (pool_run)".to_owned()
    } else {
        tool.replace('`', "")
    }
}

/// The left panel: speed-up against 1 worker for each series, the reference's dashed, a dotted
/// linear speed-up, and the workers beyond this machine's CPUs shaded; the legend below.
fn speedups(area: &Area<'_>, data: &Data) -> DrawResult {
    let (plot, legend) = area.split_vertically(area.dim_in_pixel().1 - LEGEND_HEIGHT);
    let max_workers = *WORKERS.last().unwrap_or(&8) as f64;
    // Room for the largest speed-up (the reference's 3.95 at least), and a little more.
    let top = data
        .series
        .iter()
        .chain([&data.reference])
        .flat_map(|s| s.points.iter().map(|&(_, y)| y))
        .fold(4.0_f64, f64::max)
        .ceil()
        + 0.5;
    let x_range = Axis {
        range: 0.6..max_workers + 0.4,
        ticks: WORKERS.map(|w| w as f64).to_vec(),
        log: false,
    };
    let y_range = Axis {
        range: 0.0..top,
        ticks: (0..=top as u32).map(f64::from).collect(),
        log: false,
    };
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            "Word count, one job per document: speed-up over 1 worker",
            ("sans-serif", 17),
        )
        .margin_left(12)
        .margin_right(20)
        .margin_top(6)
        .x_label_area_size(42)
        .y_label_area_size(48)
        .build_cartesian_2d(x_range, y_range)?;
    if let Some(cpus) = data.cpus.filter(|&n| (n as f64) < max_workers) {
        let edge = cpus as f64 + 0.5;
        chart.draw_series([Rectangle::new(
            [(edge, 0.0), (max_workers + 0.4, top)],
            SHADE.filled(),
        )])?;
        chart.draw_series([Text::new(
            format!("more workers than this machine's {cpus} CPUs"),
            (edge + 0.15, top - 0.15),
            ("sans-serif", 13).into_font().color(&NOTE),
        )])?;
    }
    chart
        .configure_mesh()
        .x_desc("workers")
        .y_desc("speed-up (higher is better)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}×"))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .light_line_style(WHITE)
        .bold_line_style(BLACK.mix(0.12))
        .draw()?;
    // Linear speed-up, for scale.
    chart.draw_series(DashedLineSeries::new(
        [(1.0, 1.0), (top.min(max_workers), top.min(max_workers))],
        2,
        5,
        BLACK.mix(0.35).stroke_width(1),
    ))?;
    let reference = REFERENCE.stroke_width(2);
    chart.draw_series(DashedLineSeries::new(
        data.reference.points.clone(),
        8,
        5,
        reference,
    ))?;
    chart.draw_series(
        data.reference
            .points
            .iter()
            .map(|&p| Circle::new(p, 4, WHITE.filled())),
    )?;
    chart.draw_series(
        data.reference
            .points
            .iter()
            .map(|&p| Circle::new(p, 4, reference)),
    )?;
    for (series, color) in data.series.iter().zip(LINES) {
        chart.draw_series(LineSeries::new(
            series.points.clone(),
            color.stroke_width(2),
        ))?;
        chart.draw_series(
            series
                .points
                .iter()
                .map(|&p| Circle::new(p, 4, color.filled())),
        )?;
    }

    // The legend, under the plot.
    let font = ("sans-serif", 13).into_font();
    let mut y = 6;
    let mut entry = |sample: &dyn Fn(&Area<'_>, i32) -> DrawResult, text: &str| {
        sample(&legend, y)?;
        legend.draw(&Text::new(
            text.to_owned(),
            (76, y),
            TextStyle::from(font.clone()).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        y += 18;
        Ok(())
    };
    let ours: Vec<String> = data.series.iter().map(|s| s.label.clone()).collect();
    for (label, color) in ours.iter().zip(LINES) {
        entry(
            &|area: &Area<'_>, y| {
                area.draw(&PathElement::new([(40, y), (66, y)], color.stroke_width(2)))?;
                area.draw(&Circle::new((53, y), 4, color.filled()))
            },
            &format!("process-pool, {label}: this machine"),
        )?;
    }
    entry(
        &|area: &Area<'_>, y| {
            area.draw(&PathElement::new([(40, y), (48, y)], reference))?;
            area.draw(&PathElement::new([(58, y), (66, y)], reference))?;
            area.draw(&Circle::new((53, y), 4, WHITE.filled()))?;
            area.draw(&Circle::new((53, y), 4, reference))
        },
        &data.reference.label,
    )?;
    entry(
        &|area: &Area<'_>, y| {
            let style = BLACK.mix(0.35).stroke_width(1);
            for x in [40, 47, 54, 61] {
                area.draw(&PathElement::new([(x, y), (x + 3, y)], style))?;
            }
            Ok(())
        },
        "linear speed-up",
    )
}

/// The right panel: µs per job for each bar on a log scale, grouped by kind of job, ours in
/// colour; the legend below.
fn costs(area: &Area<'_>, data: &Data) -> DrawResult {
    let (plot, legend) = area.split_vertically(area.dim_in_pixel().1 - LEGEND_HEIGHT);
    let caption =
        "Cost per job at 2 workers (on Slurm: as many as the agents), the same jobs in one run";
    let bars: Vec<&Bar> = data.groups.iter().flat_map(|g| &g.bars).collect();
    if bars.is_empty() {
        plot.draw(&Text::new(
            format!("{caption}: nothing measured"),
            (20, 20),
            ("sans-serif", 17),
        ))?;
        return Ok(());
    }
    // Rows from the top: a heading, then its bars, per group.
    let mut rows: Vec<Option<&Bar>> = Vec::new();
    let mut headings = Vec::new();
    for group in &data.groups {
        headings.push((rows.len(), group.heading.as_str()));
        rows.push(None);
        rows.extend(group.bars.iter().map(Some));
    }
    let n = rows.len();
    let y_of = |row: usize| (n - 1 - row) as f64;
    let (low, high) = decades(&bars);
    // Decades, but none so close to the end that its label would be cut.
    let key_points: Vec<f64> = (0..)
        .map(|i| low * 10f64.powi(i))
        .take_while(|&x| x <= high / 1.5)
        .collect();
    // A tick and a name for each bar; none for the headings.
    let centers: Vec<f64> = (0..n)
        .filter(|&row| rows[row].is_some())
        .map(|row| y_of(row) + 0.5)
        .collect();
    let label_of = |y: &f64| {
        let row = n - 1 - (y.floor() as usize).min(n - 1);
        rows[row].map_or_else(String::new, |bar| bar.label.clone())
    };
    let mut chart = ChartBuilder::on(&plot)
        .caption(caption, ("sans-serif", 17))
        .margin_left(8)
        .margin_right(24)
        .margin_top(6)
        .x_label_area_size(42)
        .y_label_area_size(212)
        .build_cartesian_2d(
            Axis {
                range: low..high,
                ticks: key_points,
                log: true,
            },
            Axis {
                range: 0.0..n as f64,
                ticks: centers,
                log: false,
            },
        )?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("µs per job (log scale; shorter is better)")
        .x_label_formatter(&|x| micros(*x))
        .y_label_formatter(&label_of)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .light_line_style(WHITE)
        .bold_line_style(BLACK.mix(0.12))
        .draw()?;
    let bold = TextStyle::from(("sans-serif", 14).into_font().style(FontStyle::Bold))
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (row, heading) in headings {
        chart.draw_series([Text::new(
            heading.to_owned(),
            (low * 1.08, y_of(row) + 0.5),
            bold.clone(),
        )])?;
    }
    let value_style =
        TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (row, bar) in rows.iter().enumerate() {
        let Some(bar) = bar else { continue };
        let y = y_of(row);
        let color = if bar.ours { OURS } else { THEIRS };
        chart.draw_series([Rectangle::new(
            [(low, y + 0.18), (bar.us, y + 0.82)],
            color.filled(),
        )])?;
        chart.draw_series([Text::new(
            micros_exact(bar.us),
            (bar.us * 1.06, y + 0.5),
            value_style.clone(),
        )])?;
    }

    // The legend, under the plot.
    let font =
        TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let mut y = 6;
    for (color, text) in [
        (OURS, "process-pool (this project)"),
        (
            THEIRS,
            "another tool, on the same jobs and the same machine",
        ),
    ] {
        legend.draw(&Rectangle::new(
            [(226, y - 6), (246, y + 6)],
            color.filled(),
        ))?;
        legend.draw(&Text::new(text.to_owned(), (254, y), font.clone()))?;
        y += 18;
    }
    if !data.skipped.is_empty() {
        legend.draw(&Text::new(
            format!("not measured here: {}", data.skipped.join(", ")),
            (226, y),
            font.clone().color(&NOTE),
        ))?;
    }
    Ok(())
}

/// The axis range of the bars: from a whole decade below the shortest, to room after the
/// longest for its value.
fn decades(bars: &[&Bar]) -> (f64, f64) {
    let least = bars.iter().map(|b| b.us).fold(f64::INFINITY, f64::min);
    let most = bars.iter().map(|b| b.us).fold(0.0, f64::max);
    let low = 10f64.powf((least / 2.0).log10().floor());
    (low, most * 8.0)
}

/// An axis label: 1 µs, 10 µs, 100 µs, 1 ms, 10 ms, 1 s.
fn micros(us: f64) -> String {
    if us >= 1e6 {
        format!("{:.0} s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.0} ms", us / 1e3)
    } else if us >= 1.0 {
        format!("{us:.0} µs")
    } else {
        format!("{us} µs")
    }
}

/// A bar's value, with a precision that suits its size.
fn micros_exact(us: f64) -> String {
    if us >= 1000.0 {
        format!("{} µs", crate::report::number(us))
    } else if us >= 100.0 {
        format!("{us:.0} µs")
    } else {
        format!("{us:.1} µs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A report's JSON with what the chart reads.
    fn report() -> Value {
        json!({
            "date": "2026-11-24", "xtask": "cargo xtask bench", "quick": false,
            "cpus": 2, "cpu_model": "AMD EPYC",
            "wordcount": {
                "reference": {
                    "native": [
                        {"workers": 1, "median_ms": 30.0}, {"workers": 2, "median_ms": 15.0},
                        {"workers": 4, "median_ms": 15.0}, {"workers": 8, "median_ms": 20.0},
                    ],
                    "wasi": [
                        {"workers": 1, "median_ms": null}, {"workers": 2, "median_ms": 10.0},
                    ],
                },
                "large": {"native": [], "wasi": []},
            },
            "external_tools": [
                {"workload": "2000 × `true`", "tool": "process-pool (`pool_run` example)",
                 "jobs": 2000, "median_ms": 1000.0},
                {"workload": "2000 × `true`", "tool": "xargs -P 2", "jobs": 2000,
                 "median_ms": 1200.0},
                {"workload": "2000 × `true`", "tool": "rust-parallel -j 2", "jobs": 2000,
                 "median_ms": null, "skipped": "`rust-parallel` is not installed: skipped"},
                {"workload": "word count", "tool": "xargs -P 2", "jobs": 16, "median_ms": 50.0},
            ],
            "wasi_peers": [
                {"peer": "wasmtime CLI", "us_per_job": null, "skipped": "no wasmtime"},
                {"peer": "Python wasmtime", "us_per_job": 100.0},
            ],
            "benchmarks": [
                {"id": "wasi_instantiate/pool_hello_p1/2", "median_ns_per_job": 5000.0},
            ],
        })
    }

    #[test]
    fn reads_what_it_shows_from_the_report() {
        let data = data(&report());
        assert_eq!(
            data.title,
            "process-pool: `cargo xtask bench` on 2026-11-24, 2 CPUs (AMD EPYC)"
        );
        // WASI has no 1-worker time: no speed-ups.
        assert_eq!(data.series.len(), 1);
        assert_eq!(data.series[0].label, "native, 16 docs × 5,000 words");
        assert_eq!(
            data.series[0].points,
            [(1.0, 1.0), (2.0, 2.0), (4.0, 2.0), (8.0, 1.5)]
        );
        assert_eq!(data.reference.points[0], (1.0, 1.0));
        assert!(data.reference.label.contains("measured on another machine"));
        let headings: Vec<&str> = data.groups.iter().map(|g| g.heading.as_str()).collect();
        assert_eq!(
            headings,
            [
                "OS processes: 2,000 jobs of `true`",
                "WASI: the `hello` guest, a fresh instance per job"
            ]
        );
        let bars: Vec<(&str, f64, bool)> = data
            .groups
            .iter()
            .flat_map(|g| &g.bars)
            .map(|b| (b.label.as_str(), b.us, b.ours))
            .collect();
        assert_eq!(
            bars,
            [
                ("process-pool (pool_run)", 500.0, true),
                ("xargs -P 2", 600.0, false),
                ("process-pool (WasiSpawner)", 5.0, true),
                ("PyPI wasmtime, one Python process", 100.0, false),
            ]
        );
        assert_eq!(
            data.skipped,
            ["rust-parallel -j 2", "wasmtime CLI under xargs -P 2"]
        );
    }

    #[test]
    fn draws_both_panels_with_legends() {
        let svg = svg(&report());
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        for text in [
            "speed-up over 1 worker",
            "more workers than this machine&apos;s 2 CPUs",
            "its published figures, measured on another machine",
            "process-pool, native, 16 docs × 5,000 words: this machine",
            "OS processes: 2,000 jobs of `true`",
            "process-pool (this project)",
            "5.0 µs",
            "not measured here: rust-parallel -j 2",
        ] {
            assert!(
                svg.contains(text) || svg.contains(&text.replace("&apos;", "'")),
                "no {text} in the chart"
            );
        }
        // Worker ticks are whole numbers, cost ticks are durations.
        assert!(svg.contains(">\n8\n</text>"), "{svg}");
        assert!(!svg.contains("8.0\n</text>"));
        assert!(svg.contains("100 µs"));
        let empty = super::svg(&json!({}));
        assert!(empty.contains("nothing measured"));
    }

    #[test]
    fn axis_labels_read_as_durations() {
        assert_eq!(micros(1.0), "1 µs");
        assert_eq!(micros(100.0), "100 µs");
        assert_eq!(micros(1000.0), "1 ms");
        assert_eq!(micros(1e6), "1 s");
        assert_eq!(micros_exact(2412.6), "2,413 µs");
        assert_eq!(micros_exact(5.71), "5.7 µs");
        assert_eq!(micros_exact(520.04), "520 µs");
        let bars = [
            Bar {
                label: String::new(),
                us: 5.7,
                ours: true,
            },
            Bar {
                label: String::new(),
                us: 2979.0,
                ours: false,
            },
        ];
        assert_eq!(decades(&bars.iter().collect::<Vec<_>>()), (1.0, 23_832.0));
    }
}
