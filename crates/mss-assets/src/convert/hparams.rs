//! The model hyper-parameters a conversion needs, read from GGUF metadata with the
//! reference converter's defaults.

use crate::error::{AssetError, Result};
use crate::gguf::GgufFile;

/// The architectures this crate converts (llama.cpp writes Mistral models as `llama`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// `llama`: `LlamaForCausalLM`.
    Llama,
    /// `mistral`: `MistralForCausalLM`.
    Mistral,
}

impl Architecture {
    /// The GGUF name, which also prefixes its metadata keys.
    pub fn gguf_name(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Mistral => "mistral",
        }
    }

    /// The transformers class name.
    pub fn hf_class(self) -> &'static str {
        match self {
            Self::Llama => "LlamaForCausalLM",
            Self::Mistral => "MistralForCausalLM",
        }
    }
}

/// Hyper-parameters of a llama-family model.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hparams {
    pub(crate) arch: Architecture,
    pub(crate) n_head: u64,
    pub(crate) n_kv: u64,
    pub(crate) hidden: u64,
    pub(crate) n_layer: u64,
    pub(crate) ffn: u64,
    pub(crate) ctx: u64,
    pub(crate) rope_theta: f64,
    /// `rms_norm_eps` rounded to 7 significant digits, as the reference's `'%.7g'`.
    pub(crate) eps: f64,
    pub(crate) vocab_size: u64,
    pub(crate) sliding_window: Option<u64>,
}

impl Hparams {
    /// Reads the hyper-parameters; `n_tokens` is the vocabulary's length (the default
    /// vocab size).
    pub(crate) fn read(g: &GgufFile, n_tokens: usize) -> Result<Self> {
        let arch = architecture(g)?;
        let key = |k: &str| format!("{}.{k}", arch.gguf_name());
        let n_head = g.require_u64(&key("attention.head_count"))?;
        if n_head == 0 {
            return Err(g.invalid(&key("attention.head_count"), "is 0".to_owned()));
        }
        let n_kv = g
            .metadata_u64(&key("attention.head_count_kv"))?
            .unwrap_or(n_head);
        let eps_key = key("attention.layer_norm_rms_epsilon");
        let eps = g.require_f64(&eps_key)?;
        let rope_key = key("rope.freq_base");
        let rope_theta = g.metadata_f64(&rope_key)?.unwrap_or(10000.0);
        for (k, v) in [(&eps_key, eps), (&rope_key, rope_theta)] {
            if !v.is_finite() {
                return Err(g.invalid(k, format!("{v} is not a finite number")));
            }
        }
        Ok(Self {
            arch,
            n_head,
            n_kv,
            hidden: g.require_u64(&key("embedding_length"))?,
            n_layer: g.require_u64(&key("block_count"))?,
            ffn: g.require_u64(&key("feed_forward_length"))?,
            ctx: g.require_u64(&key("context_length"))?,
            rope_theta,
            eps: round_sig7(eps),
            vocab_size: g
                .metadata_u64(&key("vocab_size"))?
                .unwrap_or(n_tokens as u64),
            sliding_window: match arch {
                Architecture::Llama => None,
                Architecture::Mistral => g.metadata_u64(&key("attention.sliding_window"))?,
            },
        })
    }
}

/// `general.architecture`, checked.
pub(crate) fn architecture(g: &GgufFile) -> Result<Architecture> {
    match g.require_str("general.architecture")? {
        "llama" => Ok(Architecture::Llama),
        "mistral" => Ok(Architecture::Mistral),
        other => Err(AssetError::UnsupportedArchitecture {
            path: g.path().to_path_buf(),
            architecture: other.to_owned(),
        }),
    }
}

/// `float('%.7g' % x)`: `x` rounded to 7 significant digits.
pub(crate) fn round_sig7(x: f64) -> f64 {
    format!("{x:.6e}").parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eps_rounds_like_percent_7g() {
        // The f32 1e-5 stored in GGUF widens to 9.999999747378752e-06.
        assert_eq!(round_sig7(f64::from(1e-5f32)), 1e-5);
        assert_eq!(round_sig7(f64::from(1e-6f32)), 1e-6);
        assert_eq!(round_sig7(1.23456789e-3), 1.234568e-3);
        assert_eq!(round_sig7(0.0), 0.0);
    }
}
