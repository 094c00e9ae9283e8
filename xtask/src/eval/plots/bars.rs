//! Bars of FM, IM, IMDC and FI side by side, per pruner.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{METHOD_COLORS, full_attention, pruners, text_width};
use crate::eval::summary::{Block, Cell, CellKey};

/// One bar: its label, colour and height.
type Bar = (&'static str, RGBColor, f64);

/// Grouped bars: per pruner (at the largest M), one bar per method. Returns false when there
/// is nothing to draw.
pub(super) fn method_bars(
    path: &Path,
    block: &BTreeMap<&CellKey, &Cell>,
    what: &str,
    value: fn(&Cell) -> Option<f64>,
    names: &Block,
) -> anyhow::Result<bool> {
    let largest = block
        .keys()
        .filter(|k| !k.is_full())
        .map(|k| k.memory)
        .max();
    let Some(m) = largest else { return Ok(false) };
    let mut groups: Vec<(String, Vec<Bar>)> = Vec::new();
    if let Some(v) = full_attention(block, value) {
        groups.push((
            "full attention".into(),
            vec![("full", RGBColor(88, 88, 88), v)],
        ));
    }
    for pruner in pruners(block) {
        let bars: Vec<Bar> = METHOD_COLORS
            .iter()
            .filter_map(|(method, color)| {
                block
                    .iter()
                    .find(|(k, _)| k.pruner == pruner && k.memory == m && k.method == *method)
                    .and_then(|(_, c)| value(c))
                    .map(|v| (*method, *color, v))
            })
            .collect();
        if !bars.is_empty() {
            groups.push((pruner.to_owned(), bars));
        }
    }
    let top = groups
        .iter()
        .flat_map(|(_, b)| b.iter().map(|x| x.2))
        .fold(0.0, f64::max);
    if groups.is_empty() || top <= 0.0 {
        return Ok(false);
    }
    let slots: usize = groups.iter().map(|(_, b)| b.len() + 1).sum();
    let title = format!("{what} ({}, M = {m})", names.title());
    let width = (140 + 44 * slots as u32).max(text_width(&title, 16) + 40);
    let root = SVGBackend::new(path, (width, 380)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..slots as f64, 0f64..top * 1.15)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .y_desc(what)
        .draw()?;
    let mut x = 0.5;
    for (name, bars) in &groups {
        let start = x;
        for (method, color, v) in bars {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x, 0.0), (x + 0.9, *v)],
                color.filled(),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                method.to_string(),
                (x + 0.45, *v),
                ("sans-serif", 10)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            )))?;
            x += 1.0;
        }
        chart.draw_series(std::iter::once(Text::new(
            name.clone(),
            ((start + x) / 2.0, 0.0),
            ("sans-serif", 12)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Top)),
        )))?;
        x += 1.0;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}
