//! Chunk prefix: keep the oldest entries (the beginning of the prompt), the same on every head.
//! The seed's `chunk_prefix`, which crashed in the original code; here it works.

use burn::prelude::*;
use mss_core::{AttentionNeeds, PruneInput, ScoredPruner, Scorer};

use crate::TopK;
use crate::stats::recency;

/// Scores each candidate by minus its index: earlier is better.
#[derive(Debug, Clone, Copy, Default)]
pub struct Oldest;

impl<B: Backend> Scorer<B> for Oldest {
    fn needs(&self) -> AttentionNeeds {
        AttentionNeeds::NONE
    }

    fn score(&mut self, input: &PruneInput<'_, B>) -> Tensor<B, 2> {
        recency(input).neg()
    }
}

/// The chunk-prefix pruner.
pub fn chunk_prefix() -> ScoredPruner<Oldest, TopK> {
    ScoredPruner::new("chunk_prefix", Oldest, TopK)
}
