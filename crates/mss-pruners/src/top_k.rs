//! The top-k selection rule: keep the highest scores, ties to the more recent entry.

use burn::prelude::*;
use mss_core::{Selector, cat_blocks};

/// Keeps, per KV head, the `budget` highest-scoring candidates, returned in ascending order.
///
/// Exact and identical on every backend: among equal scores the later candidate (the more
/// recent token) wins; NaN scores rank lowest. Backends that keep tensors in host memory
/// select on the host ([`top_k`]); the others rank on the device ([`rank_top_k`]), because
/// reading the scores back would wait for the device at every layer of every step.
#[derive(Debug, Clone, Copy, Default)]
pub struct TopK;

impl<B: Backend> Selector<B> for TopK {
    fn select(&self, scores: Tensor<B, 2>, budget: usize) -> Tensor<B, 2, Int> {
        let device = scores.device();
        if !host_memory::<B>(&device) {
            return rank_top_k(scores, budget);
        }
        let [heads, len] = scores.dims();
        let kept: Vec<i32> = top_k_on_host(scores, budget)
            .into_iter()
            .flatten()
            .map(|i| i as i32)
            .collect();
        Tensor::from_data(TensorData::new(kept, [heads, budget.min(len)]), &device)
    }
}

/// [`top_k`] of every row of `scores` `[heads, len]`, read back to the host.
fn top_k_on_host<B: Backend>(scores: Tensor<B, 2>, budget: usize) -> Vec<Vec<usize>> {
    let [heads, len] = scores.dims();
    let values: Vec<f32> = scores
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("f32 scores");
    values
        .chunks_exact(len.max(1))
        .take(heads)
        .map(|row| top_k(row, budget))
        .collect()
}

/// Whether `B` keeps tensors in host memory, where reading scores back costs nothing.
fn host_memory<B: Backend>(device: &B::Device) -> bool {
    let name = B::name(device);
    name == "flex" || name == "ndarray" || name.contains("cpu")
}

/// [`TopK`]'s choice as a mask: `true` where a candidate of `scores` `[heads, len]` is among
/// its row's `budget` best. Read back and chosen on the host where that is free, else ranked
/// on the device.
pub fn top_k_mask<B: Backend>(scores: Tensor<B, 2>, budget: usize) -> Tensor<B, 2, Bool> {
    let device = scores.device();
    if !host_memory::<B>(&device) {
        #[cfg(feature = "cuda")]
        if crate::top_k_kernel_enabled()
            && let Some(flags) = crate::top_k_kernel::kept_flags(&scores, budget)
        {
            return flags.equal_elem(1);
        }
        return rank_mask(scores, budget, RANK_BLOCK_ELEMENTS);
    }
    let [heads, len] = scores.dims();
    let mut mask = vec![false; heads * len];
    for (head, kept) in top_k_on_host(scores, budget).into_iter().enumerate() {
        for i in kept {
            mask[head * len + i] = true;
        }
    }
    Tensor::from_data(TensorData::new(mask, [heads, len]), &device)
}

/// Elements of the largest comparison block [`rank_top_k`] builds at once.
const RANK_BLOCK_ELEMENTS: usize = 1 << 24;

/// [`top_k`] on the device, for every row of `scores` `[heads, len]`: returns `[heads, k]`
/// ascending indices, `k = min(budget, len)` (an empty tensor when `k` is 0, which some
/// devices cannot hold). `O(len²)` comparisons, no read-back, no scatter: on Burn's CUDA
/// backend two kernels (feature `cuda`, unless `use_top_k_kernel`
/// switched them off), elsewhere Burn's operations over comparison blocks.
pub fn rank_top_k<B: Backend>(scores: Tensor<B, 2>, budget: usize) -> Tensor<B, 2, Int> {
    #[cfg(feature = "cuda")]
    if crate::top_k_kernel_enabled()
        && let Some(kept) = crate::top_k_kernel::top_k_indices(&scores, budget)
    {
        return kept;
    }
    rank_top_k_in_blocks(scores, budget, RANK_BLOCK_ELEMENTS)
}

fn rank_top_k_in_blocks<B: Backend>(
    scores: Tensor<B, 2>,
    budget: usize,
    block_elements: usize,
) -> Tensor<B, 2, Int> {
    let [heads, len] = scores.dims();
    let k = budget.min(len);
    if k == 0 {
        return Tensor::empty([heads, 0], &scores.device());
    }
    let kept = rank_mask(scores, k, block_elements);
    compact(kept, k, block_elements)
}

/// Whether each candidate of `scores` `[heads, len]` ranks among its row's `budget` best, on
/// the device: its rank is the number of candidates that beat it (a higher score, or an equal
/// score and a larger index; NaN ranks lowest), counted in blocks of rows of at most
/// `block_elements` comparisons.
fn rank_mask<B: Backend>(
    scores: Tensor<B, 2>,
    budget: usize,
    block_elements: usize,
) -> Tensor<B, 2, Bool> {
    let device = scores.device();
    let [heads, len] = scores.dims();
    if budget == 0 || len == 0 {
        return Tensor::<B, 2, Int>::zeros([heads, len], &device).equal_elem(1);
    }
    let scores = scores.cast(burn::tensor::FloatDType::F32);
    let scores = scores.clone().mask_fill(scores.is_nan(), f32::NEG_INFINITY);
    let index = Tensor::<B, 1, Int>::arange(0..len as i64, &device);
    let ranks = count_in_blocks([heads, len, len], block_elements, |start, rows| {
        let shape = [heads, rows, len];
        let mine = scores
            .clone()
            .narrow(1, start, rows)
            .reshape([heads, rows, 1])
            .expand(shape);
        let theirs = scores.clone().reshape([heads, 1, len]).expand(shape);
        let my_index = index
            .clone()
            .narrow(0, start, rows)
            .reshape([1, rows, 1])
            .expand(shape);
        let their_index = index.clone().reshape([1, 1, len]).expand(shape);
        theirs
            .clone()
            .greater(mine.clone())
            .bool_or(theirs.equal(mine).bool_and(their_index.greater(my_index)))
    });
    ranks.lower_elem(budget as i64)
}

