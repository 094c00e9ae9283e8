//! Helpers shared by the facade's integration tests.

#![allow(dead_code, missing_docs)]

use std::path::PathBuf;

use burn::prelude::*;
use burn::tensor::DType;
use mss::Transformer;
use mss::core::{ChunkPositions, ChunkedModel, Logits, NoMemory};

pub type B = burn::backend::Flex;

/// A tiny random-weight model of `mss-models`' golden fixtures: `tiny_llama` or `tiny_mistral`.
pub fn tiny(name: &str) -> Transformer<B> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../mss-models/tests/fixtures")
        .join(name);
    Transformer::load(&dir, &Default::default(), DType::F32).unwrap()
}

/// Deterministic pseudo-random token ids below `vocab`.
pub fn ids(n: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 33) % vocab as u64) as u32
        })
        .collect()
}

/// Logits `[L, vocab]` of one forward pass over the whole sequence.
pub fn one_shot_logits(model: &Transformer<B>, ids: &[u32]) -> Vec<f32> {
    let data: Vec<i32> = ids.iter().map(|&i| i as i32).collect();
    let tokens =
        Tensor::<B, 2, Int>::from_data(TensorData::new(data, [1, ids.len()]), &Default::default());
    let positions = ChunkPositions {
        document_start: 0,
        rope_start: 0,
    };
    model
        .forward_chunk(tokens, positions, &mut NoMemory, Logits::All)
        .unwrap()
        .into_data()
        .to_vec()
        .unwrap()
}

/// `-log p(ids[i+1] | ids[..=i])` from one forward pass.
pub fn one_shot_nll(model: &Transformer<B>, ids: &[u32]) -> Vec<f32> {
    let vocab = model.config.vocab_size;
    let logits = one_shot_logits(model, ids);
    (0..ids.len() - 1)
        .map(|i| {
            let row = &logits[i * vocab..(i + 1) * vocab];
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f32>().ln();
            lse - row[ids[i + 1] as usize]
        })
        .collect()
}

/// max |a - b| / max |b|.
pub fn relative_error(actual: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(actual.len(), expected.len());
    let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
    actual
        .iter()
        .zip(expected)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
        / scale
}
