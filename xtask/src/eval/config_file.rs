//! Eval configurations as TOML files: the presets (`xtask/presets/*.toml`, built into the
//! binary) and a user's own (`--config grid.toml`). A file expresses everything the flags do;
//! flags given beside it replace its values.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

use mss::PositionMode;
use mss::pruners::PrunerKind;
use mss::schedule::{DEFAULT_SINKS, IncrementalType};
use mss_examples::exit::{bad_data, bad_usage};

use super::grid::{Grid, Method, NeedleAxes};
use super::synthetic::{SyntheticAxes, SyntheticTask};

/// The presets, by name, as shipped in `xtask/presets`.
const PRESETS: [(&str, &str); 2] = [
    ("default", include_str!("../../presets/default.toml")),
    ("paper", include_str!("../../presets/paper.toml")),
];

/// The names of the presets, for help and errors.
pub const PRESET_NAMES: &str = "default, paper";

/// A whole eval configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalFile {
    /// A Hugging Face model folder.
    pub model: Option<PathBuf>,
    /// A folder of `.txt` files or a `.jsonl` file.
    pub data: Option<PathBuf>,
    /// `f32`, `f16` or `bf16`.
    pub dtype: Option<String>,
    /// The run folder.
    pub out: Option<PathBuf>,
    /// Whether runs are timed after their perplexity.
    pub timing: Option<bool>,
    /// The passkey task.
    pub passkey: Option<PasskeyFile>,
    /// The synthetic tasks (off when absent).
    pub synthetic: Option<SyntheticFile>,
    /// The grids.
    #[serde(rename = "grid", default)]
    pub grids: Vec<GridFile>,
}

/// The passkey task's axes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyFile {
    /// Whether the task runs.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Prompt lengths.
    pub contexts: Vec<usize>,
    /// Depths of the passkey, fractions of the haystack.
    pub depths: Vec<f64>,
    /// Chunk sizes of the first grid to run it at (all when absent).
    pub chunks: Option<Vec<usize>>,
}

/// The synthetic tasks' axes (see `synthetic::SyntheticAxes`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticFile {
    /// Whether the tasks run.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Task names.
    pub tasks: Vec<String>,
    /// Context lengths full attention is tried at, shortest first.
    pub contexts: Vec<usize>,
    /// Depths of the answer.
    pub depths: Vec<f64>,
    /// Questions per length and depth.
    #[serde(default = "one")]
    pub samples: usize,
    /// Full attention's accuracy a length needs.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Chunk sizes of the first grid to run them at (all when absent).
    pub chunks: Option<Vec<usize>>,
}

fn default_threshold() -> f64 {
    super::calibration::DEFAULT_THRESHOLD
}

/// One grid.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridFile {
    tokens: usize,
    #[serde(default = "one")]
    docs: usize,
    pruners: Vec<String>,
    memory_types: Vec<String>,
    chunks: Vec<usize>,
    memories: Vec<usize>,
    incremental: Option<String>,
    #[serde(default = "yes")]
    full: bool,
    #[serde(default = "default_sinks")]
    sinks: usize,
    positions: Option<String>,
    #[serde(default)]
    step_ntk: bool,
    #[serde(default)]
    past_trained_positions: bool,
}

fn yes() -> bool {
    true
}

fn one() -> usize {
    1
}

fn default_sinks() -> usize {
    DEFAULT_SINKS
}

impl EvalFile {
    /// The preset called `name`.
    pub fn preset(name: &str) -> anyhow::Result<Self> {
        let (_, text) = PRESETS
            .iter()
            .find(|(preset, _)| *preset == name)
            .ok_or_else(|| bad_usage(format!("unknown preset '{name}'; valid: {PRESET_NAMES}")))?;
        Self::parse(text, Path::new(&format!("xtask/presets/{name}.toml")))
    }

    /// The file at `path`.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::Error::new(e).context(format!("reading {}", path.display())))?;
        Self::parse(&text, path)
    }

    /// `text`, read from `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<Self> {
        let file: Self = toml::from_str(text)
            .map_err(|e| bad_data(format!("{}: {}", path.display(), e.message())))?;
        if file.grids.is_empty() {
            return Err(bad_data(format!("{}: no [[grid]]", path.display())));
        }
        // Every name is checked now, not when its grid is reached.
        file.grids(path)?;
        file.synthetic_axes()
            .map_err(|e| bad_data(format!("{}: [synthetic]: {e}", path.display())))?;
        Ok(file)
    }

    /// The grids, their names parsed.
    pub fn grids(&self, path: &Path) -> anyhow::Result<Vec<Grid>> {
        self.grids
            .iter()
            .enumerate()
            .map(|(i, g)| {
                g.grid()
                    .map_err(|e| bad_data(format!("{}: grid {}: {e}", path.display(), i + 1)))
            })
            .collect()
    }

    /// The passkey axes (the default preset's when the file has none), or `None` when the file
    /// switches the task off.
    pub fn needle_axes(&self) -> Option<NeedleAxes> {
        match &self.passkey {
            Some(p) if !p.enabled => None,
            Some(p) => Some(NeedleAxes {
                contexts: p.contexts.clone(),
                depths: p.depths.clone(),
                chunks: p.chunks.clone(),
            }),
            // A file without the section runs the default preset's.
            None => Self::preset("default").ok()?.needle_axes(),
        }
    }

    /// The synthetic tasks' axes; `None` when the file has none or switches them off.
    pub fn synthetic_axes(&self) -> Result<Option<SyntheticAxes>, String> {
        let Some(file) = self.synthetic.as_ref().filter(|s| s.enabled) else {
            return Ok(None);
        };
        let mut contexts = file.contexts.clone();
        contexts.sort_unstable();
        contexts.dedup();
        if contexts.is_empty() || contexts[0] == 0 {
            return Err("contexts: give positive lengths".into());
        }
        if file.depths.is_empty() || file.depths.iter().any(|d| !(0.0..=1.0).contains(d)) {
            return Err(format!(
                "depths {:?}: give fractions in [0, 1]",
                file.depths
            ));
        }
        if file.samples == 0 {
            return Err("samples: at least 1".into());
        }
        if !(0.0..=1.0).contains(&file.threshold) {
            return Err(format!(
                "threshold {}: a fraction in [0, 1]",
                file.threshold
            ));
        }
        Ok(Some(SyntheticAxes {
            tasks: parse_all::<SyntheticTask>("tasks", &file.tasks)?,
            contexts,
            depths: file.depths.clone(),
            samples: file.samples,
            threshold: file.threshold,
            chunks: file.chunks.clone(),
        }))
    }
}

