//! The evaluation grid: methods × pruners × chunk sizes × memory sizes, and its presets.

use mss::pruners::PrunerKind;
use mss::schedule::names::Named;
use mss::schedule::{DEFAULT_SINKS, IncrementalType, MemoryType};
use mss::{PositionMode, PrefillConfig};
use mss_examples::exit::bad_usage;

/// How memory is managed in a run: the library's memory types, full attention and no memory
/// included.
pub use mss::Method;

/// One configuration of the grid (a document is added when it runs).
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// The pruner (not called by full attention and no memory).
    pub pruner: PrunerKind,
    /// The memory method.
    pub method: Method,
    /// IM growth curve.
    pub incremental: IncrementalType,
    /// Reference chunk size.
    pub chunk: usize,
    /// Memory size M (0 for full attention).
    pub memory: usize,
    /// RoPE with the paper's step-wise dynamic NTK (`RopeScaling::StepNtk`) instead of the
    /// model's own scaling.
    pub step_ntk: bool,
    /// Sink entries kept ahead of the memory.
    pub sinks: usize,
    /// RoPE positions of memory entries.
    pub positions: PositionMode,
    /// Whether keys may be rotated past the model's trained positions (not part of the key:
    /// it allows a run, it does not change it).
    pub past_trained_positions: bool,
}

impl RunSpec {
    /// The prefill configuration.
    pub fn config(&self) -> PrefillConfig {
        let config = PrefillConfig::from_method(self.pruner, self.method, self.chunk, self.memory)
            .with_sinks(self.sinks)
            .with_positions(self.positions)
            .with_past_trained_positions(self.past_trained_positions);
        // Only IM grows along a curve.
        if self.method.memory_type() == MemoryType::Im {
            config.with_incremental(self.incremental)
        } else {
            config
        }
    }

    /// A key that names the run on `doc` (stable across reruns of the same command).
    pub fn key(&self, doc: &str, doc_tokens: usize) -> String {
        format!(
            "{doc}|L={doc_tokens}|{}|{}|{}|C={}|M={}{}{}",
            self.pruner_name(),
            self.method,
            self.incremental,
            self.chunk,
            self.memory,
            self.rope_suffix(),
            self.setting_suffix()
        )
    }

    /// The pruner's name in keys and reports; for the baselines, which call none, the seed's
    /// name of the baseline (`no_compress`, `local_window`), as in the keys of earlier runs.
    pub fn pruner_name(&self) -> &'static str {
        match self.method {
            Method::Full => "no_compress",
            Method::Local => "local_window",
            _ => self.pruner.name(),
        }
    }

    /// `|sinks=N` and `|positions=NAME` where they differ from the defaults, so that the keys
    /// of runs made before these axes existed stay as they were (and resume).
    pub fn setting_suffix(&self) -> String {
        let mut suffix = String::new();
        if self.sinks != DEFAULT_SINKS {
            suffix += &format!("|sinks={}", self.sinks);
        }
        if self.positions != PositionMode::default() {
            suffix += &format!("|positions={}", self.positions.name());
        }
        suffix
    }

    /// `|rope=step-ntk` when the paper's NTK is on (so that keys of plain runs stay as they were).
    pub fn rope_suffix(&self) -> &'static str {
        if self.step_ntk { "|rope=step-ntk" } else { "" }
    }
}

/// The axes of one block of runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Tokens per document.
    pub doc_tokens: usize,
    /// Number of documents.
    pub docs: usize,
    /// Pruners compared.
    pub pruners: Vec<PrunerKind>,
    /// Methods compared (the full-attention line is added once per chunk size).
    pub methods: Vec<Method>,
    /// Chunk sizes.
    pub chunks: Vec<usize>,
    /// Memory sizes.
    pub memories: Vec<usize>,
    /// IM growth curve.
    pub incremental: IncrementalType,
    /// Whether to run the full-attention line.
    pub full_line: bool,
    /// RoPE with the paper's step-wise dynamic NTK.
    pub step_ntk: bool,
    /// Sink entries kept ahead of the memory.
    pub sinks: usize,
    /// RoPE positions of memory entries.
    pub positions: PositionMode,
    /// Whether its runs may rotate keys past the model's trained positions (the paper's big
    /// chunks do, to measure what that costs).
    pub past_trained_positions: bool,
}

impl Grid {
    /// Refuses sizes that make no experiment: a memory or chunk of the document's size or
    /// more prunes nothing, so its runs would all be full attention under another name.
    pub fn check(&self) -> anyhow::Result<()> {
        let l = self.doc_tokens;
        if let Some(m) = self.memories.iter().find(|&&m| m >= l) {
            return Err(bad_usage(format!(
                "memory {m} (--memories) is not smaller than the documents' {l} tokens \
                 (--tokens): nothing would be pruned"
            )));
        }
        if let Some(c) = self.chunks.iter().find(|&&c| c >= l) {
            return Err(bad_usage(format!(
                "chunk {c} (--chunks) is not smaller than the documents' {l} tokens \
                 (--tokens): the prompt would be one chunk"
            )));
        }
        Ok(())
    }

