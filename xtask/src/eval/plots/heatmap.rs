//! The passkey's accuracy as a heatmap.

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::eval::needle::NeedleRecord;

/// Rows: pruner / method; columns: prompt length and depth; colour: accuracy.
pub(super) fn passkey_heatmap(path: &Path, needles: &[NeedleRecord]) -> anyhow::Result<()> {
    let ok: Vec<&NeedleRecord> = needles
        .iter()
        .filter(|r| r.status == crate::eval::guard::OK)
        .collect();
    let mut cols: Vec<(usize, u64)> = ok
        .iter()
        .map(|r| (r.context_tokens, (r.depth * 1000.0) as u64))
        .collect();
    cols.sort_unstable();
    cols.dedup();
    let mut rows: Vec<(String, String, usize)> = ok
        .iter()
        .map(|r| (r.pruner.clone(), r.method.clone(), r.memory))
        .collect();
    rows.sort();
    rows.dedup();
    let (cell_w, cell_h, left, top) = (64, 26, 200, 56);
    let width = left + cell_w * cols.len() as i32 + 30;
    let height = top + cell_h * rows.len() as i32 + 60;
    let root = SVGBackend::new(path, (width as u32, height as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let style = |size: f64, h: HPos| {
        ("sans-serif", size)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(h, VPos::Center))
    };
    root.draw(&Text::new(
        "Passkey retrieval accuracy".to_string(),
        (width / 2, 20),
        style(16.0, HPos::Center),
    ))?;
    for (r, (pruner, method, memory)) in rows.iter().enumerate() {
        let y = top + r as i32 * cell_h;
        let label = if method == "full" {
            "full attention".to_string()
        } else {
            format!("{pruner} {method} M={memory}")
        };
        root.draw(&Text::new(
            label,
            (left - 8, y + cell_h / 2),
            style(11.0, HPos::Right),
        ))?;
        for (c, (n, d)) in cols.iter().enumerate() {
            let hits: Vec<bool> = ok
                .iter()
                .filter(|x| {
                    x.pruner == *pruner
                        && x.method == *method
                        && x.memory == *memory
                        && x.context_tokens == *n
                        && (x.depth * 1000.0) as u64 == *d
                })
                .map(|x| x.correct)
                .collect();
            let x = left + c as i32 * cell_w;
            let (fill, text) = if hits.is_empty() {
                (RGBColor(235, 235, 235), String::new())
            } else {
                let acc = hits.iter().filter(|h| **h).count() as f64 / hits.len() as f64;
                let shade = (255.0 * (1.0 - acc)) as u8;
                (
                    RGBColor(shade, 200 - (acc * 60.0) as u8, 255 - shade / 2),
                    format!("{:.0}%", acc * 100.0),
                )
            };
            root.draw(&Rectangle::new(
                [(x, y), (x + cell_w - 2, y + cell_h - 2)],
                fill.filled(),
            ))?;
            root.draw(&Text::new(
                text,
                (x + cell_w / 2, y + cell_h / 2),
                style(10.0, HPos::Center),
            ))?;
        }
    }
    let base = top + cell_h * rows.len() as i32;
    for (c, (n, d)) in cols.iter().enumerate() {
        let x = left + c as i32 * cell_w + cell_w / 2;
        root.draw(&Text::new(
            format!("N={n}"),
            (x, base + 10),
            style(10.0, HPos::Center),
        ))?;
        root.draw(&Text::new(
            format!("d={:.1}", *d as f64 / 1000.0),
            (x, base + 24),
            style(10.0, HPos::Center),
        ))?;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
