//! Helpers shared by the probes' integration tests: the tiny fixture models of `mss-models`.

#![allow(dead_code, missing_docs)]

use std::path::PathBuf;

use burn::tensor::DType;
use mss::{PrefillConfig, Prefiller, Transformer};
use mss_probe::Probes;

pub type B = burn::backend::Flex;

/// A tiny random-weight model of `mss-models`' fixtures: `tiny_llama` (2 layers, 4 heads, 2 KV
/// heads) or `tiny_mistral`.
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

/// Prefills `tokens` under `config` with `probes` watching; returns the prefill too.
pub fn probe(
    model: &Transformer<B>,
    tokens: &[u32],
    config: PrefillConfig,
    mut probes: Probes,
) -> (Probes, mss::Prefill<B>) {
    let prefill = Prefiller::new(config)
        .unwrap()
        .prefill_observed(model, tokens, &mut probes)
        .unwrap();
    (probes, prefill)
}

/// Document positions `[head][entry]` of a layer's final memory.
pub fn final_positions(prefill: &mss::Prefill<B>, layer: usize) -> Vec<Vec<i64>> {
    let positions = &prefill.memory.layer(layer).unwrap().positions;
    let [heads, len] = positions.dims();
    let flat: Vec<i64> = positions.to_data().convert::<i64>().to_vec().unwrap();
    (0..heads)
        .map(|h| flat[h * len..(h + 1) * len].to_vec())
        .collect()
}
