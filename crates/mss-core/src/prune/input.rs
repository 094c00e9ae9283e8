//! What a pruner sees for one layer at one step.

use burn::prelude::*;

use crate::{AttentionStats, LayerKv};

/// The candidates of one layer at one step, their attention statistics and the budget.
///
/// Sinks are never candidates. Under FM and IM the candidates are the old memory's entries
/// followed by the chunk's; under FI only the chunk's (the old memory is frozen).
///
/// # Shapes
/// - `candidates`: `K` entries per KV head
/// - every statistic: `[n_kv_heads, K]`, restricted to the candidates' columns
#[derive(Debug)]
pub struct PruneInput<'a, B: Backend> {
    /// Layer index.
    pub layer: usize,
    /// Chunk step (0-based).
    pub step: usize,
    /// The entries that may be kept.
    pub candidates: &'a LayerKv<B>,
    /// How many leading candidates come from the old memory (the rest are the chunk's).
    pub from_memory: usize,
    /// Statistics of the chunk's attention over the candidates.
    pub stats: &'a AttentionStats<B>,
    /// How many entries to keep per KV head; at most the number of candidates.
    pub budget: usize,
}

impl<B: Backend> PruneInput<'_, B> {
    /// Number of candidates per KV head.
    pub fn len(&self) -> usize {
        self.candidates.len()
    }

    /// Whether there is no candidate.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of KV heads.
    pub fn n_kv_heads(&self) -> usize {
        self.candidates.n_kv_heads()
    }
}
