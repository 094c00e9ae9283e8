//! SVG plots of an evaluation: perplexity against memory size per pruner (with the
//! full-attention line), FM vs IM vs IMDC bars of perplexity, time to first token and peak
//! memory, and the passkey accuracy as a heatmap. Text is laid out by estimate (no font files).

mod bars;
mod heatmap;
mod lines;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use plotters::style::RGBColor;

use super::needle::NeedleRecord;
use super::record::Record;
use super::summary::{Block, Cell, CellKey, cells};
use bars::method_bars;
use heatmap::passkey_heatmap;
use lines::lines_vs_memory;

/// The colour of each memory type, in every plot.
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

/// Full attention's `value` in a block of cells, if it ran there.
fn full_attention(
    block: &BTreeMap<&CellKey, &Cell>,
    value: fn(&Cell) -> Option<f64>,
) -> Option<f64> {
    block
        .iter()
        .find(|(k, _)| k.is_full())
        .and_then(|(_, c)| value(c))
}

/// The pruners of a block's cells, each once, in the cells' order (full attention left out).
fn pruners<'a>(block: &BTreeMap<&'a CellKey, &Cell>) -> Vec<&'a str> {
    let mut pruners: Vec<&str> = block
        .keys()
        .filter(|k| !k.is_full())
        .map(|k| k.pruner.as_str())
        .collect();
    pruners.dedup();
    pruners
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::record::example;

    /// A finished run of `pruner` under `method` at memory size `memory`.
    fn run(pruner: &str, method: &str, memory: usize, perplexity: f64) -> Record {
        Record {
            pruner: pruner.into(),
            method: method.into(),
            memory,
            perplexity: Some(perplexity),
            ..example(&format!("{pruner}|{method}|{memory}"))
        }
    }

    fn needle(method: &str, depth: f64, correct: bool) -> NeedleRecord {
        NeedleRecord {
            key: format!("{method}|{depth}"),
            status: "ok".into(),
            error: None,
            pruner: "snapkv".into(),
            method: method.into(),
            chunk: 4,
            memory: 4,
            context_tokens: 64,
            depth,
            passkey: "12345".into(),
            answer: if correct { "12345" } else { "0" }.into(),
            correct,
            finished_at: 0,
        }
    }

    /// The files `write_all` names exist, hold an SVG each, and name what they plot.
    #[test]
    fn every_plot_of_a_grid_is_written_as_svg() {
        let mut records = vec![run("full", "full", 0, 2.5)];
        for pruner in ["snapkv", "streaming_llm"] {
            for (method, worse) in [("FM", 0.3), ("IM", 0.2), ("IMDC", 0.25)] {
                for memory in [4, 8] {
                    records.push(run(pruner, method, memory, 3.0 + worse / memory as f64));
                }
            }
        }
        let needles = [needle("FM", 0.5, true), needle("IMDC", 0.5, false)];
        let dir = tempfile::tempdir().unwrap();
        let written = write_all(dir.path(), &records, &needles).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for expected in [
            "perplexity_vs_memory_L10_C4.svg",
            "perplexity_bars_L10_C4.svg",
            "ttft_bars_L10_C4.svg",
            "peak_memory_bars_L10_C4.svg",
            "passkey_heatmap.svg",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} not in {names:?}"
            );
        }
        for path in &written {
            let svg = std::fs::read_to_string(path).unwrap();
            assert!(svg.starts_with("<svg"), "{}", path.display());
            assert!(svg.contains("snapkv"), "{} names no pruner", path.display());
        }
    }

    /// Without a finished needle run there is no heatmap, and nothing fails.
    #[test]
    fn no_heatmap_without_needle_runs() {
        let dir = tempfile::tempdir().unwrap();
        let records = [run("snapkv", "FM", 4, 3.0)];
        let written = write_all(dir.path(), &records, &[]).unwrap();
        assert!(written.iter().all(|p| !p.ends_with("passkey_heatmap.svg")));
        assert!(!dir.path().join("passkey_heatmap.svg").exists());
    }
}
