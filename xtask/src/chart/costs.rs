//! The right panel: the cost per job of each tool, grouped by kind of job, on a log scale.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::*;
use super::{Area, DrawResult};

/// The right panel: µs per job for each bar on a log scale, grouped by kind of job, ours in
/// colour; the legend below.
pub(super) fn costs(area: &Area<'_>, data: &Data) -> DrawResult {
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
pub(super) fn decades(bars: &[&Bar]) -> (f64, f64) {
    let least = bars.iter().map(|b| b.us).fold(f64::INFINITY, f64::min);
    let most = bars.iter().map(|b| b.us).fold(0.0, f64::max);
    let low = 10f64.powf((least / 2.0).log10().floor());
    (low, most * 8.0)
}

/// An axis label: 1 µs, 10 µs, 100 µs, 1 ms, 10 ms, 1 s.
pub(super) fn micros(us: f64) -> String {
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
pub(super) fn micros_exact(us: f64) -> String {
    if us >= 1000.0 {
        format!("{} µs", crate::report::number(us))
    } else if us >= 100.0 {
        format!("{us:.0} µs")
    } else {
        format!("{us:.1} µs")
    }
}
