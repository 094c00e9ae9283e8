//! The small JSON files of a Hugging Face folder (`config.json`, `generation_config.json`,
//! `tokenizer_config.json`), with the reference converter's keys, order and values.

use serde::Serialize;

use super::OutputDtype;
use super::hparams::{Architecture, Hparams};

/// `config.json`.
#[derive(Debug, Serialize)]
pub(crate) struct HfConfig {
    architectures: [&'static str; 1],
    model_type: &'static str,
    hidden_size: u64,
    intermediate_size: u64,
    num_hidden_layers: u64,
    num_attention_heads: u64,
    num_key_value_heads: u64,
    head_dim: u64,
    hidden_act: &'static str,
    max_position_embeddings: u64,
    rope_theta: f64,
    rope_scaling: Option<()>,
    rms_norm_eps: f64,
    vocab_size: u64,
    tie_word_embeddings: bool,
    attention_bias: bool,
    mlp_bias: bool,
    bos_token_id: u64,
    eos_token_id: u64,
    pad_token_id: Option<u64>,
    torch_dtype: &'static str,
    /// Only for Mistral (null when the GGUF has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    sliding_window: Option<Option<u64>>,
}

/// Special token ids from the GGUF tokenizer metadata.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpecialIds {
    pub(crate) bos: u64,
    pub(crate) eos: u64,
    pub(crate) pad: Option<u64>,
    pub(crate) unk: u64,
}

impl HfConfig {
    pub(crate) fn new(h: &Hparams, ids: SpecialIds, tied: bool, dtype: OutputDtype) -> Self {
        Self {
            architectures: [h.arch.hf_class()],
            model_type: h.arch.gguf_name(),
            hidden_size: h.hidden,
            intermediate_size: h.ffn,
            num_hidden_layers: h.n_layer,
            num_attention_heads: h.n_head,
            num_key_value_heads: h.n_kv,
            head_dim: h.hidden / h.n_head,
            hidden_act: "silu",
            max_position_embeddings: h.ctx,
            rope_theta: h.rope_theta,
            rope_scaling: None,
            rms_norm_eps: h.eps,
            vocab_size: h.vocab_size,
            tie_word_embeddings: tied,
            attention_bias: false,
            mlp_bias: false,
            bos_token_id: ids.bos,
            eos_token_id: ids.eos,
            pad_token_id: ids.pad,
            torch_dtype: dtype.torch_name(),
            sliding_window: (h.arch == Architecture::Mistral).then_some(h.sliding_window),
        }
    }
}

/// `generation_config.json`.
#[derive(Debug, Serialize)]
pub(crate) struct GenerationConfig {
    pub(crate) bos_token_id: u64,
    pub(crate) eos_token_id: u64,
}

/// `tokenizer_config.json`.
#[derive(Debug, Serialize)]
pub(crate) struct TokenizerConfig<'a> {
    tokenizer_class: &'static str,
    bos_token: &'a str,
    eos_token: &'a str,
    unk_token: &'a str,
    pad_token: Option<&'a str>,
    add_prefix_space: bool,
    model_max_length: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    chat_template: Option<&'a str>,
}

impl<'a> TokenizerConfig<'a> {
    /// `token` looks ids up (already checked to be in range).
    pub(crate) fn new(
        token: impl Fn(u64) -> &'a str,
        ids: SpecialIds,
        ctx: u64,
        chat_template: Option<&'a str>,
    ) -> Self {
        Self {
            tokenizer_class: "GPT2Tokenizer",
            bos_token: token(ids.bos),
            eos_token: token(ids.eos),
            unk_token: token(ids.unk),
            pad_token: ids.pad.map(&token),
            add_prefix_space: false,
            model_max_length: ctx,
            chat_template: chat_template.filter(|t| !t.is_empty()),
        }
    }
}
