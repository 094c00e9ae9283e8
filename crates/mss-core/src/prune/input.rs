//! What a pruner sees for one layer at one step.

use std::cell::OnceCell;

use burn::prelude::*;

use crate::{AttentionStats, LayerKv};

/// The candidates of one layer at one step, their attention statistics and the budget.
///
/// Sinks are never candidates. Under FM and IM the candidates are the old memory's entries
/// followed by the chunk's; under FI only the chunk's (the old memory is frozen). The input
/// holds every entry the chunk attended to and where the candidates start among them; the
/// candidates' own views ([`candidates`](Self::candidates), [`stats`](Self::stats)) are cut
/// when first asked for, so that a pruner that needs none (StreamingLLM) costs no operation,
/// and a device kernel may read the whole statistics at [`start`](Self::start) instead
/// ([`entry_stats`](Self::entry_stats)): on a GPU each cut is a kernel.
///
/// # Shapes
/// - `entries`: `start + K` entries per KV head, the `K` candidates last
/// - every statistic of `entry_stats`: `[n_kv_heads, start + K]`; of `stats()`:
///   `[n_kv_heads, K]`
#[derive(Debug)]
pub struct PruneInput<'a, B: Backend> {
    /// Layer index.
    pub layer: usize,
    /// Chunk step (0-based).
    pub step: usize,
    /// How many leading candidates come from the old memory (the rest are the chunk's).
    pub from_memory: usize,
    /// How many entries to keep per KV head; at most the number of candidates.
    pub budget: usize,
    entries: &'a LayerKv<B>,
    entry_stats: &'a AttentionStats<B>,
    start: usize,
    stats: OnceCell<AttentionStats<B>>,
}

impl<'a, B: Backend> PruneInput<'a, B> {
    /// The entries `start..` of `entries` as candidates, with the statistics of every entry;
    /// `budget` is capped at the number of candidates. `None` when `start` is past the
    /// entries.
    pub fn new(
        layer: usize,
        step: usize,
        entries: &'a LayerKv<B>,
        entry_stats: &'a AttentionStats<B>,
        start: usize,
        from_memory: usize,
        budget: usize,
    ) -> Option<Self> {
        let len = entries.len().checked_sub(start)?;
        Some(Self {
            layer,
            step,
            from_memory,
            budget: budget.min(len),
            entries,
            entry_stats,
            start,
            stats: OnceCell::new(),
        })
    }

    /// Every candidate of `entries` (`start` 0), with the statistics of every entry.
    pub fn all(
        layer: usize,
        step: usize,
        entries: &'a LayerKv<B>,
        entry_stats: &'a AttentionStats<B>,
        from_memory: usize,
        budget: usize,
    ) -> Self {
        Self::new(layer, step, entries, entry_stats, 0, from_memory, budget)
            .expect("start 0 is within any entries")
    }

    /// Number of candidates per KV head.
    pub fn len(&self) -> usize {
        self.entries.len() - self.start
    }

    /// Whether there is no candidate.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of KV heads.
    pub fn n_kv_heads(&self) -> usize {
        self.entries.n_kv_heads()
    }

    /// The device the entries live on.
    pub fn device(&self) -> B::Device {
        self.entries.keys.device()
    }

    /// Where the candidates start among the entries (sinks, and under FI the frozen memory,
    /// come before).
    pub fn start(&self) -> usize {
        self.start
    }

    /// Every entry the chunk attended to, the candidates last.
    pub fn entries(&self) -> &LayerKv<B> {
        self.entries
    }

    /// The statistics of every entry, candidates from column [`start`](Self::start).
    pub fn entry_stats(&self) -> &AttentionStats<B> {
        self.entry_stats
    }

    /// The candidates' entries (a cut of [`entries`](Self::entries), made at each call).
    pub fn candidates(&self) -> LayerKv<B> {
        self.entries.clone().narrow(self.start, self.len())
    }

    /// The statistics of the candidates' columns: cut at the first call, then kept.
    pub fn stats(&self) -> &AttentionStats<B> {
        self.stats.get_or_init(|| {
            if self.start == 0 {
                self.entry_stats.clone()
            } else {
                self.entry_stats.narrow(self.start, self.len())
            }
        })
    }
}
