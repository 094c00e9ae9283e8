//! Converts a llama-architecture GGUF file to a Hugging Face folder exactly as the project's
//! Python reference converter (`gguf_to_hf.py`) does: `model.safetensors`, `config.json`,
//! `generation_config.json`, `tokenizer.json` and `tokenizer_config.json`.
//!
//! The folder is written under a staging name beside `out_dir` and renamed into place when
//! complete, so an interrupted conversion never leaves a folder that looks finished.

mod hf_json;
mod hparams;
mod names;
mod permute;
mod tokenizer;
mod weights;

#[cfg(test)]
pub(crate) mod tests;

use std::path::{Path, PathBuf};

pub use hparams::Architecture;
pub use names::hf_tensor_name;
pub use permute::reverse_permute;

use crate::error::{AssetError, IoContext, Result};
use crate::fsutil::Staging;
use crate::gguf::GgufFile;
use crate::pyjson::PyJson;
use hf_json::{GenerationConfig, HfConfig, SpecialIds, TokenizerConfig};
use hparams::Hparams;
use tokenizer::TokenizerJson;

/// The files of a converted folder.
pub const HF_FILES: [&str; 5] = [
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
];

/// The dtype of the written weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputDtype {
    /// 32-bit float (exact for every GGUF type handled).
    #[default]
    F32,
    /// 16-bit IEEE float (round to nearest even).
    F16,
    /// 16-bit brain float (round to nearest even).
    BF16,
}

impl OutputDtype {
    /// The `torch_dtype` written to `config.json`.
    pub fn torch_name(self) -> &'static str {
        match self {
            Self::F32 => "float32",
            Self::F16 => "float16",
            Self::BF16 => "bfloat16",
        }
    }

    fn safetensors_dtype(self) -> safetensors::Dtype {
        match self {
            Self::F32 => safetensors::Dtype::F32,
            Self::F16 => safetensors::Dtype::F16,
            Self::BF16 => safetensors::Dtype::BF16,
        }
    }
}

/// What a conversion wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertSummary {
    /// The finished folder.
    pub out_dir: PathBuf,
    /// The source architecture.
    pub architecture: Architecture,
    /// Number of tensors written.
    pub tensor_count: usize,
    /// Number of parameters written.
    pub parameter_count: u64,
    /// Whether the LM head is tied to the embeddings (no `lm_head.weight`).
    pub tied_embeddings: bool,
    /// The weights' dtype.
    pub dtype: OutputDtype,
}

/// Converts the GGUF at `gguf_path` into a Hugging Face folder at `out_dir`, which must not
/// exist or be empty.
pub fn convert_gguf_to_hf(
    gguf_path: impl AsRef<Path>,
    out_dir: impl AsRef<Path>,
    dtype: OutputDtype,
) -> Result<ConvertSummary> {
    let out_dir = out_dir.as_ref();
    if out_dir.is_dir() {
        let mut entries = std::fs::read_dir(out_dir).at("listing", out_dir)?;
        if entries.next().is_some() {
            return Err(AssetError::OutputExists {
                path: out_dir.to_path_buf(),
            });
        }
        std::fs::remove_dir(out_dir).at("removing empty", out_dir)?;
    }
    let g = GgufFile::open(gguf_path)?;
    let staging = Staging::new_dir(out_dir)?;
    let summary = write_folder(&g, staging.path(), dtype)?;
    staging.commit()?;
    Ok(ConvertSummary {
        out_dir: out_dir.to_path_buf(),
        ..summary
    })
}

