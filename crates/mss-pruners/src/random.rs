//! Random: keep a uniformly random subset, the same on every head of a layer, reproducible from
//! a seed (the original was unseeded and left indices unsorted; here they are sorted).

use burn::prelude::*;
use mss_core::{AttentionNeeds, PruneInput, ScoredPruner, Scorer};

use crate::TopK;

/// Pseudo-random scores determined by `(seed, layer, step, candidate index)`.
#[derive(Debug, Clone, Copy)]
pub struct RandomScores {
    seed: u64,
}

impl<B: Backend> Scorer<B> for RandomScores {
    fn needs(&self) -> AttentionNeeds {
        AttentionNeeds::NONE
    }

    fn score(&mut self, input: &PruneInput<'_, B>) -> Tensor<B, 2> {
        let stream = mix(self.seed ^ mix(((input.layer as u64) << 32) | input.step as u64));
        let row: Vec<f32> = (0..input.len() as u64)
            .map(|i| (mix(stream ^ mix(i)) >> 40) as f32)
            .collect();
        let device = input.device();
        Tensor::<B, 1>::from_data(TensorData::new(row, [input.len()]), &device)
            .reshape([1, input.len()])
            .repeat_dim(0, input.n_kv_heads())
    }
}

/// SplitMix64's finaliser: a well-mixed 64-bit hash, stable across platforms and versions.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random pruner.
pub fn random(seed: u64) -> ScoredPruner<RandomScores, TopK> {
    ScoredPruner::new("random", RandomScores { seed }, TopK)
}
