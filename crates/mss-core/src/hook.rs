//! The per-layer hook of a chunked forward pass, and the model trait that uses it.

use burn::prelude::*;

use crate::attention::DEFAULT_QUERY_BLOCK;
use crate::{AttentionNeeds, AttentionStats, LayerKv, Result};

/// What one layer's chunk attends to in front of the chunk itself.
#[derive(Debug, Clone)]
pub struct LayerMemory<B: Backend> {
    /// Cached entries; keys are stored before RoPE.
    pub kv: LayerKv<B>,
    /// The position at which each entry's key is rotated during this step: compact positions
    /// (`0..len`, as in the paper) or the entries' document positions. Every one lies below
    /// [`chunk_rope_start`](Self::chunk_rope_start) (the memory precedes the chunk), which the
    /// model relies on to read RoPE tables built up to the chunk's end.
    pub rope: RopePositions<B>,
    /// The RoPE position of the chunk's first token in this layer (layers may hold memories of
    /// different lengths). Layers without memory use [`ChunkPositions::rope_start`].
    pub chunk_rope_start: usize,
}

/// Where a run of keys is rotated, per KV head.
///
/// A contiguous range needs no tensor: the model rotates by it directly, which spares the
/// kernels that would build, join and read per-head position tensors at every layer and step
/// (the paper's compact positions are always a range).
///
/// # Shapes
/// - `At`: `[n_kv_heads, len]`
#[derive(Debug, Clone)]
pub enum RopePositions<B: Backend> {
    /// Key `i` at position `start + i`, in every head.
    Range {
        /// The first key's position.
        start: usize,
    },
    /// Explicit positions, per head.
    At(Tensor<B, 2, Int>),
}

impl<B: Backend> RopePositions<B> {
    /// The positions of `len` keys in each of `heads` heads as a tensor `[heads, len]`.
    pub fn tensor(&self, heads: usize, len: usize, device: &B::Device) -> Tensor<B, 2, Int> {
        match self {
            Self::Range { start } => crate::per_head_range(*start..start + len, heads, device),
            Self::At(positions) => positions.clone(),
        }
    }
}

/// Where the chunk's tokens sit. A chunk is always a contiguous run of tokens, so two starts
/// describe it; positions are explicit and never derived from a cache length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPositions {
    /// Index of the chunk's first token in the whole prompt; recorded with every KV entry.
    pub document_start: usize,
    /// RoPE position of the chunk's first token in layers that have no memory this step; a
    /// layer with memory takes [`LayerMemory::chunk_rope_start`].
    pub rope_start: usize,
}

/// The narrow hook through which a chunked forward pass talks to whoever manages memory.
///
/// For every layer, in order, the model asks [`memory`](ChunkHook::memory) for the entries the
/// chunk attends to, computes the chunk's keys and values and the attention over
/// `[memory; chunk]`, and hands those entries (memory first) plus the statistics asked for by
/// [`needs`](ChunkHook::needs) to [`record`](ChunkHook::record). Visibility is structural:
/// every memory entry is visible to every chunk token, and chunk tokens see earlier chunk tokens
/// (causal). A model with a sliding window additionally hides entries whose RoPE position lies a
/// window or more behind the query's.
pub trait ChunkHook<B: Backend> {
    /// The memory `layer` attends to, or `None` for none.
    fn memory(&mut self, layer: usize) -> Option<LayerMemory<B>>;

    /// The attention statistics `layer` must report. Empty needs let the model use the fused
    /// attention kernel.
    fn needs(&self, layer: usize) -> AttentionNeeds;

    /// Queries per block when `layer` computes statistics over `keys` keys: the largest
    /// probability block held is `[n_heads, rows, keys]` f32 (see
    /// [`attend`](crate::attention::attend)). Larger blocks launch fewer kernels.
    fn query_block(&self, _layer: usize, _keys: usize) -> usize {
        DEFAULT_QUERY_BLOCK
    }

    /// Receives the entries the chunk attended to: the memory given by
    /// [`memory`](ChunkHook::memory) followed by the chunk's own entries (keys before RoPE,
    /// values, document positions), and the statistics over those keys. The model joins them
    /// once for attention, so a hook that keeps or prunes them need not join them again.
    fn record(&mut self, layer: usize, entries: LayerKv<B>, stats: AttentionStats<B>);
}

/// A hook with no memory that keeps nothing: a plain forward pass over one sequence.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMemory;

