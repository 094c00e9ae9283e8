//! Reductions of the attention statistics that several pruners share.

use burn::prelude::*;
use mss_core::{AttentionStats, PruneInput};

/// The statistic a pruner declared it needs, or a panic naming the pruner: the prefill loop
/// computes every statistic in [`mss_core::AttentionNeeds`], so a missing one is a bug.
pub(crate) fn required<B: Backend>(
    stat: &Option<Tensor<B, 2>>,
    pruner: &str,
    what: &str,
) -> Tensor<B, 2> {
    stat.clone().unwrap_or_else(|| {
        panic!("{pruner} needs {what}, which the attention pass did not compute")
    })
}

/// The number of the chunk's queries that see each candidate, at least 1 (a candidate no query
/// sees, under a sliding window, gets a mean of 0 rather than 0/0).
pub(crate) fn visible<B: Backend>(stats: &AttentionStats<B>, pruner: &str) -> Tensor<B, 2> {
    required(&stats.visible_queries, pruner, "visible-query counts").clamp_min(1.0)
}

/// Mean attention each candidate receives from the chunk's queries: column sum / visible count.
pub(crate) fn mean_attention<B: Backend>(input: &PruneInput<'_, B>, pruner: &str) -> Tensor<B, 2> {
    required(&input.stats().column_sums, pruner, "column sums").div(visible(input.stats(), pruner))
}
