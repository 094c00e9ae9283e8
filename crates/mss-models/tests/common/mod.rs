//! Helpers shared by the integration tests: fixtures, a full-cache hook, error measures.

#![allow(dead_code, missing_docs)]

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::DType;
use mss_core::{
    AttentionNeeds, AttentionStats, ChunkHook, ChunkPositions, ChunkedModel, LayerKv, LayerMemory,
    Logits, NoMemory,
};
use mss_models::Transformer;
use safetensors::SafeTensors;

pub type B = burn::backend::Flex;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

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

pub fn load(name: &str, dtype: DType) -> Transformer<B> {
    Transformer::load(&fixture(name), &Default::default(), dtype).unwrap()
}

pub fn tokens(ids: &[u32]) -> Tensor<B, 2, Int> {
    let data: Vec<i32> = ids.iter().map(|&i| i as i32).collect();
    Tensor::from_data(TensorData::new(data, [1, ids.len()]), &Default::default())
}

/// Logits `[1, T, vocab]` of one forward pass over the whole of `ids`, without memory.
pub fn forward_all(model: &Transformer<B>, ids: &[u32]) -> Tensor<B, 3> {
    let positions = ChunkPositions {
        document_start: 0,
        rope_start: 0,
    };
    model
        .forward_chunk(tokens(ids), positions, &mut NoMemory, Logits::All)
        .unwrap()
}

/// [`forward_all`] as a flat vector.
pub fn logits(model: &Transformer<B>, ids: &[u32]) -> Vec<f32> {
    forward_all(model, ids).into_data().to_vec().unwrap()
}

/// max |a - b| / max |b|.
pub fn relative_error(actual: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(actual.len(), expected.len());
    let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = actual
        .iter()
        .zip(expected)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
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
            rope_positions: kv.positions.clone(),
            chunk_rope_start: self.consumed,
            kv,
        })
    }

    fn needs(&self, _layer: usize) -> AttentionNeeds {
        self.needs
    }

    fn record(&mut self, layer: usize, chunk: LayerKv<B>, stats: AttentionStats<B>) {
        let slot = &mut self.layers[layer];
        *slot = Some(match slot.take() {
            Some(kv) => kv.cat(chunk),
            None => chunk,
        });
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
