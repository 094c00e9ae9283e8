//! The one construction path of a decoder: random weights or Hugging Face files, every weight
//! by its name and shape.

use std::path::Path;
use std::sync::Arc;

use burn::module::{Param, ParamId};
use burn::prelude::*;
use burn::tensor::DType;

use super::Transformer;
use crate::attention::Attention;
use crate::config::TransformerConfig;
use crate::host;
use crate::layer::DecoderLayer;
use crate::linear::Linear;
use crate::mlp::Mlp;
use crate::norm::RmsNorm;
use crate::weight_layout::Projection::{self, Down, Gate, K, O, Q, Up, V};
use crate::weight_layout::kept_as_stored;
use crate::weight_source::{FileWeights, RandomWeights, WeightSource};
use crate::weights::WeightFiles;
use crate::{ModelError, Result};

impl TransformerConfig {
    /// A model with random weights (normal, std 0.02; norms at 1) in `dtype`. Seed the backend
    /// first for reproducible weights.
    pub fn init<B: Backend>(&self, device: &B::Device, dtype: DType) -> Transformer<B> {
        let random = RandomWeights { device, dtype };
        match Transformer::build(self.clone(), &random) {
            Ok(model) => model,
            Err(e) => unreachable!("random weights have every name and shape: {e}"),
        }
    }

    /// `(hidden, query width, key/value width, feed-forward width)`.
    pub(super) fn dims(&self) -> (usize, usize, usize, usize) {
        (
            self.hidden_size,
            self.num_attention_heads * self.head_dim,
            self.num_key_value_heads * self.head_dim,
            self.intermediate_size,
        )
    }

    fn attention<B: Backend>(
        &self,
        q: Linear<B>,
        k: Linear<B>,
        v: Linear<B>,
        o: Linear<B>,
    ) -> Attention<B> {
        Attention {
            q_proj: q,
            k_proj: k,
            v_proj: v,
            o_proj: o,
            n_heads: self.num_attention_heads,
            n_kv_heads: self.num_key_value_heads,
            head_dim: self.head_dim,
            sliding_window: self.sliding_window,
        }
    }
}

impl<B: Backend> Transformer<B> {
    /// Loads a Hugging Face folder (`config.json` + `model.safetensors` or a sharded index),
    /// casting every weight to `dtype` (F32, F16 or BF16).
    pub fn load(dir: &Path, device: &B::Device, dtype: DType) -> Result<Self> {
        if !dir.is_dir() {
            return Err(ModelError::NotFound {
                what: "model folder",
                path: dir.to_owned(),
            });
        }
        let config = TransformerConfig::from_file(&dir.join("config.json"))?;
        let weights = WeightFiles::open(dir)?;
        Self::from_weights(config, &weights, device, dtype)
    }

    /// Builds the model from already opened weights.
    pub fn from_weights(
        config: TransformerConfig,
        w: &WeightFiles,
        device: &B::Device,
        dtype: DType,
    ) -> Result<Self> {
        Self::build(
            config,
            &FileWeights {
                files: w,
                device,
                dtype,
            },
        )
    }

    /// The one construction path of random init and loading: every weight by its Hugging Face
    /// name and shape, from `source`.
    fn build(config: TransformerConfig, source: &impl WeightSource<B>) -> Result<Self> {
        let (h, q, kv, ff) = config.dims();
        // A projection kept as stored: the weight stays in Hugging Face's `[out, in]` storage
        // behind a transposed view, not transposed into `[in, out]` (`Linear` reads `[in, out]`
        // either way); on Burn's CUDA backend, for the projections cuBLAS multiplies by faster
        // so (`keep_weights_as_stored`, docs/decisions.md §32).
        let cuda = on_cuda::<B>();
        let linear = |name: &str,
                      projection: Option<Projection>,
                      d_in: usize,
                      d_out: usize,
                      bias: bool|
         -> Result<Linear<B>> {
            let weight_name = format!("{name}.weight");
            let weight = match cuda && projection.is_some_and(kept_as_stored) {
                true => source.tensor(&weight_name, [d_out, d_in])?.transpose(),
                false => source.transposed(&weight_name, [d_out, d_in])?,
            };
            let bias = match bias {
                true => Some(source.tensor(&format!("{name}.bias"), [d_out])?),
                false => None,
            };
            Ok(Linear::new(weight, bias))
        };
        let norm = |name: &str| -> Result<RmsNorm<B>> {
            let weight = source.tensor(&format!("{name}.weight"), [h])?;
            Ok(RmsNorm::new(weight, config.rms_norm_eps))
        };
        // Grown as the weights arrive: a stranger's config may name any number of layers.
        let mut layers = Vec::new();
        for i in 0..config.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let (qkv_bias, o_bias, mb) = (config.qkv_bias, config.o_bias, config.mlp_bias);
            layers.push(DecoderLayer {
                input_layernorm: norm(&format!("{p}.input_layernorm"))?,
                self_attn: config.attention(
                    linear(&format!("{p}.self_attn.q_proj"), Some(Q), h, q, qkv_bias)?,
                    linear(&format!("{p}.self_attn.k_proj"), Some(K), h, kv, qkv_bias)?,
                    linear(&format!("{p}.self_attn.v_proj"), Some(V), h, kv, qkv_bias)?,
                    linear(&format!("{p}.self_attn.o_proj"), Some(O), q, h, o_bias)?,
                ),
                post_attention_layernorm: norm(&format!("{p}.post_attention_layernorm"))?,
                mlp: Mlp {
                    gate_proj: linear(&format!("{p}.mlp.gate_proj"), Some(Gate), h, ff, mb)?,
                    up_proj: linear(&format!("{p}.mlp.up_proj"), Some(Up), h, ff, mb)?,
                    down_proj: linear(&format!("{p}.mlp.down_proj"), Some(Down), ff, h, mb)?,
                },
            });
        }
        let embed_tokens = source.tensor("model.embed_tokens.weight", [config.vocab_size, h])?;
        let lm_head = if config.tie_word_embeddings {
            Linear::new(embed_tokens.clone().transpose(), None)
        } else {
            linear("lm_head", None, h, config.vocab_size, false)?
        };
        let norm = norm("model.norm")?;
        Ok(Self {
            config,
            embed_tokens: Param::initialized(ParamId::new(), embed_tokens),
            layers,
            norm,
            lm_head,
            host_kernels: true,
            host_rope: Arc::default(),
        }
        .with_fused_projections())
    }

    fn with_fused_projections(mut self) -> Self {
        host::fuse_projections(&mut self);
        self
    }
}

/// Whether `B` is Burn's CUDA backend, where weights may be kept as stored.
#[cfg_attr(not(feature = "cuda"), allow(clippy::extra_unused_type_parameters))]
fn on_cuda<B: Backend>() -> bool {
    #[cfg(feature = "cuda")]
    return mss_core::cuda::is_cuda::<B>();
    #[cfg(not(feature = "cuda"))]
    false
}
