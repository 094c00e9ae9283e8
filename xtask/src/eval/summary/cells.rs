//! The results averaged over documents: one cell per configuration, grouped in blocks of the
//! same prompt length, chunk size, sinks and RoPE.

use std::collections::{BTreeMap, BTreeSet};

use crate::eval::record::Record;

/// The averaged figures of one configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cell {
    /// Mean perplexity over documents.
    pub perplexity: Option<f64>,
    /// Mean time to first token, seconds.
    pub ttft_s: Option<f64>,
    /// The fastest and slowest timed prefill of the cell's runs (`--repeats`).
    pub ttft_range: Option<(f64, f64)>,
    /// Mean peak memory growth, bytes.
    pub peak_growth_bytes: Option<f64>,
    /// The cost model's peak working set, bytes.
    pub predicted_peak_bytes: Option<f64>,
    /// A question-answering task's mean score (plots of `--task qa` and the synthetic tasks).
    pub score: Option<f64>,
    /// Documents averaged.
    pub docs: usize,
}

/// The runs reported together: one table per pruner, one set of plots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Block {
    /// Tokens per document.
    pub doc_tokens: usize,
    /// Reference chunk size.
    pub chunk: usize,
    /// Whether RoPE used the paper's step-wise dynamic NTK.
    pub step_ntk: bool,
    /// Sink entries.
    pub sinks: usize,
    /// Whether memory entries kept their document positions (`--positions original`).
    pub original_positions: bool,
}

impl Block {
    /// `L = 32768, C = 8192` (and `, step-wise NTK`, the sinks and positions where they are not
    /// the defaults).
    pub fn title(&self) -> String {
        let ntk = if self.step_ntk { ", step-wise NTK" } else { "" };
        let sinks = if self.sinks == mss::schedule::DEFAULT_SINKS {
            String::new()
        } else {
            format!(", {} sinks", self.sinks)
        };
        let positions = if self.original_positions {
            ", original positions"
        } else {
            ""
        };
        format!(
            "L = {}, C = {}{ntk}{sinks}{positions}",
            self.doc_tokens, self.chunk
        )
    }

    /// `L32768_C8192` (and `_ntk`, `_s0`, `_orig`), for file names.
    pub fn file_tag(&self) -> String {
        let ntk = if self.step_ntk { "_ntk" } else { "" };
        let sinks = if self.sinks == mss::schedule::DEFAULT_SINKS {
            String::new()
        } else {
            format!("_s{}", self.sinks)
        };
        let positions = if self.original_positions { "_orig" } else { "" };
        format!(
            "L{}_C{}{ntk}{sinks}{positions}",
            self.doc_tokens, self.chunk
        )
    }
}

/// One configuration: a block, a pruner, a memory size and a method.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    /// Document length, chunk size, RoPE.
    pub block: Block,
    /// Pruner name.
    pub pruner: String,
    /// Memory size M.
    pub memory: usize,
    /// `full`, `FM`, `IM`, `IMDC` or `FI`.
    pub method: String,
}

impl CellKey {
    /// Whether this is the full-attention line.
    pub fn is_full(&self) -> bool {
        self.method == "full"
    }
}

/// Averages the successful records per configuration. A run recorded twice (folders merged
/// by hand, or an older copy) counts once: its last successful record.
pub fn cells(records: &[Record]) -> BTreeMap<CellKey, Cell> {
    let latest: BTreeMap<&str, &Record> = records
        .iter()
        .filter(|r| r.status == crate::eval::guard::OK)
        .map(|r| (r.key.as_str(), r))
        .collect();
    let mut groups: BTreeMap<CellKey, Vec<&Record>> = BTreeMap::new();
    for r in latest.into_values() {
        let key = CellKey {
            block: Block {
                doc_tokens: r.doc_tokens,
                chunk: r.chunk,
                step_ntk: r.step_ntk,
                sinks: r.sinks,
                original_positions: r.positions == "original",
            },
            pruner: r.pruner.clone(),
            memory: r.memory,
            method: r.method.clone(),
        };
        groups.entry(key).or_default().push(r);
    }
    let mut cells: BTreeMap<CellKey, Cell> = groups
        .into_iter()
        .map(|(key, rs)| {
            let mean = |f: &dyn Fn(&Record) -> Option<f64>| {
                let v: Vec<f64> = rs.iter().filter_map(|r| f(r)).collect();
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
            };
            let runs: Vec<f64> = rs
                .iter()
                .flat_map(|r| r.ttft_runs.iter().copied())
                .collect();
            let cell = Cell {
                perplexity: mean(&|r| r.perplexity),
                ttft_s: mean(&|r| r.ttft_s),
                ttft_range: (!runs.is_empty()).then(|| {
                    runs.iter()
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &t| {
                            (lo.min(t), hi.max(t))
                        })
                }),
                peak_growth_bytes: mean(&|r| r.peak_growth_bytes.map(|b| b as f64)),
                predicted_peak_bytes: mean(&|r| r.predicted_peak_bytes.map(|b| b as f64)),
                score: None,
                docs: rs.len(),
            };
            (key, cell)
        })
        .collect();
    share_the_full_line(&mut cells);
    cells
}

