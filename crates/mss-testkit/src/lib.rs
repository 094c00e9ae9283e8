//! Test helpers shared by the workspace's tests (a dev-dependency only): the tiny random-weight
//! models of `mss-models`' golden fixtures, deterministic token ids, a one-shot forward pass and
//! a relative error.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::DType;
use mss_core::{ChunkPositions, ChunkedModel, Logits, NoMemory};
use mss_models::Transformer;

/// The backend of the tests.
pub type B = burn::backend::Flex;

/// The folder of a golden fixture of `mss-models`: `tiny_llama`, `tiny_llama_dynamic` or
/// `tiny_mistral` (made by `scripts/make_golden_fixtures.py`).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mss-models/tests/fixtures")
        .join(name)
}

/// A fixture model in `dtype`.
pub fn load(name: &str, dtype: DType) -> Transformer<B> {
    Transformer::load(&fixture(name), &Default::default(), dtype)
        .unwrap_or_else(|e| panic!("loading the fixture {name}: {e}"))
}

/// A fixture model in f32 (`tiny_llama`: 2 layers, 4 heads, 2 KV heads).
pub fn tiny(name: &str) -> Transformer<B> {
    load(name, DType::F32)
}

/// `n` deterministic pseudo-random token ids below `vocab` (a 64-bit LCG seeded by `seed`).
pub fn ids(n: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let step = |x: u64| {
        x.wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407)
    };
    let mut x = step(seed);
    (0..n)
        .map(|_| {
            x = step(x);
            ((x >> 33) % vocab as u64) as u32
        })
        .collect()
}

/// Token ids as a `[1, T]` tensor.
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
        .expect("a one-shot forward pass")
}

/// [`forward_all`] as a flat vector, `T × vocab`.
pub fn logits(model: &Transformer<B>, ids: &[u32]) -> Vec<f32> {
    forward_all(model, ids)
        .into_data()
        .to_vec()
        .expect("f32 logits")
}

/// `max |a − b| / max |b|`.
///
/// # Panics
/// When the lengths differ.
pub fn relative_error(actual: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(
        actual.len(),
        expected.len(),
        "compared slices differ in length"
    );
    let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = actual
        .iter()
        .zip(expected)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_in_range_and_depend_on_the_seed() {
        let a = ids(200, 50, 1);
        assert_eq!(a, ids(200, 50, 1));
        assert_ne!(a, ids(200, 50, 2));
        assert!(a.iter().all(|&i| i < 50));
        // Not constant: the generator moves.
        assert!(a.iter().any(|&i| i != a[0]));
    }

    #[test]
    fn relative_error_is_scaled_by_the_expected_values() {
        assert_eq!(relative_error(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert_eq!(relative_error(&[1.0, 3.0], &[1.0, 2.0]), 0.5);
        assert_eq!(relative_error(&[0.0, -4.0], &[0.0, -2.0]), 1.0);
    }

    #[test]
    fn the_fixture_model_gives_one_row_of_logits_per_token() {
        let model = tiny("tiny_llama");
        let ids = ids(9, model.config.vocab_size, 3);
        let [batch, rows, vocab] = forward_all(&model, &ids).dims();
        assert_eq!((batch, rows, vocab), (1, 9, model.config.vocab_size));
        assert_eq!(logits(&model, &ids).len(), 9 * vocab);
    }
}
