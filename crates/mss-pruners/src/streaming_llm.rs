//! StreamingLLM: the attention sinks plus the most recent entries.
//!
//! Xiao et al., *Efficient Streaming Language Models with Attention Sinks*, ICLR 2024,
//! <https://arxiv.org/abs/2309.17453>. The sinks are kept by the prefill loop; among the other
//! candidates the latest `budget` survive, the same on every head. Needs no attention scores.

use burn::prelude::*;
use mss_core::{AttentionNeeds, PruneInput, ScoredPruner, Scorer};

use crate::TopK;
use crate::stats::recency;

/// Scores each candidate by its index: later is better.
#[derive(Debug, Clone, Copy, Default)]
pub struct Recency;

impl<B: Backend> Scorer<B> for Recency {
    fn needs(&self) -> AttentionNeeds {
        AttentionNeeds::NONE
    }

    fn score(&mut self, input: &PruneInput<'_, B>) -> Tensor<B, 2> {
        recency(input)
    }
}

/// The StreamingLLM pruner.
pub fn streaming_llm() -> ScoredPruner<Recency, TopK> {
    ScoredPruner::new("streaming_llm", Recency, TopK)
}
