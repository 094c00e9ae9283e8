//! The Llama / Mistral decoder: the module, its construction (`build`) and its chunked forward
//! pass through Burn's operations (`forward`; an f32 model on the CPU runs `crate::host`'s).

mod build;
mod forward;

use std::sync::Arc;

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::DType;
use mss_core::{ChunkHook, ChunkPositions, ChunkedModel, Logits, ModelShape, WorkingSet};

use crate::config::TransformerConfig;
use crate::host::{self, HostWeights, RopeCache};
use crate::layer::DecoderLayer;
use crate::linear::Linear;
use crate::norm::RmsNorm;
use crate::{ModelError, Result};

/// A Llama, Mistral or Qwen2 decoder with its LM head: a Burn module, so it nests in a module
/// of yours, moves with `to_device` and saves and loads with Burn's recorders (the
/// configuration is not part of the record: build the model from it, then load the record).
#[derive(Module, Debug)]
pub struct Transformer<B: Backend> {
    /// The configuration it was built from.
    #[module(skip)]
    pub config: TransformerConfig,
    /// Token embedding `[vocab, hidden]`.
    pub embed_tokens: Param<Tensor<B, 2>>,
    /// Decoder layers.
    pub layers: Vec<DecoderLayer<B>>,
    /// Final norm.
    pub norm: RmsNorm<B>,
    /// LM head (the transposed embedding when tied).
    pub lm_head: Linear<B>,
    /// Whether an f32 model on the Flex backend runs the host path (on by default).
    pub(crate) host_kernels: bool,
    /// RoPE tables of the host path, shared by every chunk.
    #[module(skip)]
    pub(crate) host_rope: Arc<RopeCache>,
}

impl<B: Backend> Transformer<B> {
    /// Checks token ids against the vocabulary before they reach the embedding.
    pub fn check_tokens(&self, tokens: &[u32]) -> Result<()> {
        let vocab_size = self.config.vocab_size;
        match tokens.iter().position(|&id| id as usize >= vocab_size) {
            Some(index) => Err(ModelError::TokenOutOfVocabulary {
                id: tokens[index],
                index,
                vocab_size,
            }),
            None => Ok(()),
        }
    }

    /// The dtype of the weights.
    pub fn dtype(&self) -> DType {
        self.embed_tokens.val().dtype()
    }

    /// Whether an f32 model on the Flex (CPU) backend runs its forward pass through the
    /// project's own host kernels (the default) or through Burn's generic operations, which
    /// every other backend and dtype uses. Both compute the same function; the host path is
    /// several times faster (docs/results/cpu-speed.md).
    pub fn with_host_kernels(mut self, enabled: bool) -> Self {
        self.host_kernels = enabled;
        self
    }

    /// The same weights rotated with another RoPE scaling (the paper's step-wise NTK, say):
    /// the scaling is chosen when a model is built for a run, not changed under a model in use.
    /// The weights are shared, not copied.
    pub fn with_rope_scaling(mut self, scaling: crate::RopeScaling) -> Self {
        self.config.rope_scaling = scaling;
        self
    }

    /// Whether the forward pass runs on the host path.
    pub fn uses_host_kernels(&self) -> bool {
        self.host_weights().is_some()
    }

    /// What the forward pass holds while it runs (see [`WorkingSet`]).
    fn working_set(&self) -> WorkingSet {
        let (h, q, kv, ff) = self.config.dims();
        let bytes = self.dtype().size();
        if self.uses_host_kernels() {
            // host/forward.rs: the residual, its normalised copy, q|k|v, the rotated queries,
            // the attention output and the attention tasks' outputs, gate|up, and gemm's packed
            // copy of a product's input (up to 512 of its columns at a time). The running
            // layer holds its entries (K and V), its rotated keys and a host copy of its memory
            // (counted for every entry: an upper bound).
            WorkingSet {
                activation_bytes_per_token: bytes * (2 * h + (q + 2 * kv) + 3 * q + 2 * ff + 512),
                layer_bytes_per_entry: Some(bytes * kv * (2 + 1 + 2)),
                probability_blocks: false,
            }
        } else {
            // Burn's operations: about eight hidden-sized activations per token live at once
            // (the cost model's default), every layer's `[memory; chunk]` as an upper bound.
            WorkingSet {
                activation_bytes_per_token: bytes * h * 8,
                layer_bytes_per_entry: None,
                probability_blocks: true,
            }
        }
    }

    /// The weights as host slices, when the host path applies.
    fn host_weights(&self) -> Option<HostWeights> {
        self.host_kernels.then(|| HostWeights::of(self)).flatten()
    }
}

impl<B: Backend> ChunkedModel<B> for Transformer<B> {
    fn shape(&self) -> ModelShape {
        let c = &self.config;
        ModelShape {
            n_layers: c.num_hidden_layers,
            n_heads: c.num_attention_heads,
            n_kv_heads: c.num_key_value_heads,
            head_dim: c.head_dim,
            vocab_size: c.vocab_size,
            max_position_embeddings: c.max_position_embeddings,
            rope_scaled: c.rope_scaling != crate::RopeScaling::None,
            hidden_size: c.hidden_size,
            dtype_bytes: self.dtype().size(),
            working_set: self.working_set(),
        }
    }

    fn device(&self) -> B::Device {
        self.embed_tokens.val().device()
    }

    fn free_device_memory(&self) -> Option<u64> {
        #[cfg(feature = "cuda")]
        {
            let device: Box<dyn std::any::Any> = Box::new(self.device());
            if let Ok(device) = device.downcast::<cubecl::cuda::CudaDevice>() {
                return crate::cuda::device_free_memory(&device);
            }
        }
        None
    }

    fn forward_chunk(
        &self,
        tokens: Tensor<B, 2, Int>,
        positions: ChunkPositions,
        hook: &mut dyn ChunkHook<B>,
        logits: Logits,
    ) -> mss_core::Result<Tensor<B, 3>> {
        check_chunk(&tokens)?;
        if let Some(weights) = self.host_weights() {
            return host::forward_chunk(self, &weights, tokens, positions, hook, logits);
        }
        self.burn_forward_chunk(tokens, positions, hook, logits)
    }

    fn forward_chunk_nll(
        &self,
        tokens: Tensor<B, 2, Int>,
        positions: ChunkPositions,
        hook: &mut dyn ChunkHook<B>,
        targets: &[u32],
    ) -> mss_core::Result<(Vec<f32>, Tensor<B, 3>)> {
        check_chunk(&tokens)?;
        if let Some(weights) = self.host_weights() {
            return host::forward_chunk_nll(self, &weights, tokens, positions, hook, targets);
        }
        mss_core::check_targets(targets, tokens.dims()[1], self.config.vocab_size)?;
        let logits = self.burn_forward_chunk(tokens, positions, hook, Logits::All)?;
        mss_core::score_logits(logits, targets)
    }
}

/// Refuses an empty chunk.
fn check_chunk<B: Backend>(tokens: &Tensor<B, 2, Int>) -> mss_core::Result<()> {
    if tokens.dims()[1] == 0 {
        return Err(mss_core::CoreError::InvalidValue {
            what: "chunk".into(),
            reason: "a chunk needs at least one token".into(),
        });
    }
    Ok(())
}