    /// Every run of the grid, full-attention line first.
    pub fn runs(&self) -> Vec<RunSpec> {
        let mut runs = Vec::new();
        for &chunk in &self.chunks {
            if self.full_line {
                runs.push(self.baseline(Method::Full, chunk));
            }
            if self.methods.contains(&Method::Local) {
                runs.push(self.baseline(Method::Local, chunk));
            }
            for &pruner in &self.pruners {
                for &memory in &self.memories {
                    let pruned = self.methods.iter().filter(|m| m.memory_type().prunes());
                    for &method in pruned {
                        runs.push(RunSpec {
                            pruner,
                            method,
                            incremental: self.incremental,
                            chunk,
                            memory,
                            step_ntk: self.step_ntk,
                            sinks: self.sinks,
                            positions: self.positions,
                            past_trained_positions: self.past_trained_positions,
                        });
                    }
                }
            }
        }
        runs
    }

    /// The run of a baseline, full attention or no memory, at `chunk`: one per chunk size, as
    /// it calls no pruner and has no memory size.
    pub fn baseline(&self, method: Method, chunk: usize) -> RunSpec {
        RunSpec {
            pruner: PrunerKind::StreamingLlm,
            method,
            incremental: self.incremental,
            chunk,
            memory: 0,
            step_ntk: self.step_ntk,
            // Sinks make no difference to a baseline, so one run serves every sink count.
            sinks: DEFAULT_SINKS,
            positions: self.positions,
            past_trained_positions: self.past_trained_positions,
        }
    }
}

/// The axes of the passkey task. Its cells are the first grid's runs (pruners, methods,
/// memory sizes) at these chunk sizes, prompt lengths and depths.
#[derive(Debug, Clone, PartialEq)]
pub struct NeedleAxes {
    /// Prompt lengths, tokens.
    pub contexts: Vec<usize>,
    /// Depths of the passkey in the haystack, fractions.
    pub depths: Vec<f64>,
    /// Chunk sizes of the first grid to run the task at (all when `None`).
    pub chunks: Option<Vec<usize>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grids of a preset file.
    fn preset(name: &str) -> anyhow::Result<Vec<Grid>> {
        super::super::config_file::EvalFile::preset(name)?.grids(std::path::Path::new(name))
    }

    #[test]
    fn the_default_preset_compares_fm_im_imdc_for_three_pruners() {
        let grids = preset("default").unwrap();
        let runs = grids[0].runs();
        assert_eq!(runs.len(), 1 + 3 * 3);
        assert_eq!(runs[0].method, Method::Full);
        for pruner in [
            PrunerKind::StreamingLlm,
            PrunerKind::SnapKv,
            PrunerKind::H2o,
        ] {
            for method in [Method::Fm, Method::Im, Method::Imdc] {
                assert!(
                    runs.iter()
                        .any(|r| r.pruner == pruner && r.method == method)
                );
            }
        }
    }

    #[test]
    fn the_paper_preset_runs_big_chunks_with_and_without_step_ntk() {
        let grids = preset("paper").unwrap();
        assert_eq!(grids.len(), 3);
        let big: Vec<&Grid> = grids.iter().filter(|g| g.doc_tokens == 32768).collect();
        assert_eq!(big.len(), 2);
        assert!(!big[0].step_ntk && big[1].step_ntk);
        assert_eq!(big[0].runs().len(), big[1].runs().len());
        let axes = super::super::config_file::EvalFile::preset("paper")
            .unwrap()
            .needle_axes()
            .unwrap();
        let cells = grids[0]
            .runs()
            .iter()
            .filter(|r| axes.chunks.as_ref().unwrap().contains(&r.chunk))
            .count()
            * axes.contexts.len()
            * axes.depths.len();
        assert_eq!(cells, 190);
    }

    #[test]
    fn keys_name_every_axis() {
        let run = &preset("default").unwrap()[0].runs()[3];
        let key = run.key("hamlet_gut.txt#0", 2048);
        assert!(
            key.contains("hamlet")
                && key.contains("L=2048")
                && key.contains("C=256")
                && key.contains("M=256")
        );
    }

    #[test]
    fn the_step_ntk_flag_changes_the_keys_of_every_run() {
        let mut grid = preset("default").unwrap().remove(0);
        let plain: Vec<String> = grid.runs().iter().map(|r| r.key("d#0", 2048)).collect();
        grid.step_ntk = true;
        let ntk: Vec<String> = grid.runs().iter().map(|r| r.key("d#0", 2048)).collect();
        assert!(plain.iter().all(|k| !k.contains("rope")));
        assert!(ntk.iter().all(|k| k.ends_with("|rope=step-ntk")));
    }

    #[test]
    fn sinks_and_positions_name_the_keys_only_away_from_the_defaults() {
        let mut grid = preset("default").unwrap().remove(0);
        let plain: Vec<String> = grid.runs().iter().map(|r| r.key("d#0", 2048)).collect();
        assert!(
            plain
                .iter()
                .all(|k| !k.contains("sinks") && !k.contains("positions"))
        );
        grid.sinks = 0;
        grid.positions = PositionMode::Original;
        let runs = grid.runs();
        for (run, old) in runs.iter().zip(&plain) {
            let sinks = if run.method == Method::Full {
                ""
            } else {
                "|sinks=0"
            };
            assert_eq!(
                run.key("d#0", 2048),
                format!("{old}{sinks}|positions=original")
            );
            assert_eq!(run.config().positions, PositionMode::Original);
        }
        let pruned = runs.iter().find(|r| r.memory > 0).unwrap();
        assert_eq!(pruned.config().schedule.sinks, 0);
    }

    #[test]
    fn unknown_presets_and_methods_list_the_valid_ones() {
        assert!(
            preset("huge")
                .unwrap_err()
                .to_string()
                .contains("default, paper")
        );
        assert!(
            "XM".parse::<Method>()
                .unwrap_err()
                .to_string()
                .contains("IMDC")
        );
    }
}
