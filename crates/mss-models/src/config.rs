//! A decoder's configuration: the shapes the model is built from, validated. Read from a Hugging
//! Face `config.json` by `hf_config`.

use burn::config::Config;

use crate::rope::RopeScaling;

/// The most elements one weight matrix may have (2^40: 2 TB in bf16), so that sizes read from
/// a stranger's config never drive an absurd allocation or overflow a product.
const MAX_MATRIX_ELEMENTS: usize = 1 << 40;

/// Which decoder family a config describes. Mistral is the Llama decoder plus (in v0.1) a
/// sliding attention window; Qwen2 is the Llama decoder with biases on the q/k/v projections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Architecture {
    /// `model_type: "llama"`.
    Llama,
    /// `model_type: "mistral"`.
    Mistral,
    /// `model_type: "qwen2"`.
    Qwen2,
}

/// A validated decoder configuration, read from `config.json` or built by hand (tests, presets).
/// A Burn `Config`: it saves and loads as JSON of its own (`save`, `load`) beside a record of
/// the model's weights.
#[derive(Config, Debug, PartialEq)]
pub struct TransformerConfig {
    /// Decoder family.
    pub architecture: Architecture,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the SwiGLU feed-forward layer.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (GQA); equal to `num_attention_heads` for MHA.
    pub num_key_value_heads: usize,
    /// Dimension of one head.
    pub head_dim: usize,
    /// Context length the model was trained for.
    pub max_position_embeddings: usize,
    /// RoPE base.
    pub rope_theta: f64,
    /// RoPE frequency scaling.
    pub rope_scaling: RopeScaling,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Whether the LM head reuses the token embedding.
    pub tie_word_embeddings: bool,
    /// Mistral v0.1's sliding attention window, in positions.
    pub sliding_window: Option<usize>,
    /// Whether the q/k/v projections carry a bias (Llama's `attention_bias`; always for Qwen2).
    pub qkv_bias: bool,
    /// Whether the attention's output projection carries a bias (Llama's `attention_bias`;
    /// never for Qwen2).
    pub o_bias: bool,
    /// Whether the feed-forward projections carry a bias.
    pub mlp_bias: bool,
    /// Token ids that end generation.
    pub eos_token_ids: Vec<u32>,
    /// Token id that begins a sequence, if any.
    pub bos_token_id: Option<u32>,
}

impl TransformerConfig {
    /// The shape of SmolLM2-135M-Instruct, the default model (30 layers, hidden 576, 9 query
    /// heads over 3 KV heads of 64, vocabulary 49,152, tied embeddings): with
    /// [`init`](Self::init), a random-weight model for timings, which do not depend on the
    /// weights.
    pub fn smollm2_135m() -> Self {
        Self {
            architecture: Architecture::Llama,
            vocab_size: 49152,
            hidden_size: 576,
            intermediate_size: 1536,
            num_hidden_layers: 30,
            num_attention_heads: 9,
            num_key_value_heads: 3,
            head_dim: 64,
            max_position_embeddings: 8192,
            rope_theta: 100_000.0,
            rope_scaling: RopeScaling::None,
            rms_norm_eps: 1e-5,
            tie_word_embeddings: true,
            sliding_window: None,
            qkv_bias: false,
            o_bias: false,
            mlp_bias: false,
            eos_token_ids: vec![2],
            bos_token_id: Some(1),
        }
    }

    /// The shape of LLaMA-2-7B, the paper's model (32 layers, hidden 4096, 32 heads of 128 with
    /// as many KV heads, MLP 11,008, vocabulary 32,000): with [`init`](Self::init), a
    /// random-weight model for GPU timings (13.5 GB in bf16), the same shape as the PyTorch
    /// yardstick's `llama2-7b`.
    pub fn llama2_7b() -> Self {
        Self {
            vocab_size: 32000,
            hidden_size: 4096,
            intermediate_size: 11008,
            num_hidden_layers: 32,
            num_attention_heads: 32,
            num_key_value_heads: 32,
            head_dim: 128,
            max_position_embeddings: 4096,
            rope_theta: 10_000.0,
            tie_word_embeddings: false,
            ..Self::smollm2_135m()
        }
    }
    /// Checks the invariants the model relies on.
    pub fn validate(&self) -> std::result::Result<(), (&'static str, String)> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err((field, "must be positive".into()));
        }
        if !self
            .num_attention_heads
            .is_multiple_of(self.num_key_value_heads)
        {
            return Err((
                "num_key_value_heads",
                format!(
                    "{} does not divide num_attention_heads = {}",
                    self.num_key_value_heads, self.num_attention_heads
                ),
            ));
        }
        if self.head_dim == 0 || !self.head_dim.is_multiple_of(2) {
            return Err((
                "head_dim",
                format!("{} must be positive and even", self.head_dim),
            ));
        }
        // Every weight matrix (`hidden_size` × a width) must have a computable element count
        // (a stranger's sizes could overflow it) and a plausible one.
        let widths = [
            (
                "num_attention_heads",
                self.num_attention_heads.checked_mul(self.head_dim),
            ),
            (
                "num_key_value_heads",
                self.num_key_value_heads.checked_mul(self.head_dim),
            ),
            ("vocab_size", Some(self.vocab_size)),
            ("intermediate_size", Some(self.intermediate_size)),
        ];
        for (field, width) in widths {
            let elements = width.and_then(|w| w.checked_mul(self.hidden_size));
            if elements.is_none_or(|n| n > MAX_MATRIX_ELEMENTS) {
                return Err((
                    field,
                    format!(
                        "makes a weight matrix of more than 2^40 elements (hidden_size {}, \
                         head_dim {})",
                        self.hidden_size, self.head_dim
                    ),
                ));
            }
        }
        if self.sliding_window == Some(0) {
            return Err(("sliding_window", "must be positive or null".into()));
        }
        if self.rope_theta.is_nan() || self.rope_theta <= 0.0 {
            return Err((
                "rope_theta",
                format!("{} must be positive", self.rope_theta),
            ));
        }
        if self.rms_norm_eps.is_nan() || self.rms_norm_eps < 0.0 {
            return Err((
                "rms_norm_eps",
                format!("{} must be non-negative", self.rms_norm_eps),
            ));
        }
        self.rope_scaling
            .validate()
            .map_err(|reason| ("rope_scaling", reason))
    }
}
