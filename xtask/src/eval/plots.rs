//! SVG plots of an evaluation: perplexity against memory size per pruner (with the
//! full-attention line), FM vs IM vs IMDC bars of perplexity, time to first token and peak
//! memory, and the passkey accuracy as a heatmap. Text is laid out by estimate (no font files).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::needle::NeedleRecord;
use super::record::Record;
use super::summary::{Block, Cell, CellKey, cells};

const METHOD_COLORS: [(&str, RGBColor); 4] = [
    ("FM", RGBColor(220, 50, 47)),
    ("IM", RGBColor(38, 139, 210)),
    ("IMDC", RGBColor(133, 153, 0)),
    ("FI", RGBColor(108, 113, 196)),
];

/// Token F1 of each question-answering task against M: one panel per pruner, a line per
/// memory type, full attention dashed. Returns the files written.
pub fn write_qa(dir: &Path, records: &[super::qa::QaRecord]) -> anyhow::Result<Vec<PathBuf>> {
    let mut by_task: BTreeMap<(&str, usize), BTreeMap<CellKey, Vec<f64>>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.status == super::guard::OK) {
        let key = CellKey {
            block: Block {
                doc_tokens: r.length.unwrap_or(0),
                chunk: r.chunk,
                step_ntk: false,
                sinks: mss::schedule::DEFAULT_SINKS,
                original_positions: false,
            },
            pruner: r.pruner.clone(),
            memory: r.memory,
            method: r.method.clone(),
        };
        let task = by_task.entry((r.task.as_str(), r.chunk)).or_default();
        task.entry(key)
            .or_default()
            .push(qa_metric(&r.task).1(&r.scores));
    }
    let mut written = Vec::new();
    for ((task, chunk), cells) in by_task {
        let cells: BTreeMap<CellKey, Cell> = cells
            .into_iter()
            .map(|(k, scores)| {
                let cell = Cell {
                    score: Some(scores.iter().sum::<f64>() / scores.len() as f64),
                    docs: scores.len(),
                    ..Cell::default()
                };
                (k, cell)
            })
            .collect();
        let refs: BTreeMap<&CellKey, &Cell> = cells.iter().collect();
        let path = dir.join(format!("qa_{task}_C{chunk}.svg"));
        let metric = qa_metric(task).0;
        let title = format!("{task}: {metric} vs memory size (C = {chunk})");
        let unit = Some((-0.02, 1.02));
        lines_vs_memory(&path, &refs, &title, metric, |c| c.score, unit)?;
        written.push(path);
    }
    Ok(written)
}

/// The score a task is plotted by: substring match for the synthetic tasks (RULER's string
/// match: a number or a name is right or wrong), token F1 for a file's free-form answers.
fn qa_metric(task: &str) -> (&'static str, fn(&super::scores::Scores) -> f64) {
    match super::synthetic::SyntheticTask::of_name(task) {
        Some(_) => ("accuracy", |s| s.substring),
        None => ("token F1", |s| s.f1),
    }
}

/// Writes every plot into `dir`; returns the files written.
pub fn write_all(
    dir: &Path,
    records: &[Record],
    needles: &[NeedleRecord],
) -> anyhow::Result<Vec<PathBuf>> {
    let cells = cells(records);
    let blocks: BTreeSet<Block> = cells.keys().map(|k| k.block).collect();
    let mut written = Vec::new();
    for block in blocks {
        let cells_of_block: BTreeMap<&CellKey, &Cell> =
            cells.iter().filter(|(k, _)| k.block == block).collect();
        let tag = block.file_tag();
        let path = dir.join(format!("perplexity_vs_memory_{tag}.svg"));
        let title = format!("Perplexity vs memory size ({})", block.title());
        let perplexity = |c: &Cell| c.perplexity;
        lines_vs_memory(
            &path,
            &cells_of_block,
            &title,
            "perplexity",
            perplexity,
            None,
        )?;
        written.push(path);
        for (name, what, value) in [
            (
                "perplexity",
                "perplexity",
                (|c: &Cell| c.perplexity) as fn(&Cell) -> Option<f64>,
            ),
            ("ttft", "time to first token (s)", |c: &Cell| c.ttft_s),
            ("peak_memory", "peak memory growth (MiB)", |c: &Cell| {
                c.peak_growth_bytes.map(|b| b / 1048576.0)
            }),
        ] {
            let path = dir.join(format!("{name}_bars_{tag}.svg"));
            if method_bars(&path, &cells_of_block, what, value, &block)? {
                written.push(path);
            }
        }
    }
    if needles.iter().any(|r| r.status == super::guard::OK) {
        let path = dir.join("passkey_heatmap.svg");
        passkey_heatmap(&path, needles)?;
        written.push(path);
    }
    Ok(written)
}

/// One panel per pruner: `value` against M, a line per method, the full-attention line dashed.
fn lines_vs_memory(
    path: &Path,
    block: &BTreeMap<&CellKey, &Cell>,
    title: &str,
    y_desc: &str,
    value: fn(&Cell) -> Option<f64>,
    range: Option<(f64, f64)>,
) -> anyhow::Result<()> {
    let full = block
        .iter()
        .find(|(k, _)| k.is_full())
        .and_then(|(_, c)| value(c));
    let pruners: Vec<&str> = {
        let mut p: Vec<&str> = block
            .keys()
            .filter(|k| !k.is_full())
            .map(|k| k.pruner.as_str())
            .collect();
        p.dedup();
        p
    };
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

/// Pixels of one legend row, and of a panel's plotting area (380 px less title, caption, axis
/// labels and margins), for the headroom the legend gets.
const LEGEND_ROW_PX: f64 = 20.0;
const PLOT_PX: f64 = 260.0;

/// One bar: its label, colour and height.
type Bar = (&'static str, RGBColor, f64);

/// Grouped bars: per pruner (at the largest M), one bar per method. Returns false when there
/// is nothing to draw.
fn method_bars(
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
    if let Some(v) = block
        .iter()
        .find(|(k, _)| k.is_full())
        .and_then(|(_, c)| value(c))
    {
        groups.push((
            "full attention".into(),
            vec![("full", RGBColor(88, 88, 88), v)],
        ));
    }
    let mut pruners: Vec<&str> = block
        .keys()
        .filter(|k| !k.is_full())
        .map(|k| k.pruner.as_str())
        .collect();
    pruners.dedup();
    for pruner in pruners {
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

/// Rows: pruner / method; columns: prompt length and depth; colour: accuracy.
fn passkey_heatmap(path: &Path, needles: &[NeedleRecord]) -> anyhow::Result<()> {
    let ok: Vec<&NeedleRecord> = needles
        .iter()
        .filter(|r| r.status == super::guard::OK)
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

/// A y range around the values with some margin.
fn bounds(values: &[f64]) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.1).max(hi.abs() * 0.01).max(1e-6);
    (lo - pad, hi + pad)
}

/// Estimated width in pixels of `text` in a sans-serif font of `size` pixels (no font files
/// are read: about 0.55 em per character).
fn text_width(text: &str, size: u32) -> u32 {
    (text.chars().count() as f64 * size as f64 * 0.55).ceil() as u32
}
