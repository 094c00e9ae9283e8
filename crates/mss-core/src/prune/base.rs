//! The pruning traits.

use burn::prelude::*;

use super::PruneInput;
use crate::AttentionNeeds;

/// Chooses which candidates of one layer survive a step.
pub trait Pruner<B: Backend>: Send {
    /// The pruner's name, as users spell it (`snapkv`, `h2o`, ...).
    fn name(&self) -> &str;

    /// The attention statistics it needs from every step.
    fn needs(&self) -> AttentionNeeds;

    /// Indices of the kept candidates, `[n_kv_heads, input.budget]`, ascending per head.
    ///
    /// Called at every step, also when the budget keeps every candidate, so that stateful
    /// pruners (H2O) can follow the memory.
    fn prune(&mut self, input: PruneInput<'_, B>) -> Tensor<B, 2, Int>;

    /// Whether [`prune`](Self::prune) chooses by position alone: the same indices for every
    /// call with the same candidate count, budget and heads, whatever the entries, statistics,
    /// layer or step (StreamingLLM's newest entries), and no state to follow. A prefill may
    /// then ask once per step and shape and reuse the answer for the other layers: on a GPU
    /// every tensor built costs the host as much as a kernel.
    fn positional(&self) -> bool {
        false
    }

    /// Forgets any state (a new prompt begins).
    fn reset(&mut self) {}
}

/// How important each candidate is: higher means keep.
pub trait Scorer<B: Backend>: Send {
    /// The attention statistics it needs.
    fn needs(&self) -> AttentionNeeds;

    /// Scores `[n_kv_heads, K]`.
    fn score(&mut self, input: &PruneInput<'_, B>) -> Tensor<B, 2>;

    /// Told which candidates were kept (`[n_kv_heads, budget]`); stateful scorers re-index
    /// their per-entry state here.
    fn retain(&mut self, _input: &PruneInput<'_, B>, _kept: &Tensor<B, 2, Int>) {}

    /// Forgets any state.
    fn reset(&mut self) {}
}

/// Which candidates to keep, given their scores.
pub trait Selector<B: Backend>: Send {
    /// Indices `[n_kv_heads, min(budget, candidates)]`, ascending per head.
    fn select(&self, scores: Tensor<B, 2>, budget: usize) -> Tensor<B, 2, Int>;
}
