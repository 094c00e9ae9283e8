//! Line charts: one curve per report, step on the x axis.

use std::path::Path;

use plotters::prelude::*;

use super::plot_error;
use crate::{ProbeError, ProbeReport, Result};

/// The forgetting curves of `reports` (one line per report, named by its label): the share of
/// memory in the tracked tokens at each step.
///
/// # Errors
/// [`ProbeError::NothingToPlot`] when no report has a forgetting curve; [`ProbeError::Plot`]
/// when the file cannot be written.
pub fn forgetting_curves(path: &Path, reports: &[&ProbeReport]) -> Result<()> {
    let series: Vec<(String, Vec<Option<f64>>)> = reports
        .iter()
        .filter_map(|r| Some((r.label.clone(), r.forgetting.as_ref()?.by_step.clone())))
        .collect();
    let tracked: Vec<_> = reports
        .iter()
        .filter_map(|r| r.forgetting.as_ref().map(|f| &f.tracked))
        .collect();
    let title = match tracked.first() {
        Some(first) if first.len() == 1 && tracked.iter().all(|t| t == first) => format!(
            "Forgetting curve: share of memory from tokens {}..{}",
            first[0].start, first[0].end
        ),
        _ => "Forgetting curve: share of memory from the tracked tokens".to_string(),
    };
    line_chart(path, &title, "share of memory (sinks excluded)", &series)
}

/// The retention per step of `reports` (one line per report): the share of the new memory that
/// was already in the old memory, averaged over layers and KV heads.
///
/// # Errors
/// As [`forgetting_curves`].
pub fn retention_curves(path: &Path, reports: &[&ProbeReport]) -> Result<()> {
    let series: Vec<(String, Vec<Option<f64>>)> = reports
        .iter()
        .filter_map(|r| Some((r.label.clone(), r.retention.as_ref()?.by_step.clone())))
        .collect();
    line_chart(
        path,
        "Memory retention: share of the new memory already in the old one",
        "retention (mean over layers and heads)",
        &series,
    )
}

fn line_chart(
    path: &Path,
    title: &str,
    y_desc: &str,
    series: &[(String, Vec<Option<f64>>)],
) -> Result<()> {
    let steps = series.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    if steps == 0 || series.iter().all(|(_, v)| v.iter().all(Option::is_none)) {
        return Err(ProbeError::NothingToPlot("no curve has a value"));
    }
    let err = plot_error(path);
    let root = SVGBackend::new(path, (820, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.2f64..(steps as f64 - 0.8).max(1.0), 0f64..1.02f64)
        .map_err(&err)?;
    chart
        .configure_mesh()
        .x_desc("step (chunk)")
        .y_desc(y_desc)
        .x_labels(steps.min(16))
        .x_label_formatter(&|x| format!("{:.0}", x))
        .y_labels(11)
        .y_label_formatter(&|y| format!("{y:.1}"))
        .draw()
        .map_err(&err)?;
    for (i, (label, values)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .filter_map(|(step, v)| v.map(|v| (step as f64, v)))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(&err)?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )
            .map_err(&err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(&err)?;
    root.present().map_err(&err)?;
    Ok(())
}
