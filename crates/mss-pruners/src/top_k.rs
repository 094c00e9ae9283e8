//! The top-k selection rule: keep the highest scores, ties to the more recent entry.

use burn::prelude::*;
use mss_core::Selector;

/// Keeps, per KV head, the `budget` highest-scoring candidates, returned in ascending order.
///
/// Selection runs on the host so that it is exact and identical on every backend: among equal
/// scores the later candidate (the more recent token) wins; NaN scores rank lowest.
#[derive(Debug, Clone, Copy, Default)]
pub struct TopK;

impl<B: Backend> Selector<B> for TopK {
    fn select(&self, scores: Tensor<B, 2>, budget: usize) -> Tensor<B, 2, Int> {
        let device = scores.device();
        let [heads, len] = scores.dims();
        let values: Vec<f32> = scores
            .into_data()
            .convert::<f32>()
            .to_vec()
            .expect("f32 scores");
        let mut kept = Vec::with_capacity(heads * budget);
        for row in values.chunks_exact(len.max(1)).take(heads) {
            kept.extend(top_k(row, budget).into_iter().map(|i| i as i32));
        }
        Tensor::from_data(TensorData::new(kept, [heads, budget]), &device)
    }
}

/// The indices of the `k` largest values of `row` (ties: larger index first), ascending.
pub fn top_k(row: &[f32], k: usize) -> Vec<usize> {
    let k = k.min(row.len());
    let key = |i: usize| {
        (
            if row[i].is_nan() {
                f32::NEG_INFINITY
            } else {
                row[i]
            },
            i,
        )
    };
    let mut order: Vec<usize> = (0..row.len()).collect();
    let better = |a: &usize, b: &usize| {
        let (va, ia) = key(*a);
        let (vb, ib) = key(*b);
        vb.total_cmp(&va).then(ib.cmp(&ia))
    };
    if k < order.len() && k > 0 {
        order.select_nth_unstable_by(k - 1, better);
    }
    order.truncate(k);
    order.sort_unstable();
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::TestBackend as B;

    #[test]
    fn keeps_the_largest_in_ascending_order() {
        assert_eq!(top_k(&[0.1, 0.9, 0.3, 0.8, 0.2], 2), vec![1, 3]);
        assert_eq!(top_k(&[0.1, 0.9, 0.3], 3), vec![0, 1, 2]);
        assert_eq!(top_k(&[0.1, 0.9, 0.3], 0), Vec::<usize>::new());
    }

    #[test]
    fn ties_go_to_the_more_recent_entry() {
        assert_eq!(top_k(&[1.0, 1.0, 1.0, 1.0], 2), vec![2, 3]);
        assert_eq!(top_k(&[0.5, 2.0, 0.5, 0.5], 2), vec![1, 3]);
    }

    #[test]
    fn nan_ranks_lowest() {
        assert_eq!(top_k(&[f32::NAN, 0.1, f32::NAN, 0.2], 2), vec![1, 3]);
    }

    #[test]
    fn selects_per_head() {
        let scores = Tensor::<B, 2>::from_data(
            [[0.1, 0.9, 0.3, 0.8], [0.7, 0.1, 0.6, 0.0]],
            &Default::default(),
        );
        let kept: Vec<i32> = TopK.select(scores, 2).into_data().to_vec().unwrap();
        assert_eq!(kept, vec![1, 3, 0, 2]);
    }
}