/// Writes every file of the folder into `dir`.
fn write_folder(g: &GgufFile, dir: &Path, dtype: OutputDtype) -> Result<ConvertSummary> {
    // Everything that can be wrong with the metadata is checked before the tensors.
    let architecture = hparams::architecture(g)?;
    let tokens = g.require_str_array("tokenizer.ggml.tokens")?;
    let h = Hparams::read(g, tokens.len())?;
    let model = g.require_str("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(AssetError::UnsupportedTokenizer {
            path: g.path().to_path_buf(),
            model: model.to_owned(),
        });
    }
    let merges = g.require_str_array("tokenizer.ggml.merges")?;
    let token_types = g.require_i64_array("tokenizer.ggml.token_type")?;
    if token_types.len() != tokens.len() {
        return Err(g.invalid(
            "tokenizer.ggml.token_type",
            format!(
                "has {} entries for {} tokens",
                token_types.len(),
                tokens.len()
            ),
        ));
    }
    let pre = g.metadata_str("tokenizer.ggml.pre")?;
    let chat_template = g.metadata_str("tokenizer.chat_template")?;
    let ids = special_ids(g, tokens.len())?;
    weights::check_tensors(g)?;

    let usize_of = |v: u64, key: &str| {
        let key = format!("{}.{key}", architecture.gguf_name());
        usize::try_from(v).map_err(|_| g.invalid(&key, format!("{v} is too large")))
    };
    let n_head = usize_of(h.n_head, "attention.head_count")?;
    let n_kv = usize_of(h.n_kv, "attention.head_count_kv")?;
    let mut tensors = Vec::with_capacity(g.tensors().len());
    let mut parameter_count = 0;
    for t in g.tensors() {
        tensors.push(weights::convert_tensor(g, t, n_head, n_kv, dtype)?);
        parameter_count += t.n_elements;
    }
    let tied = !tensors.iter().any(|(n, _)| n == "lm_head.weight");
    weights::write_safetensors(&dir.join("model.safetensors"), &tensors)?;

    let indented = PyJson {
        indent: true,
        ensure_ascii: true,
    };
    write_json(
        dir,
        "config.json",
        indented,
        &HfConfig::new(&h, ids, tied, dtype),
    )?;
    let generation = GenerationConfig {
        bos_token_id: ids.bos,
        eos_token_id: ids.eos,
    };
    write_json(dir, "generation_config.json", indented, &generation)?;
    let tokenizer = TokenizerJson::new(&tokens, &token_types, &merges, pre);
    let compact = PyJson {
        indent: false,
        ensure_ascii: false,
    };
    write_json(dir, "tokenizer.json", compact, &tokenizer)?;
    let token = |id: u64| tokens[id as usize];
    let tcfg = TokenizerConfig::new(token, ids, h.ctx, chat_template);
    write_json(dir, "tokenizer_config.json", indented, &tcfg)?;

    Ok(ConvertSummary {
        out_dir: dir.to_path_buf(),
        architecture,
        tensor_count: tensors.len(),
        parameter_count,
        tied_embeddings: tied,
        dtype,
    })
}

/// bos / eos / pad / unk ids, each checked to name a token.
fn special_ids(g: &GgufFile, n_tokens: usize) -> Result<SpecialIds> {
    let check = |key: &str, id: u64| {
        if id < n_tokens as u64 {
            Ok(id)
        } else {
            Err(g.invalid(key, format!("token id {id} is past the {n_tokens} tokens")))
        }
    };
    let bos_key = "tokenizer.ggml.bos_token_id";
    let eos_key = "tokenizer.ggml.eos_token_id";
    let pad_key = "tokenizer.ggml.padding_token_id";
    let unk_key = "tokenizer.ggml.unknown_token_id";
    let bos = check(bos_key, g.require_u64(bos_key)?)?;
    let eos = check(eos_key, g.require_u64(eos_key)?)?;
    let pad = g
        .metadata_u64(pad_key)?
        .map(|p| check(pad_key, p))
        .transpose()?;
    let unk = check(unk_key, g.metadata_u64(unk_key)?.unwrap_or(eos))?;
    Ok(SpecialIds { bos, eos, pad, unk })
}

fn write_json<T: serde::Serialize>(dir: &Path, name: &str, opts: PyJson, value: &T) -> Result<()> {
    let path = dir.join(name);
    let bytes = opts.to_vec(value).map_err(|source| AssetError::Json {
        path: path.clone(),
        source,
    })?;
    std::fs::write(&path, bytes).at("writing", &path)
}