/// The indices of the `k` (at least 1) `true` entries of each row of `mask` `[heads, len]`,
/// ascending, as `[heads, k]`: the `j`-th is the number of entries before it, that is of the
/// positions where fewer than `j + 1` entries have been kept so far. Counted in blocks of
/// slots of at most `block_elements` comparisons; a scatter would do it in one pass, but
/// CubeCL's runs one thread per row.
fn compact<B: Backend>(
    mask: Tensor<B, 2, Bool>,
    k: usize,
    block_elements: usize,
) -> Tensor<B, 2, Int> {
    let device = mask.device();
    let [heads, len] = mask.dims();
    let kept_so_far = mask.int().cumsum(1).reshape([heads, 1, len]);
    let slot = Tensor::<B, 1, Int>::arange(0..k as i64, &device);
    count_in_blocks([heads, k, len], block_elements, |start, slots| {
        let shape = [heads, slots, len];
        kept_so_far.clone().expand(shape).lower_equal(
            slot.clone()
                .narrow(0, start, slots)
                .reshape([1, slots, 1])
                .expand(shape),
        )
    })
}

/// `[heads, rows]` counts of the `true` entries along the last axis of `[heads, rows, len]`
/// comparisons, `rows` (at least 1) built a block at a time by `compare(start, block_rows)`,
/// each block at most `block_elements` comparisons.
fn count_in_blocks<B: Backend>(
    [heads, rows, len]: [usize; 3],
    block_elements: usize,
    compare: impl Fn(usize, usize) -> Tensor<B, 3, Bool>,
) -> Tensor<B, 2, Int> {
    let rows_per_block = (block_elements / (heads * len).max(1)).clamp(1, rows);
    let counts = (0..rows)
        .step_by(rows_per_block)
        .map(|start| {
            let block_rows = rows_per_block.min(rows - start);
            compare(start, block_rows)
                .int()
                .sum_dim(2)
                .reshape([heads, block_rows])
        })
        .collect();
    cat_blocks(counts, 1)
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
        // NaN is gone, so the order is total; -0.0 and 0.0 tie, as on the device.
        vb.partial_cmp(&va)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(ib.cmp(&ia))
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
    fn a_budget_beyond_the_candidates_keeps_them_all() {
        let scores =
            Tensor::<B, 2>::from_data([[0.1, 0.9, 0.3], [0.7, 0.1, 0.6]], &Default::default());
        let kept = TopK.select(scores.clone(), 5);
        assert_eq!(kept.dims(), [2, 3]);
        assert_eq!(
            kept.into_data().to_vec::<i32>().unwrap(),
            [0, 1, 2, 0, 1, 2]
        );
        assert_eq!(rank_top_k(scores, 5).dims(), [2, 3], "the device agrees");
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

    /// The marked indices of each row of `mask`, rows one after another.
    fn marked(mask: Tensor<B, 2, Bool>) -> Vec<i64> {
        let [_, len] = mask.dims();
        let flags: Vec<bool> = mask.into_data().to_vec().unwrap();
        flags
            .chunks_exact(len)
            .flat_map(|row| (0..len).filter(|&i| row[i]).map(|i| i as i64))
            .collect()
    }

    #[test]
    fn device_ranking_equals_host_selection() {
        // Scores on a coarse grid so that ties are common, plus NaN, infinities and signed zeros.
        let specials = [f32::NAN, f32::NEG_INFINITY, f32::INFINITY, -0.0, 0.0];
        let mut state = 17u64;
        for case in 0..24 {
            let (heads, len) = (1 + case % 3, 1 + (case * 7) % 23);
            let values: Vec<f32> = (0..heads * len)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let r = (state >> 33) as usize;
                    if r.is_multiple_of(9) {
                        specials[r % specials.len()]
                    } else {
                        (r % 5) as f32 * 0.25
                    }
                })
                .collect();
            let scores = Tensor::<B, 2>::from_data(
                TensorData::new(values.clone(), [heads, len]),
                &Default::default(),
            );
            for budget in 1..=len {
                let expected: Vec<i64> = values
                    .chunks_exact(len)
                    .flat_map(|row| top_k(row, budget))
                    .map(|i| i as i64)
                    .collect();
                // Whole-matrix and one-row-at-a-time comparison blocks.
                for block in [RANK_BLOCK_ELEMENTS, len] {
                    let got: Vec<i64> = rank_top_k_in_blocks(scores.clone(), budget, block)
                        .into_data()
                        .convert::<i64>()
                        .to_vec()
                        .unwrap();
                    assert_eq!(got, expected, "{values:?}, budget {budget}, block {block}");
                    let mask = rank_mask(scores.clone(), budget, block);
                    assert_eq!(
                        marked(mask),
                        expected,
                        "mask of {values:?}, budget {budget}"
                    );
                }
                let host = top_k_mask(scores.clone(), budget);
                assert_eq!(
                    marked(host),
                    expected,
                    "host mask of {values:?}, budget {budget}"
                );
            }
        }
    }

    #[test]
    fn device_ranking_of_nothing_is_empty() {
        let scores = Tensor::<B, 2>::from_data([[0.5, 0.1], [0.2, 0.3]], &Default::default());
        assert_eq!(rank_top_k(scores, 0).dims(), [2, 0]);
    }
}