impl<B: Backend> ChunkHook<B> for NoMemory {
    fn memory(&mut self, _layer: usize) -> Option<LayerMemory<B>> {
        None
    }

    fn needs(&self, _layer: usize) -> AttentionNeeds {
        AttentionNeeds::NONE
    }

    fn record(&mut self, _layer: usize, _entries: LayerKv<B>, _stats: AttentionStats<B>) {}
}

/// The dimensions of a decoder that matter to memory management.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelShape {
    /// Number of decoder layers.
    pub n_layers: usize,
    /// Number of query heads.
    pub n_heads: usize,
    /// Number of key/value heads (GQA groups).
    pub n_kv_heads: usize,
    /// Dimension of one head.
    pub head_dim: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Context length the model was trained for.
    pub max_position_embeddings: usize,
    /// Whether the model's RoPE scaling carries it past `max_position_embeddings` (linear,
    /// dynamic NTK, Llama 3, the paper's step-wise NTK). Without it, a prefill that rotates
    /// keys at later positions is refused unless the configuration allows it.
    pub rope_scaled: bool,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Bytes per element of activations and KV entries (4 for f32, 2 for f16/bf16).
    pub dtype_bytes: usize,
    /// What the forward pass holds while it runs, as the implementation knows it.
    pub working_set: WorkingSet,
}

/// What a chunked forward pass holds besides the weights and the layers' memories: the terms
/// of the working-set prediction that depend on how the model is implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingSet {
    /// Bytes of activation buffers per chunk token.
    pub activation_bytes_per_token: usize,
    /// Bytes per `[memory; chunk]` entry of the layer being run, beyond its memory (the
    /// entries handed to the hook, rotated keys, copies), when layers run one at a time;
    /// `None` when every layer's `[memory; chunk]` may be live at once.
    pub layer_bytes_per_entry: Option<usize>,
    /// Whether attention statistics hold `[n_heads, rows, keys]` f32 probability blocks.
    pub probability_blocks: bool,
}

impl ModelShape {
    /// Query heads per KV head.
    pub fn n_rep(&self) -> usize {
        self.n_heads / self.n_kv_heads
    }
}

/// Which logits a chunked forward pass returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// One row per chunk token (perplexity needs them all).
    All,
    /// Only the last token's row (enough to start generating).
    Last,
}

/// A decoder that can be run one chunk at a time through a [`ChunkHook`].
pub trait ChunkedModel<B: Backend> {
    /// The model's dimensions.
    fn shape(&self) -> ModelShape;

    /// The device the weights live on.
    fn device(&self) -> B::Device;

    /// Bytes the model's device can still allocate, when the backend can say (a GPU); `None`,
    /// the default, otherwise. A prefill whose predicted working set passes it is refused
    /// before anything is allocated.
    fn free_device_memory(&self) -> Option<u64> {
        None
    }

    /// Runs one chunk.
    ///
    /// # Shapes
    /// - `tokens`: `[1, chunk_len]`
    /// - returns logits (f32): `[1, chunk_len, vocab]` for [`Logits::All`], `[1, 1, vocab]` for
    ///   [`Logits::Last`]
    fn forward_chunk(
        &self,
        tokens: Tensor<B, 2, Int>,
        positions: ChunkPositions,
        hook: &mut dyn ChunkHook<B>,
        logits: Logits,
    ) -> Result<Tensor<B, 3>>;

    /// Runs one chunk and scores it: `-ln p(targets[i] | the prompt up to chunk token i)` for
    /// the chunk's first `targets.len()` tokens (`targets[i]` is the token after chunk token
    /// `i`), and the last token's logits `[1, 1, vocab]`.
    ///
    /// The default takes every row's logits from [`forward_chunk`](Self::forward_chunk) and
    /// Burn's log-softmax; a model may score without holding `[chunk_len, vocab]` at once.
    ///
    /// # Errors
    /// Those of `forward_chunk`, and [`crate::CoreError::InvalidValue`] for more targets than
    /// tokens or a target outside the vocabulary.
    fn forward_chunk_nll(
        &self,
        tokens: Tensor<B, 2, Int>,
        positions: ChunkPositions,
        hook: &mut dyn ChunkHook<B>,
        targets: &[u32],
    ) -> Result<(Vec<f32>, Tensor<B, 3>)> {
        let logits = self.forward_chunk(tokens, positions, hook, Logits::All)?;
        crate::score_logits(logits, targets)
    }
}
