//! Helpers shared by the integration tests: golden logits and a full-cache hook (fixtures,
//! one-shot forward pass and error measure: `mss-testkit`).

#![allow(dead_code, missing_docs, unused_imports)]

use mss_core::{
    AttentionNeeds, AttentionStats, ChunkHook, ChunkPositions, ChunkedModel, LayerKv, LayerMemory,
    Logits,
};
use mss_models::Transformer;
use safetensors::SafeTensors;

pub use mss_testkit::{B, fixture, forward_all, load, logits, relative_error, tokens};

/// `input_ids` and `logits` `[T, vocab]` computed by transformers.
pub fn golden(name: &str) -> (Vec<u32>, Vec<f32>, usize) {
    let bytes = std::fs::read(fixture(name).join("golden.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let ids = st.tensor("input_ids").unwrap();
    let ids: Vec<u32> = ids
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32)
        .collect();
    let logits = st.tensor("logits").unwrap();
    let vocab = logits.shape()[2];
    let logits = logits
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (ids, logits, vocab)
}

/// Keeps every entry of every chunk: chunked prefill without pruning.
pub struct FullCache {
    pub consumed: usize,
    pub layers: Vec<Option<LayerKv<B>>>,
    pub needs: AttentionNeeds,
    pub stats: Vec<AttentionStats<B>>,
}

impl FullCache {
    pub fn new(n_layers: usize, needs: AttentionNeeds) -> Self {
        Self {
            consumed: 0,
            layers: vec![None; n_layers],
            needs,
            stats: Vec::new(),
        }
    }
}

impl ChunkHook<B> for FullCache {
    fn memory(&mut self, layer: usize) -> Option<LayerMemory<B>> {
        self.layers[layer].clone().map(|kv| LayerMemory {
            rope: mss_core::RopePositions::At(kv.positions.clone()),
            chunk_rope_start: self.consumed,
            kv,
        })
    }

    fn needs(&self, _layer: usize) -> AttentionNeeds {
        self.needs
    }

    fn record(&mut self, layer: usize, entries: LayerKv<B>, stats: AttentionStats<B>) {
        self.layers[layer] = Some(entries);
        self.stats.push(stats);
    }
}

/// Runs `ids` in chunks of `chunk` tokens through a [`FullCache`] and returns all logits.
pub fn chunked_logits(
    model: &Transformer<B>,
    ids: &[u32],
    chunk: usize,
    needs: AttentionNeeds,
) -> Vec<f32> {
    let mut cache = FullCache::new(model.shape().n_layers, needs);
    let mut out = Vec::new();
    for (i, piece) in ids.chunks(chunk).enumerate() {
        let start = i * chunk;
        let positions = ChunkPositions {
            document_start: start,
            rope_start: start,
        };
        let logits = model
            .forward_chunk(tokens(piece), positions, &mut cache, Logits::All)
            .unwrap();
        cache.consumed += piece.len();
        out.extend(logits.into_data().to_vec::<f32>().unwrap());
    }
    out
}
