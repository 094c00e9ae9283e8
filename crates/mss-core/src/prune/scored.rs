//! A pruner made of a scorer and a selection rule.

use burn::prelude::*;

use super::{PruneInput, Pruner, Scorer, Selector};
use crate::AttentionNeeds;

/// Scores the candidates with `S`, keeps what `P` selects, and tells `S` what was kept.
#[derive(Debug, Clone)]
pub struct ScoredPruner<S, P> {
    name: String,
    /// The scoring rule.
    pub scorer: S,
    /// The selection rule.
    pub selector: P,
}

impl<S, P> ScoredPruner<S, P> {
    /// Joins a scorer and a selector under a name.
    pub fn new(name: impl Into<String>, scorer: S, selector: P) -> Self {
        Self {
            name: name.into(),
            scorer,
            selector,
        }
    }
}

impl<B: Backend, S: Scorer<B>, P: Selector<B>> Pruner<B> for ScoredPruner<S, P> {
    fn name(&self) -> &str {
        &self.name
    }

    fn needs(&self) -> AttentionNeeds {
        self.scorer.needs()
    }

    fn prune(&mut self, input: PruneInput<'_, B>) -> Tensor<B, 2, Int> {
        let scores = self.scorer.score(&input);
        let kept = if input.budget >= input.len() {
            keep_all(&input)
        } else {
            self.selector.select(scores, input.budget)
        };
        self.scorer.retain(&input, &kept);
        kept
    }

    fn reset(&mut self) {
        self.scorer.reset();
    }
}

/// `[n_kv_heads, K]` indices `0..K` on every head.
pub fn keep_all<B: Backend>(input: &PruneInput<'_, B>) -> Tensor<B, 2, Int> {
    let device = input.device();
    crate::per_head_range(0..input.len(), input.n_kv_heads(), &device)
}
