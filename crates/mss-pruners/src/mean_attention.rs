//! Mean attention: the attention a candidate receives, averaged over the chunk's queries that
//! see it. This is what the original code called `tova` (`algorithm.md` §3.3); the divisor is
//! the exact number of visible queries (`chunk_len - t` for the chunk entry at local index `t`).

use burn::prelude::*;
use mss_core::{AttentionNeeds, PruneInput, ScoredPruner, Scorer};

use crate::TopK;
use crate::stats::mean_attention as mean;

/// Scores each candidate by its mean attention from the chunk's queries.
#[derive(Debug, Clone, Copy, Default)]
pub struct MeanAttention;

impl<B: Backend> Scorer<B> for MeanAttention {
    fn needs(&self) -> AttentionNeeds {
        AttentionNeeds {
            column_sums: true,
            ..AttentionNeeds::NONE
        }
    }

    fn score(&mut self, input: &PruneInput<'_, B>) -> Tensor<B, 2> {
        mean(input, "mean_attention")
    }
}

/// The mean-attention pruner.
pub fn mean_attention() -> ScoredPruner<MeanAttention, TopK> {
    ScoredPruner::new("mean_attention", MeanAttention, TopK)
}
