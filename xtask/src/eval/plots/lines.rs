//! Lines of a value against the memory size: one panel per pruner, a line per method.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

use super::{METHOD_COLORS, bounds, full_attention, pruners, text_width};
use crate::eval::summary::{Cell, CellKey};

/// Pixels of one legend row, and of a panel's plotting area (380 px less title, caption, axis
/// labels and margins), for the headroom the legend gets.
const LEGEND_ROW_PX: f64 = 20.0;
const PLOT_PX: f64 = 260.0;

/// One panel per pruner: `value` against M, a line per method, the full-attention line dashed.
pub(super) fn lines_vs_memory(
    path: &Path,
    block: &BTreeMap<&CellKey, &Cell>,
    title: &str,
    y_desc: &str,
    value: fn(&Cell) -> Option<f64>,
    range: Option<(f64, f64)>,
) -> anyhow::Result<()> {
    let full = full_attention(block, value);
    let pruners = pruners(block);
    if pruners.is_empty() {
        return Ok(());
    }
    let memories: Vec<usize> = {
        let mut m: Vec<usize> = block
            .keys()
            .filter(|k| !k.is_full())
            .map(|k| k.memory)
            .collect();
        m.sort_unstable();
        m.dedup();
        m
    };
    let values: Vec<f64> = block
        .values()
        .filter_map(|c| value(c))
        .chain(full)
        .collect();
    let (lo, hi) = range.unwrap_or_else(|| bounds(&values));
    // The legend sits in headroom above every line, so it never covers data: its rows take
    // about LEGEND_ROW_PX each of the plot's PLOT_PX.
    let rows = usize::from(full.is_some()) + METHOD_COLORS.len();
    let legend = (rows as f64 * LEGEND_ROW_PX + 12.0) / PLOT_PX;
    let data_hi = hi;
    let hi = hi + (hi - lo) * legend / (1.0 - legend);
    // The headroom holds the legend, not values: no tick labels there (an accuracy axis that
    // reads 1.8 would be nonsense).
    let step = (data_hi - lo).abs().max(f64::MIN_POSITIVE);
    let y_label = move |y: &f64| match *y > data_hi + step * 1e-6 {
        true => String::new(),
        false => {
            let digits = (1.0 - step.log10().floor()).clamp(0.0, 6.0) as usize;
            format!("{y:.digits$}")
        }
    };
    let width = (420 * pruners.len() as u32).max(text_width(title, 18) + 40);
    let root = SVGBackend::new(path, (width, 380)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 18))?;
    for (area, pruner) in root.split_evenly((1, pruners.len())).iter().zip(&pruners) {
        let mut chart = ChartBuilder::on(area)
            .caption(*pruner, ("sans-serif", 15))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            // Half a step of room on both sides: a single M sits in the middle, not on an axis.
            .build_cartesian_2d(-0.5f64..memories.len() as f64 - 0.5, lo..hi)?;
        let mem_labels = memories.clone();
        chart
            .configure_mesh()
            .x_desc("memory size M")
            .y_desc(y_desc)
            .x_labels(memories.len() + 1)
            .y_label_formatter(&y_label)
            .x_label_formatter(&|x| match (x.fract().abs() < 1e-6, x.round()) {
                (true, i) if i >= 0.0 => mem_labels
                    .get(i as usize)
                    .map_or_else(String::new, |m| m.to_string()),
                _ => String::new(),
            })
            .draw()?;
        if let Some(full) = full {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(-0.5, full), (memories.len() as f64 - 0.5, full)],
                    6,
                    4,
                    BLACK.stroke_width(1),
                ))?
                .label("full attention")
                // Dashed in the legend as on the plot.
                .legend(|(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (6, 0)], BLACK)
                        + PathElement::new(vec![(10, 0), (16, 0)], BLACK)
                });
        }
        for (method, color) in METHOD_COLORS {
            let points: Vec<(f64, f64)> = memories
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    block
                        .iter()
                        .find(|(k, _)| k.pruner == *pruner && k.memory == *m && k.method == method)
                        .and_then(|(_, c)| value(c))
                        .map(|p| (i as f64, p))
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(method)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