/// The full-attention line keeps everything, so the sinks make no difference to it: it is also
/// the reference of every block that differs from its own in the sinks alone (one full run
/// serves a grid run with `--sinks 0` and the default grid).
fn share_the_full_line(cells: &mut BTreeMap<CellKey, Cell>) {
    let pruned_blocks: BTreeSet<Block> = cells
        .keys()
        .filter(|k| !k.is_full())
        .map(|k| k.block)
        .collect();
    let full: Vec<(CellKey, Cell)> = cells
        .iter()
        .filter(|(k, _)| k.is_full())
        .map(|(k, c)| (k.clone(), c.clone()))
        .collect();
    for (key, cell) in full {
        let same_but_sinks = |b: &&Block| {
            b.sinks != key.block.sinks
                && Block {
                    sinks: key.block.sinks,
                    ..**b
                } == key.block
        };
        let mut shared = false;
        for &block in pruned_blocks.iter().filter(same_but_sinks) {
            let copy = CellKey {
                block,
                ..key.clone()
            };
            cells.entry(copy).or_insert_with(|| cell.clone());
            shared = true;
        }
        // A block holding nothing but the line it lent would be a report section of its own.
        if shared && !pruned_blocks.contains(&key.block) {
            cells.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::summary::fixtures::run;

    #[test]
    fn documents_are_averaged_and_step_ntk_runs_are_a_cell_of_their_own() {
        let records = [
            run("a#0", "FM", false, 10.0),
            run("a#1", "FM", false, 20.0),
            run("a#0", "FM", true, 7.0),
            run("a#0", "IMDC", false, 12.0),
        ];
        let cells = cells(&records);
        assert_eq!(cells.len(), 3);
        let plain_fm = cells
            .iter()
            .find(|(k, _)| !k.block.step_ntk && k.method == "FM")
            .unwrap()
            .1;
        assert_eq!((plain_fm.perplexity, plain_fm.docs), (Some(15.0), 2));
        let ntk_fm = cells.iter().find(|(k, _)| k.block.step_ntk).unwrap().1;
        assert_eq!(ntk_fm.perplexity, Some(7.0));
    }

    fn full_line() -> Record {
        Record {
            pruner: "no_compress".into(),
            memory: 0,
            ..run("a#0", "full", false, 9.0)
        }
    }

    fn no_sinks_run() -> Record {
        Record {
            sinks: 0,
            key: "no sinks".into(),
            ..run("a#0", "FM", false, 10.0)
        }
    }

    #[test]
    fn the_full_line_is_the_reference_of_blocks_with_other_sinks() {
        let cells = cells(&[full_line(), no_sinks_run()]);
        let sinks_0_full = cells
            .iter()
            .find(|(k, _)| k.block.sinks == 0 && k.is_full())
            .expect("the full line in the block of sinks 0");
        assert_eq!(sinks_0_full.1.perplexity, Some(9.0));
        // Its own block had no pruned runs: it is not reported apart.
        assert_eq!(cells.len(), 2);
        let with_default = Record {
            key: "default".into(),
            ..run("a#0", "FM", false, 11.0)
        };
        let cells = super::cells(&[full_line(), with_default, no_sinks_run()]);
        assert!(cells.keys().any(|k| k.block.sinks == 4 && k.is_full()));
        assert!(cells.keys().any(|k| k.block.sinks == 0 && k.is_full()));
    }

    #[test]
    fn a_run_recorded_twice_counts_once_with_its_last_figures() {
        let records = [
            run("a#0", "FM", false, 10.0),
            run("a#1", "FM", false, 20.0),
            run("a#1", "FM", false, 40.0),
        ];
        let cells = cells(&records);
        let fm = cells.values().next().unwrap();
        assert_eq!((fm.perplexity, fm.docs), (Some(25.0), 2));
    }
}
