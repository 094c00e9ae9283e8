//! TOVA: keep the entries the chunk's **last** query attends to most.
//!
//! Oren et al., *Transformers are Multi-State RNNs*, 2024, <https://arxiv.org/abs/2401.06104>.
//! Scores are the last query's attention probabilities, summed over the query heads of each
//! KV head. (The original code's `tova` was a mean over all queries: see `mean_attention`.)

use burn::prelude::*;
use mss_core::{AttentionNeeds, PruneInput, ScoredPruner, Scorer};

use crate::TopK;
use crate::stats::required;

/// Scores each candidate by the last query's attention to it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LastQuery;

impl<B: Backend> Scorer<B> for LastQuery {
    fn needs(&self) -> AttentionNeeds {
        AttentionNeeds {
            last_query: true,
            ..AttentionNeeds::NONE
        }
    }

    fn score(&mut self, input: &PruneInput<'_, B>) -> Tensor<B, 2> {
        required(
            &input.stats().last_query,
            "tova",
            "the last query's attention",
        )
    }
}

/// The TOVA pruner.
pub fn tova() -> ScoredPruner<LastQuery, TopK> {
    ScoredPruner::new("tova", LastQuery, TopK)
}
