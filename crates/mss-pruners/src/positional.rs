//! Selection by position alone: the newest or the oldest candidates, the same on every head.
//!
//! Equal to top-k over index scores (later or earlier is better), but decided from the
//! candidates' count without reading anything back from the device: a host-side top-k waits
//! for the device once per layer and step, which on a GPU costs more than the layer itself
//! (`docs/results/gpu-prefill.md`).

use burn::prelude::*;
use mss_core::{PruneInput, per_head_range};

/// Which end of the candidates survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The last `budget` candidates (the most recent tokens).
    Newest,
    /// The first `budget` candidates (the earliest tokens).
    Oldest,
}

/// `[n_kv_heads, budget]` indices of the kept end, ascending.
pub fn keep_end<B: Backend>(input: &PruneInput<'_, B>, end: End) -> Tensor<B, 2, Int> {
    let device = input.device();
    let budget = input.budget.min(input.len());
    let start = match end {
        End::Newest => input.len() - budget,
        End::Oldest => 0,
    };
    per_head_range(start..start + budget, input.n_kv_heads(), &device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::TestBackend as B;
    use crate::top_k;
    use mss_core::{AttentionStats, LayerKv};

    #[test]
    fn equals_top_k_over_index_scores() {
        let device = Default::default();
        let (heads, len) = (3, 9);
        let keys = Tensor::<B, 4>::zeros([1, heads, len, 2], &device);
        let positions = per_head_range(0..len, heads, &device);
        let candidates = LayerKv::new(keys.clone(), keys, positions).unwrap();
        let stats = AttentionStats::none();
        let index: Vec<f32> = (0..len).map(|i| i as f32).collect();
        let minus_index: Vec<f32> = index.iter().map(|i| -i).collect();
        for budget in 1..=len {
            let input = PruneInput::all(0, 0, &candidates, &stats, 0, budget);
            for (end, scores) in [(End::Newest, &index), (End::Oldest, &minus_index)] {
                let kept: Vec<i64> = keep_end(&input, end)
                    .into_data()
                    .convert::<i64>()
                    .to_vec()
                    .unwrap();
                let expected: Vec<i64> = top_k(scores, budget).iter().map(|&i| i as i64).collect();
                assert_eq!(kept, expected.repeat(heads), "{end:?}, budget {budget}");
            }
        }
    }
}
