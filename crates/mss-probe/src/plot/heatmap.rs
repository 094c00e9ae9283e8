//! Heatmaps drawn cell by cell: layers down, steps or chunks across, with a colour bar.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::plot_error;
use crate::{ProbeError, ProbeReport, Result};

/// Retention of one report per step (columns, from step 1) and layer (rows), averaged over KV
/// heads.
///
/// # Errors
/// [`ProbeError::NothingToPlot`] without retention values; [`ProbeError::Plot`] when the file
/// cannot be written.
pub fn retention_heatmap(path: &Path, report: &ProbeReport) -> Result<()> {
    let retention = report
        .retention
        .as_ref()
        .filter(|r| r.mean.is_some())
        .ok_or(ProbeError::NothingToPlot("the report has no retention"))?;
    let grid = &retention.by_step_layer;
    let layers = grid.iter().map(Vec::len).max().unwrap_or(0);
    let rows: Vec<Vec<Option<f64>>> = (0..layers)
        .map(|l| {
            grid.iter()
                .skip(1)
                .map(|s| s.get(l).copied().flatten())
                .collect()
        })
        .collect();
    let title = format!("Retention per step and layer: {}", report.label);
    let columns: Vec<String> = (1..grid.len()).map(|s| s.to_string()).collect();
    Heatmap {
        title: &title,
        x_desc: "step",
        columns: &columns,
        rows: &rows,
        max: 1.0,
    }
    .draw(path)
}

/// The memory of one report after its last step: per layer (rows), the share of its entries
/// (summed over KV heads, sinks excluded) from each source chunk (columns).
///
/// # Errors
/// As [`retention_heatmap`].
pub fn composition_heatmap(path: &Path, report: &ProbeReport) -> Result<()> {
    let composition = report
        .composition
        .as_ref()
        .ok_or(ProbeError::NothingToPlot("the report has no composition"))?;
    let shares = composition.final_shares();
    if shares.is_empty() {
        return Err(ProbeError::NothingToPlot("the report has no memory"));
    }
    let rows: Vec<Vec<Option<f64>>> = shares
        .iter()
        .map(|r| r.iter().map(|&s| Some(s)).collect())
        .collect();
    let max = shares
        .iter()
        .flatten()
        .copied()
        .fold(0.0, f64::max)
        .max(1e-9);
    let title = format!(
        "Memory by source chunk after the last step: {}",
        report.label
    );
    let columns: Vec<String> = (0..composition.chunks.len())
        .map(|c| c.to_string())
        .collect();
    Heatmap {
        title: &title,
        x_desc: "source chunk",
        columns: &columns,
        rows: &rows,
        max,
    }
    .draw(path)
}

/// A heatmap with values in `0..=max`; rows are layers, top to bottom.
struct Heatmap<'a> {
    title: &'a str,
    x_desc: &'a str,
    columns: &'a [String],
    rows: &'a [Vec<Option<f64>>],
    max: f64,
}

impl Heatmap<'_> {
    fn draw(&self, path: &Path) -> Result<()> {
        let (n_rows, n_cols) = (self.rows.len(), self.columns.len());
        if n_rows == 0 || n_cols == 0 {
            return Err(ProbeError::NothingToPlot("an empty heatmap"));
        }
        let cell_w = (640 / n_cols).clamp(12, 80) as i32;
        let cell_h = (480 / n_rows).clamp(8, 40) as i32;
        let (left, top, bottom, right) = (70, 48, 56, 110);
        let width = left + cell_w * n_cols as i32 + right;
        let height = top + cell_h * n_rows as i32 + bottom;
        let err = plot_error(path);
        let root = SVGBackend::new(path, (width as u32, height as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let text = |size: f64, h: HPos, v: VPos| {
            ("sans-serif", size)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(h, v))
        };
        let draw_text =
            |s: &str, at: (i32, i32), style| root.draw(&Text::new(s.to_string(), at, style));
        draw_text(
            self.title,
            (width / 2, 20),
            text(16.0, HPos::Center, VPos::Center),
        )
        .map_err(&err)?;
        let show_values = cell_w >= 36 && cell_h >= 16;
        for (r, row) in self.rows.iter().enumerate() {
            let y = top + r as i32 * cell_h;
            for (c, value) in row.iter().enumerate().take(n_cols) {
                let x = left + c as i32 * cell_w;
                let fill = match value {
                    Some(v) => viridis(v / self.max),
                    None => RGBColor(235, 235, 235),
                };
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell_w, y + cell_h)],
                    fill.filled(),
                ))
                .map_err(&err)?;
                if let (true, Some(v)) = (show_values, value) {
                    let ink = if v / self.max > 0.6 { BLACK } else { WHITE };
                    let style = ("sans-serif", 10.0)
                        .into_font()
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    draw_text(&format!("{v:.2}"), (x + cell_w / 2, y + cell_h / 2), style)
                        .map_err(&err)?;
                }
            }
            let every = n_rows.div_ceil(30).max(1);
            if r % every == 0 {
                draw_text(
                    &r.to_string(),
                    (left - 6, y + cell_h / 2),
                    text(10.0, HPos::Right, VPos::Center),
                )
                .map_err(&err)?;
            }
        }
        let every = n_cols.div_ceil(24).max(1);
        let base = top + cell_h * n_rows as i32;
        for (c, name) in self
            .columns
            .iter()
            .enumerate()
            .filter(|(c, _)| c % every == 0)
        {
            let x = left + c as i32 * cell_w + cell_w / 2;
            draw_text(name, (x, base + 12), text(10.0, HPos::Center, VPos::Center))
                .map_err(&err)?;
        }
        let mid_x = left + cell_w * n_cols as i32 / 2;
        draw_text(
            self.x_desc,
            (mid_x, base + 34),
            text(13.0, HPos::Center, VPos::Center),
        )
        .map_err(&err)?;
        draw_text(
            "layer",
            (22, top + cell_h * n_rows as i32 / 2),
            text(13.0, HPos::Center, VPos::Center),
        )
        .map_err(&err)?;
        // Colour bar.
        let bar_x = left + cell_w * n_cols as i32 + 24;
        let bar_h = (cell_h * n_rows as i32).max(100);
        let steps = 50;
        for i in 0..steps {
            let y0 = top + bar_h - (i + 1) * bar_h / steps;
            let y1 = top + bar_h - i * bar_h / steps;
            let color = viridis((i as f64 + 0.5) / steps as f64);
            root.draw(&Rectangle::new(
                [(bar_x, y0), (bar_x + 16, y1)],
                color.filled(),
            ))
            .map_err(&err)?;
        }
        for (frac, y) in [(0.0, top + bar_h), (0.5, top + bar_h / 2), (1.0, top)] {
            let label = format!("{:.2}", frac * self.max);
            draw_text(
                &label,
                (bar_x + 22, y),
                text(10.0, HPos::Left, VPos::Center),
            )
            .map_err(&err)?;
        }
        root.present().map_err(&err)?;
        Ok(())
    }
}

/// The viridis colour map, interpolated between five of its colours; `t` is clamped to `0..=1`.
fn viridis(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 5] = [
        (68, 1, 84),
        (59, 82, 139),
        (33, 145, 140),
        (94, 201, 98),
        (253, 231, 37),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_runs_from_purple_to_yellow() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(0.5), RGBColor(33, 145, 140));
        assert_eq!(viridis(f64::NAN), viridis(0.0));
        assert_eq!(viridis(7.0), viridis(1.0));
    }
}
