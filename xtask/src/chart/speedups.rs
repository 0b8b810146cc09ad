//! The left panel: speed-up against 1 worker for each word-count series.

use crate::wordcount::WORKERS;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::*;
use super::{Area, DrawResult};

/// The left panel: speed-up against 1 worker for each series, the reference's dashed, a dotted
/// linear speed-up, and the workers beyond this machine's CPUs shaded; the legend below.
pub(super) fn speedups(area: &Area<'_>, data: &Data) -> DrawResult {
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
