//! The Llama / Mistral decoder: construction, loading and the chunked forward pass.

use std::path::Path;
use std::sync::Arc;

use burn::module::{Param, ParamId};
use burn::prelude::*;
use burn::tensor::module::embedding;
use burn::tensor::{DType, FloatDType};
use mss_core::{
    ChunkHook, ChunkPositions, ChunkedModel, Logits, ModelShape, WorkingSet, per_head_range,
};

use crate::attention::{Attention, StepContext};
use crate::config::TransformerConfig;
use crate::host::{self, HostWeights, RopeCache};
use crate::layer::{DecoderLayer, Residual};
use crate::linear::Linear;
use crate::mlp::Mlp;
use crate::norm::RmsNorm;
use crate::rope::{RopeTable, inv_freq};
use crate::weight_layout::Projection::{self, Down, Gate, K, O, Q, Up, V};
use crate::weight_layout::kept_as_stored;
use crate::weight_source::{FileWeights, RandomWeights, WeightSource};
use crate::weights::WeightFiles;
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
    fn dims(&self) -> (usize, usize, usize, usize) {
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

impl<B: Backend> Transformer<B> {
    /// RoPE tables of a chunk of `c` tokens starting at RoPE position `rope_start`.
    fn step_context(
        &self,
        rope_start: usize,
        c: usize,
        document_positions: Tensor<B, 2, Int>,
    ) -> StepContext<B> {
        let config = &self.config;
        let last_position = rope_start + c - 1;
        let inv_freq = inv_freq(
            config.rope_theta,
            config.head_dim,
            config.rope_scaling,
            last_position,
        );
        let device = self.device();
        let rope_positions =
            Tensor::<B, 1, Int>::arange(rope_start as i64..(rope_start + c) as i64, &device);
        let table = RopeTable::new(last_position + 1, &inv_freq, self.dtype(), &device);
        StepContext {
            table,
            rope_positions,
            document_positions,
            rope_start,
            last_position,
            visible_queries: Default::default(),
        }
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

impl<B: Backend> Transformer<B> {
    /// The forward pass through Burn's operations (every backend and dtype).
    fn burn_forward_chunk(
        &self,
        tokens: Tensor<B, 2, Int>,
        positions: ChunkPositions,
        hook: &mut dyn ChunkHook<B>,
        logits: Logits,
    ) -> mss_core::Result<Tensor<B, 3>> {
        let c = tokens.dims()[1];
        let document = positions.document_start;
        let document_positions = per_head_range(
            document..document + c,
            self.config.num_key_value_heads,
            &self.device(),
        );
        // Layers may hold memories of different lengths and so start the chunk at different
        // RoPE positions; each distinct start gets its tables once.
        let mut steps: Vec<StepContext<B>> = Vec::new();
        let mut residual = Residual::new(embedding(self.embed_tokens.val(), tokens));
        for (i, layer) in self.layers.iter().enumerate() {
            let memory = hook.memory(i);
            let rope_start = memory
                .as_ref()
                .map_or(positions.rope_start, |m| m.chunk_rope_start);
            let index = match steps.iter().position(|s| s.rope_start == rope_start) {
                Some(index) => index,
                None => {
                    steps.push(self.step_context(rope_start, c, document_positions.clone()));
                    steps.len() - 1
                }
            };
            let keys = memory.as_ref().map_or(0, |m| m.kv.len()) + c;
            let query_block = hook.query_block(i, keys);
            let (next, entries, stats) =
                layer.forward(residual, &steps[index], memory, hook.needs(i), query_block)?;
            hook.record(i, entries, stats);
            residual = next;
        }
        let residual = match logits {
            Logits::All => residual,
            Logits::Last => residual.narrow(c - 1, 1),
        };
        let (_, normed) = residual.add_and_norm(&self.norm);
        Ok(self.lm_head.forward(normed).cast(FloatDType::F32))
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

/// Whether `B` is Burn's CUDA backend, where weights may be kept as stored.
#[cfg_attr(not(feature = "cuda"), allow(clippy::extra_unused_type_parameters))]
fn on_cuda<B: Backend>() -> bool {
    #[cfg(feature = "cuda")]
    return mss_core::cuda::is_cuda::<B>();
    #[cfg(not(feature = "cuda"))]
    false
}
