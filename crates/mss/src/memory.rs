//! The memory a prefill leaves behind, and how generation extends it.

use burn::prelude::*;
use mss_core::{
    AttentionNeeds, AttentionStats, ChunkHook, ChunkPositions, LayerKv, LayerMemory, RopePositions,
};

use crate::PositionMode;

/// Per layer: the kept KV entries (sinks first, keys before RoPE, document positions), plus the
/// number of tokens consumed so far, tracked apart from the cache length (pruning shrinks the
/// cache, not the document).
#[derive(Debug, Clone)]
pub struct Memory<B: Backend> {
    layers: Vec<Option<LayerKv<B>>>,
    consumed: usize,
    positions: PositionMode,
}

impl<B: Backend> Memory<B> {
    /// An empty memory for `n_layers` layers.
    pub fn new(n_layers: usize, positions: PositionMode) -> Self {
        Self {
            layers: vec![None; n_layers],
            consumed: 0,
            positions,
        }
    }

    /// The entries of `layer`, if any.
    pub fn layer(&self, layer: usize) -> Option<&LayerKv<B>> {
        self.layers.get(layer).and_then(Option::as_ref)
    }

    /// Entries per KV head of every layer.
    pub fn lens(&self) -> Vec<usize> {
        self.layers
            .iter()
            .map(|l| l.as_ref().map_or(0, LayerKv::len))
            .collect()
    }

    /// Number of tokens fed so far: the document position of the next token.
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// The position mode.
    pub fn positions(&self) -> PositionMode {
        self.positions
    }

    /// Bytes of keys and values over all layers.
    pub fn bytes(&self) -> usize {
        self.layers.iter().flatten().map(LayerKv::bytes).sum()
    }

    /// Positions of a chunk that follows what was consumed.
    pub fn next_chunk(&self) -> ChunkPositions {
        let rope_start = match self.positions {
            PositionMode::Compact => 0,
            PositionMode::Original => self.consumed,
        };
        ChunkPositions {
            document_start: self.consumed,
            rope_start,
        }
    }

    pub(crate) fn advance(&mut self, tokens: usize) {
        self.consumed += tokens;
    }

    pub(crate) fn take(&mut self, layer: usize) -> Option<LayerKv<B>> {
        self.layers[layer].take()
    }

    pub(crate) fn set(&mut self, layer: usize, kv: Option<LayerKv<B>>) {
        self.layers[layer] = kv;
    }

    /// What the next chunk attends to in `layer`, rotated as the position mode says.
    pub(crate) fn view(&self, layer: usize) -> Option<LayerMemory<B>> {
        let kv = self.layer(layer)?.clone();
        let (rope, chunk_rope_start) = match self.positions {
            PositionMode::Compact => (RopePositions::Range { start: 0 }, kv.len()),
            PositionMode::Original => (RopePositions::At(kv.positions.clone()), self.consumed),
        };
        Some(LayerMemory {
            kv,
            rope,
            chunk_rope_start,
        })
    }
}

/// Decoding: new tokens attend to the whole memory and are appended, never pruned.
impl<B: Backend> ChunkHook<B> for Memory<B> {
    fn memory(&mut self, layer: usize) -> Option<LayerMemory<B>> {
        self.view(layer)
    }

    fn needs(&self, _layer: usize) -> AttentionNeeds {
        AttentionNeeds::NONE
    }

    fn record(&mut self, layer: usize, entries: LayerKv<B>, _stats: AttentionStats<B>) {
        self.set(layer, Some(entries));
    }
}
