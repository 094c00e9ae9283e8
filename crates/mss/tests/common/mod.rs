//! Helpers shared by the facade's integration tests (the fixtures and ids: `mss-testkit`).

#![allow(dead_code, missing_docs, unused_imports)]

pub use mss_testkit::{B, ids, logits as one_shot_logits, relative_error, tiny};

use mss::Transformer;

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
