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

mod costs;
mod data;
mod speedups;

use self::costs::*;
use self::data::*;
use self::speedups::*;

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
                {"workload": "2000 × `true`", "tool": "ppool -j 2 (our pool)",
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
                ("ppool (our pool)", 500.0, true),
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
