//! A KV cache that keeps everything: full attention, run chunk by chunk.

use burn::prelude::*;
use mss_core::{AttentionNeeds, AttentionStats, ChunkHook, ChunkedModel, LayerKv, LayerMemory};

/// Keeps every entry of every chunk, at its document position. Feeding a prompt through it in
/// chunks gives the same logits as one forward pass over the whole prompt.
#[derive(Debug, Clone)]
pub struct DenseCache<B: Backend> {
    layers: Vec<Option<LayerKv<B>>>,
    consumed: usize,
}

impl<B: Backend> DenseCache<B> {
    /// An empty cache for `model`'s layers.
    pub fn new(model: &impl ChunkedModel<B>) -> Self {
        Self {
            layers: vec![None; model.shape().n_layers],
            consumed: 0,
        }
    }

    /// Number of tokens fed so far: the document position of the next token. Tracked apart from
    /// the cache length, which a pruned cache would not preserve.
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// Records that `n` more tokens were fed.
    pub fn advance(&mut self, n: usize) {
        self.consumed += n;
    }

    /// Entries held per layer and KV head.
    pub fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(Option::as_ref)
            .map_or(0, LayerKv::len)
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held by keys and values over all layers.
    pub fn bytes(&self) -> usize {
        self.layers.iter().flatten().map(LayerKv::bytes).sum()
    }
}

impl<B: Backend> ChunkHook<B> for DenseCache<B> {
    fn memory(&mut self, layer: usize) -> Option<LayerMemory<B>> {
        let kv = self.layers[layer].clone()?;
        Some(LayerMemory {
            rope_positions: kv.positions.clone(),
            kv,
        })
    }

    fn needs(&self, _layer: usize) -> AttentionNeeds {
        AttentionNeeds::NONE
    }

    fn record(&mut self, layer: usize, chunk: LayerKv<B>, _stats: AttentionStats<B>) {
        let slot = &mut self.layers[layer];
        *slot = Some(match slot.take() {
            Some(kv) => kv.cat(chunk),
            None => chunk,
        });
    }
}
