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
        let sums = required(&input.stats.column_sums, "snapkv", "column sums");
        avg_pool(sums, self.kernel).div(visible(input.stats, "snapkv"))
    }
}

/// Average pool of odd width `kernel` along axis 1, zero-padded, padding counted.
pub fn avg_pool<B: Backend>(x: Tensor<B, 2>, kernel: usize) -> Tensor<B, 2> {
    let [heads, len] = x.dims();
    let pad = kernel / 2;
    let zeros = Tensor::<B, 2>::zeros([heads, pad], &x.device());
    let padded = Tensor::cat(vec![zeros.clone(), x, zeros], 1);
    let sum = (0..kernel)
        .map(|k| padded.clone().narrow(1, k, len))
        .reduce(|a, b| a.add(b));
    sum.expect("kernel is odd, hence at least 1")
        .div_scalar(kernel as f32)
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
    fn even_kernels_are_refused() {
        assert!(PooledAttention::new(4).is_none());
        assert!(PooledAttention::new(0).is_none());
        assert!(PooledAttention::new(3).is_some());
    }
}
