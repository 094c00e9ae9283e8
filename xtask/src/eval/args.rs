//! `EvalArgs` resolved: the configuration file under the flags, the grids and the tasks'
//! axes they give, and where the results go.

use std::path::{Path, PathBuf};

use mss_examples::Precision;

use super::EvalArgs;
use super::config_file::EvalFile;
use super::grid::{Grid, NeedleAxes};
use super::synthetic::SyntheticAxes;

impl EvalArgs {
    /// The configuration file (the preset's, or `--config`), with its values filled in where
    /// no flag was given.
    pub fn resolve(mut self) -> anyhow::Result<(Self, EvalFile)> {
        let file = match &self.config {
            Some(path) => EvalFile::read(path)?,
            None => EvalFile::preset(&self.preset)?,
        };
        if self.model.is_none() {
            self.model.clone_from(&file.model);
        }
        if self.data.is_none() {
            self.data.clone_from(&file.data);
        }
        if self.out.is_none() {
            self.out.clone_from(&file.out);
        }
        if self.dtype.is_none()
            && let Some(name) = &file.dtype
        {
            let dtype = <Precision as clap::ValueEnum>::from_str(name, true).map_err(|_| {
                mss_examples::exit::bad_data(format!("dtype '{name}': f32, f16 or bf16"))
            })?;
            self.dtype = Some(dtype);
        }
        self.no_timing |= file.timing == Some(false);
        self.no_passkey |= file.needle_axes().is_none();
        Ok((self, file))
    }

    /// The synthetic tasks' axes (the file's, with `--synthetic-contexts`); `None` when off.
    pub fn synthetic_axes(&self, file: &EvalFile) -> anyhow::Result<Option<SyntheticAxes>> {
        let axes = file
            .synthetic_axes()
            .map_err(mss_examples::exit::bad_data)?;
        Ok(axes.filter(|_| !self.no_synthetic).map(|mut axes| {
            if let Some(contexts) = &self.synthetic_contexts {
                axes.contexts.clone_from(contexts);
                axes.contexts.sort_unstable();
                axes.contexts.dedup();
            }
            axes
        }))
    }

    /// The passkey task's axes (the file's, with the `--passkey-*` flags); `None` when off.
    pub fn needle_axes(&self, file: &EvalFile) -> Option<NeedleAxes> {
        let axes = file.needle_axes().filter(|_| !self.no_passkey)?;
        Some(NeedleAxes {
            contexts: self.passkey_contexts.clone().unwrap_or(axes.contexts),
            depths: self.passkey_depths.clone().unwrap_or(axes.depths),
            chunks: self.passkey_chunks.clone().or(axes.chunks),
        })
    }

    /// This process's file of `stem` records in `out`: `stem.jsonl`, or the shard's own.
    pub fn file_of(&self, out: &Path, stem: &str) -> PathBuf {
        out.join(match &self.shard {
            Some(shard) => shard.file(stem),
            None => format!("{stem}.jsonl"),
        })
    }

    /// Timed prefills per run: none with `--no-timing`.
    pub fn timed_prefills(&self) -> usize {
        match self.no_timing {
            true => 0,
            false => self.repeats,
        }
    }

    /// The dtype (f32 unless given).
    pub fn dtype(&self) -> Precision {
        self.dtype.unwrap_or(Precision::F32)
    }

    /// The name of the configuration: the preset's, or the file's stem.
    pub fn name(&self) -> String {
        match &self.config {
            Some(path) => path
                .file_stem()
                .map_or_else(|| "config".into(), |s| s.to_string_lossy().into_owned()),
            None => self.preset.clone(),
        }
    }

    /// The grids of the file, each axis a flag gives replaced by it, checked.
    pub fn grids(&self, file: &EvalFile) -> anyhow::Result<Vec<Grid>> {
        let path = self
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from(&self.preset));
        let mut grids = file.grids(&path)?;
        for g in &mut grids {
            if let Some(v) = &self.pruners {
                g.pruners.clone_from(v);
            }
            if let Some(v) = &self.methods {
                g.methods.clone_from(v);
            }
            if let Some(v) = &self.chunks {
                g.chunks.clone_from(v);
            }
            if let Some(v) = &self.memories {
                g.memories.clone_from(v);
            }
            if let Some(v) = self.incremental {
                g.incremental = v;
            }
            if let Some(v) = self.tokens {
                g.doc_tokens = v;
            }
            if let Some(v) = self.docs {
                g.docs = v;
            }
            if let Some(v) = self.sinks {
                g.sinks = v;
            }
            if let Some(v) = self.positions {
                g.positions = v;
            }
            g.full_line &= !self.no_full;
            g.step_ntk |= self.step_ntk;
            g.past_trained_positions |= self.past_trained_positions;
            g.check()?;
        }
        Ok(grids)
    }

    /// The run folder: `--out`, or by default each model and dtype its own.
    pub fn out_folder(&self) -> PathBuf {
        if let Some(out) = &self.out {
            return out.clone();
        }
        let root = PathBuf::from("target/eval");
        match (&self.model, self.dtype()) {
            (None, Precision::F32) => root.join(self.name()),
            (model, dtype) => {
                let model = model
                    .as_deref()
                    .map_or_else(|| "SmolLM2-135M-Instruct".into(), folder_name);
                root.join(format!("{}-{model}-{}", self.name(), dtype.name()))
            }
        }
    }
}

/// The last component of a folder's path (`SmolLM2-135M-Instruct`).
pub fn folder_name(dir: &Path) -> String {
    dir.canonicalize()
        .unwrap_or_else(|_| dir.to_owned())
        .file_name()
        .map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
}
