//! The chart beside the report (`target/bench-report.svg`): the word count's speed-up against
//! workers for native, WASI and the reference, and the per-job cost of each tool on a log scale.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::compare::Timing;
use crate::criterion::Measurement;
use crate::wasi_peers::Peer;
use crate::wordcount::{self, WORKERS};

/// The chart's size in pixels.
const SIZE: (u32, u32) = (1280, 520);

/// The line colours of the speed-up panel (matplotlib's first five).
const COLORS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];

/// One bar of the per-job cost panel: a label and µs per job.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bar {
    pub(crate) label: String,
    pub(crate) us: f64,
    /// Whether it is one of ours (drawn in a different colour).
    pub(crate) ours: bool,
}

/// The bars: every tool timed on the targeted workload (2,000 × `true`), the WASI peers, and
/// our WASI pool's `hello` (`ours_wasi_us`), cheapest last so that it is drawn at the bottom.
pub(crate) fn bars(external: &[Timing], peers: &[Peer], ours_wasi_us: Option<f64>) -> Vec<Bar> {
    let mut bars: Vec<Bar> = external
        .iter()
        .filter(|t| t.target.is_some() || t.tool.starts_with("process-pool"))
        .filter(|t| t.workload.contains("`true`"))
        .filter_map(|t| {
            Some(Bar {
                label: format!("{}, true", t.tool.replace('`', "")),
                us: t.us_per_job()?,
                ours: t.tool.starts_with("process-pool"),
            })
        })
        .collect();
    bars.extend(peers.iter().filter_map(|p| {
        Some(Bar {
            label: format!("{}, WASI hello", p.name),
            us: *p.us_per_job.as_ref().ok()?,
            ours: false,
        })
    }));
    if let Some(us) = ours_wasi_us {
        bars.push(Bar {
            label: "process-pool WASI, hello".to_owned(),
            us,
            ours: true,
        });
    }
    bars.sort_by(|a, b| b.us.total_cmp(&a.us));
    bars
}

