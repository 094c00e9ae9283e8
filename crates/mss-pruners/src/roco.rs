//! RoCo: mean attention, with the most stable (lowest standard deviation) half of the budget
//! demoted, as RoCo intends (Ren and Zhu, *On the Efficacy of Eviction Policy for Key-Value
//! Constrained Generative Language Model Inference*, 2024, <https://arxiv.org/abs/2402.06262>).
//!
//! The paper's code computed the "standard deviation" from a second moment summed over the
//! whole tensor (`algorithm.md` §7 item 9); here it is over the chunk's queries, per candidate:
//! `std = sqrt(E[p²] - E[p]²)` with both means over the queries that see the candidate. The
//! `budget / 2` candidates of lowest std get score 0, then the top `budget` by mean are kept.

use burn::prelude::*;
use mss_core::{AttentionNeeds, PruneInput, ScoredPruner, Scorer};

use crate::stats::{mean_attention, required, visible};
use crate::{TopK, top_k_mask};

/// Mean attention with the lowest-std half of the budget zeroed.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFiltered;

impl<B: Backend> Scorer<B> for StdFiltered {
    fn needs(&self) -> AttentionNeeds {
        AttentionNeeds {
            column_sums: true,
            second_moments: true,
            ..AttentionNeeds::NONE
        }
    }

    fn score(&mut self, input: &PruneInput<'_, B>) -> Tensor<B, 2> {
        let mean = mean_attention(input, "roco");
        let demoted = input.budget / 2;
        if input.budget >= input.len() || demoted == 0 {
            return mean;
        }
        let squares = required(&input.stats().second_moments, "roco", "second moments");
        let std = squares
            .div(visible(input.stats(), "roco"))
            .sub(mean.clone().powi_scalar(2))
            .clamp_min(0.0)
            .sqrt();
        // The demoted are the top `demoted` of -std, chosen by the kept's rule (ties to the
        // more recent entry), on the device where the selector ranks there.
        mean.mask_fill(top_k_mask(std.neg(), demoted), 0.0)
    }
}

/// The RoCo pruner.
pub fn roco() -> ScoredPruner<StdFiltered, TopK> {
    ScoredPruner::new("roco", StdFiltered, TopK)
}
