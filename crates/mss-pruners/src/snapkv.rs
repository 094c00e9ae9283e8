//! SnapKV (the paper's `conv`): mean attention over the chunk, smoothed by an average pool along
//! the key axis so that neighbours of important entries survive with them.
//!
//! Li et al., *SnapKV: LLM Knows What You are Looking for Before Generation*, 2024,
//! <https://arxiv.org/abs/2404.14469>. As in the paper's code (`algorithm.md` §3.3): the column
//! sums are average-pooled (kernel 5, stride 1, zero padding, padding counted in the divisor),
//! then divided by the visible-query counts. The observation window is the whole chunk.

use burn::prelude::*;
use mss_core::{AttentionNeeds, PruneInput, ScoredPruner, Scorer};

use crate::TopK;
use crate::stats::{required, visible};

/// Pooled mean attention.
#[derive(Debug, Clone, Copy)]
pub struct PooledAttention {
    kernel: usize,
}

impl PooledAttention {
    /// A pool of odd width `kernel`; `None` for an even or zero width.
    pub fn new(kernel: usize) -> Option<Self> {
        (kernel % 2 == 1).then_some(Self { kernel })
    }
}

impl<B: Backend> Scorer<B> for PooledAttention {
    fn needs(&self) -> AttentionNeeds {
        AttentionNeeds {
            column_sums: true,
            ..AttentionNeeds::NONE
        }
    }

    fn score(&mut self, input: &PruneInput<'_, B>) -> Tensor<B, 2> {
        // On CUDA one kernel reads every entry's statistics from the candidates' first column:
        // no cut columns, no pooling and division operations.
        #[cfg(feature = "cuda")]
        if let mss_core::AttentionStats {
            column_sums: Some(sums),
            visible_queries: Some(visible),
            ..
        } = input.entry_stats()
            && let Some(scores) = crate::pool_kernel::pooled_mean(
                sums,
                visible,
                input.start(),
                input.len(),
                self.kernel,
            )
        {
            return scores;
        }
        let sums = required(&input.stats().column_sums, "snapkv", "column sums");
        avg_pool(sums, self.kernel).div(visible(input.stats(), "snapkv"))
    }
}

/// Average pool of odd width `kernel` along axis 1, zero-padded, padding counted.
///
/// One pooling operation of the backend (on a GPU, one kernel): a prefill is bound by the
/// host's cost per operation at small model sizes, and padding, shifted views and their sums
/// were a dozen.
pub fn avg_pool<B: Backend>(x: Tensor<B, 2>, kernel: usize) -> Tensor<B, 2> {
    let pooled =
        burn::tensor::module::avg_pool1d(x.unsqueeze(), kernel, 1, kernel / 2, true, false);
    pooled.squeeze_dim(0)
}

/// The SnapKV pruner with the paper's kernel of 5.
pub fn snapkv() -> ScoredPruner<PooledAttention, TopK> {
    ScoredPruner::new("snapkv", PooledAttention { kernel: 5 }, TopK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::TestBackend as B;

    #[test]
    fn pools_with_zero_padding_counted() {
        let x =
            Tensor::<B, 2>::from_data([[5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 10.0]], &Default::default());
        let pooled: Vec<f32> = avg_pool(x, 5).into_data().to_vec().unwrap();
        assert_eq!(pooled, vec![1.0, 1.0, 1.0, 0.0, 2.0, 2.0, 2.0]);
    }

    #[test]
    fn pools_exactly_as_the_shifted_sums_do() {
        use burn::tensor::Distribution;
        let x = Tensor::<B, 2>::random(
            [3, 37],
            Distribution::Uniform(0.0, 50.0),
            &Default::default(),
        );
        let pooled = avg_pool(x.clone(), 5);
        // Reference: zero-padded shifted views, summed left to right, divided by the width.
        let zeros = Tensor::<B, 2>::zeros([3, 2], &Default::default());
        let padded = Tensor::cat(vec![zeros.clone(), x, zeros], 1);
        let reference = (0..5)
            .map(|k| padded.clone().narrow(1, k, 37))
            .reduce(|a, b| a.add(b))
            .unwrap()
            .div_scalar(5.0);
        let (pooled, reference): (Vec<f32>, Vec<f32>) = (
            pooled.into_data().to_vec().unwrap(),
            reference.into_data().to_vec().unwrap(),
        );
        assert_eq!(pooled.len(), 3 * 37);
        for (i, (p, r)) in pooled.iter().zip(&reference).enumerate() {
            assert_eq!(p.to_bits(), r.to_bits(), "entry {i}: {p} vs {r}");
        }
    }

    #[test]
    fn even_kernels_are_refused() {
        assert!(PooledAttention::new(4).is_none());
        assert!(PooledAttention::new(0).is_none());
        assert!(PooledAttention::new(3).is_some());
    }
}