impl GridFile {
    fn grid(&self) -> Result<Grid, String> {
        Ok(Grid {
            doc_tokens: self.tokens,
            docs: self.docs,
            pruners: parse_all::<PrunerKind>("pruners", &self.pruners)?,
            methods: parse_all::<Method>("memory_types", &self.memory_types)?,
            chunks: self.chunks.clone(),
            memories: self.memories.clone(),
            incremental: match &self.incremental {
                Some(name) => parse::<IncrementalType>("incremental", name)?,
                None => IncrementalType::default(),
            },
            full_line: self.full,
            step_ntk: self.step_ntk,
            sinks: self.sinks,
            positions: match &self.positions {
                Some(name) => parse::<PositionMode>("positions", name)?,
                None => PositionMode::default(),
            },
            past_trained_positions: self.past_trained_positions,
        })
    }
}

fn parse<T: FromStr>(field: &str, name: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    name.parse().map_err(|e| format!("{field}: {e}"))
}

fn parse_all<T: FromStr>(field: &str, names: &[String]) -> Result<Vec<T>, String>
where
    T::Err: std::fmt::Display,
{
    names.iter().map(|name| parse(field, name)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_presets_parse() {
        let default = EvalFile::preset("default").unwrap();
        let grids = default.grids(Path::new("default")).unwrap();
        assert_eq!(grids.len(), 1);
        assert_eq!(grids[0].runs().len(), 1 + 3 * 3);
        assert_eq!(default.needle_axes().unwrap().contexts, [2048]);
        let synthetic = default.synthetic_axes().unwrap().unwrap();
        assert_eq!(synthetic.tasks, SyntheticTask::ALL);
        assert_eq!((synthetic.contexts[0], synthetic.threshold), (512, 0.8));
        let paper = EvalFile::preset("paper").unwrap();
        let grids = paper.grids(Path::new("paper")).unwrap();
        assert_eq!(grids.len(), 3);
        assert_eq!(grids.iter().filter(|g| g.step_ntk).count(), 1);
        assert_eq!(paper.needle_axes().unwrap().chunks, Some(vec![1024]));
        assert!(EvalFile::preset("huge").is_err());
    }

    #[test]
    fn bad_files_name_the_file_the_grid_and_the_field() {
        let path = Path::new("mine.toml");
        let grid = "[[grid]]\ntokens = 64\npruners = [\"snapkv\"]\nmemory_types = [\"FM\"]\n\
                    chunks = [16]\nmemories = [8]\n";
        assert!(EvalFile::parse(grid, path).is_ok());
        let unknown = grid.replace("snapkv", "snapvk");
        let err = EvalFile::parse(&unknown, path).unwrap_err().to_string();
        assert!(
            err.contains("mine.toml: grid 1: pruners") && err.contains("snapvk"),
            "{err}"
        );
        let typo = format!("{grid}chunk = [4]\n");
        let err = EvalFile::parse(&typo, path).unwrap_err().to_string();
        assert!(err.contains("mine.toml") && err.contains("chunk"), "{err}");
        let err = EvalFile::parse("model = \"m\"\n", path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no [[grid]]"), "{err}");
        let off = format!("[passkey]\nenabled = false\ncontexts = []\ndepths = []\n{grid}");
        assert!(EvalFile::parse(&off, path).unwrap().needle_axes().is_none());
        assert_eq!(
            EvalFile::parse(grid, path).unwrap().synthetic_axes(),
            Ok(None)
        );
        let synthetic = |body: &str| format!("[synthetic]\n{body}\n{grid}");
        let err = EvalFile::parse(
            &synthetic("tasks = [\"niah\"]\ncontexts = [64]\ndepths = [0.5]"),
            path,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("mine.toml: [synthetic]: tasks") && err.contains("niah"),
            "{err}"
        );
        let err = EvalFile::parse(
            &synthetic("tasks = [\"multikey\"]\ncontexts = [64]\ndepths = [1.5]"),
            path,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("depths [1.5]"), "{err}");
    }
}