/// The chart as an SVG document.
pub(crate) fn svg(measurements: &[Measurement], bars: &[Bar], cpus: Option<usize>) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        // Drawing into a String fails only on a plotting bug; the report goes on without it.
        let drawn = root.fill(&WHITE).map_err(|e| e.to_string()).and_then(|()| {
            let (left, right) = root.split_horizontally(SIZE.0 / 2);
            speedups(&left, measurements, cpus).map_err(|e| e.to_string())?;
            costs(&right, bars).map_err(|e| e.to_string())?;
            root.present().map_err(|e| e.to_string())
        });
        if let Err(error) = drawn {
            eprintln!("warning: the chart is incomplete: {error}");
        }
    }
    out
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// The left panel: speed-up against 1 worker, per backend and scale, and the reference's.
fn speedups(area: &Area<'_>, measurements: &[Measurement], cpus: Option<usize>) -> DrawResult {
    let mut series = Vec::new();
    for (scale, _) in wordcount::SCALES {
        for (backend, name) in wordcount::BACKENDS {
            let cells = wordcount::cells(measurements, backend, scale);
            let Some(one) = cells[0].ms else { continue };
            let points: Vec<(f64, f64)> = cells
                .iter()
                .filter_map(|c| Some((c.workers as f64, one / c.ms?)))
                .collect();
            series.push((format!("{name}, {scale} corpus"), points));
        }
    }
    let reference = wordcount::REFERENCE_MS;
    series.push((
        "reference (mizchi/process_pool)".to_owned(),
        WORKERS
            .iter()
            .zip(reference)
            .map(|(&w, ms)| (w as f64, reference[0] / ms))
            .collect(),
    ));
    let max_workers = *WORKERS.last().unwrap_or(&8) as f64;
    // Room for the largest speed-up (the reference's 3.95 at least), and a little more.
    let top = series
        .iter()
        .flat_map(|(_, points)| points.iter().map(|&(_, y)| y))
        .fold(4.0_f64, f64::max)
        .ceil()
        + 1.0;
    let mut chart = ChartBuilder::on(area)
        .caption("Word count: speed-up against 1 worker", ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.8..max_workers + 0.2, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("workers")
        .y_desc("speed-up")
        .x_labels(8)
        .draw()?;
    if let Some(cpus) = cpus.filter(|&n| (n as f64) < max_workers) {
        let shade = RGBColor(235, 235, 235).filled();
        chart.draw_series([Rectangle::new(
            [(cpus as f64 + 0.1, 0.0), (max_workers + 0.2, top)],
            shade,
        )])?;
        chart.draw_series([Text::new(
            format!("oversubscribed (> {cpus} CPUs)"),
            (cpus as f64 + 0.3, top - 0.2),
            ("sans-serif", 14),
        )])?;
    }
    for (i, (label, points)) in series.into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 4, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
}

/// The right panel: µs per job for each bar, on a log scale.
fn costs(area: &Area<'_>, bars: &[Bar]) -> DrawResult {
    let caption = "Cost per job (µs, log scale; 2 workers)";
    if bars.is_empty() {
        area.draw(&Text::new(
            format!("{caption}: nothing measured"),
            (20, 40),
            ("sans-serif", 20),
        ))?;
        return Ok(());
    }
    let low = bars.iter().map(|b| b.us).fold(f64::INFINITY, f64::min) / 2.0;
    let high = bars.iter().map(|b| b.us).fold(0.0, f64::max) * 3.0;
    let n = bars.len();
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(10)
        .build_cartesian_2d((low..high).log_scale(), 0.0..n as f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_desc("µs per job")
        .draw()?;
    let ours = RGBColor(31, 119, 180);
    let theirs = RGBColor(170, 170, 170);
    for (i, bar) in bars.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        let color = if bar.ours { ours } else { theirs };
        chart.draw_series([Rectangle::new(
            [(low, y + 0.15), (bar.us, y + 0.85)],
            color.filled(),
        )])?;
        chart.draw_series([Text::new(
            format!("{}: {}", bar.label, micros(bar.us)),
            (low * 1.1, y + 0.62),
            ("sans-serif", 13),
        )])?;
    }
    Ok(())
}

/// µs with a precision that suits their size.
fn micros(us: f64) -> String {
    if us >= 100.0 {
        format!("{us:.0} µs")
    } else {
        format!("{us:.1} µs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(tool: &'static str, workload: &str, ms: Result<(f64, f64), String>) -> Timing {
        Timing {
            workload: workload.to_owned(),
            tool,
            jobs: 100,
            target: (!tool.starts_with("process-pool")).then_some(("> 1×", 1.0)),
            ms,
        }
    }

    #[test]
    fn bars_hold_what_was_timed_dearest_first() {
        let external = [
            timing("process-pool (x)", "100 × `true`", Ok((40.0, 50.0))),
            timing("xargs -P 2", "100 × `true`", Ok((50.0, 60.0))),
            timing("rust-parallel -j 2", "100 × `true`", Err("skipped".into())),
            timing("xargs -P 2", "word count", Ok((1.0, 1.0))),
        ];
        let peers = [Peer {
            name: "Python wasmtime",
            how: String::new(),
            us_per_job: Ok(90.0),
        }];
        let bars = bars(&external, &peers, Some(5.0));
        let labels: Vec<&str> = bars.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "xargs -P 2, true",
                "process-pool (x), true",
                "Python wasmtime, WASI hello",
                "process-pool WASI, hello",
            ]
        );
        assert_eq!(bars[0].us, 600.0);
        assert!(bars[1].ours && !bars[2].ours && bars[3].ours);
    }

    #[test]
    fn draws_an_svg_with_both_panels() {
        let bars = [
            Bar {
                label: "xargs -P 2 (`true`)".into(),
                us: 600.0,
                ours: false,
            },
            Bar {
                label: "process-pool WASI, hello".into(),
                us: 5.0,
                ours: true,
            },
        ];
        let svg = svg(&[], &bars, Some(2));
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        assert!(svg.contains("speed-up against 1 worker"));
        assert!(
            svg.contains("oversubscribed (&gt; 2 CPUs)")
                || svg.contains("oversubscribed (> 2 CPUs)")
        );
        assert!(svg.contains("reference (mizchi/process_pool)"));
        assert!(svg.contains("process-pool WASI, hello: 5.0 µs"));
        let empty = super::svg(&[], &[], None);
        assert!(empty.contains("nothing measured"));
    }
}
