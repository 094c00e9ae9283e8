//! Scaled dot-product attention of a chunk over `[memory; chunk]`.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{DType, FloatDType};

use super::{AttentionKernel, AttentionNeeds, AttentionStats};

/// Queries per block when statistics are computed and the hook does not say otherwise
/// ([`ChunkHook::query_block`](crate::ChunkHook::query_block)); the prefill sizes its blocks by
/// `mss_schedule::QueryBlocks` instead.
pub const DEFAULT_QUERY_BLOCK: usize = 256;

/// Attention of the chunk's queries over `[memory; chunk]`, plus the statistics in `needs`.
///
/// The keys are the memory entries followed by the chunk's own entries; the memory length is
/// `keys - chunk_len`. Every memory key is visible to every query, chunk keys are causal, and
/// `hidden` (if given) hides more (e.g. a sliding window). Keys and queries arrive rotated.
/// Softmax runs in f32; the output has the queries' dtype.
///
/// # Shapes
/// - `q`: `[1, n_heads, chunk_len, head_dim]`
/// - `k`: `[1, n_kv_heads, keys, head_dim]`
/// - `v`: `[1, n_kv_heads, keys, value_dim]`
/// - `hidden`: `[1, n_kv_heads or 1, chunk_len, keys]`, `true` = hidden
/// - returns `[1, n_heads, chunk_len, value_dim]` and [`AttentionStats`] of `[n_kv_heads, keys]`
///
/// # Panics
/// If the shapes disagree, `n_heads` is not a multiple of `n_kv_heads`, there are fewer keys than
/// queries, or `query_block` is 0.
pub fn attend<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    hidden: Option<Tensor<B, 4, Bool>>,
    needs: AttentionNeeds,
    query_block: usize,
) -> (Tensor<B, 4>, AttentionStats<B>) {
    attend_with(
        super::attention_kernel(),
        q,
        k,
        v,
        hidden,
        needs,
        query_block,
    )
}

/// [`attend`] with the given attention for chunks without statistics.
fn attend_with<B: Backend>(
    kernel: AttentionKernel,
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    hidden: Option<Tensor<B, 4, Bool>>,
    needs: AttentionNeeds,
    query_block: usize,
) -> (Tensor<B, 4>, AttentionStats<B>) {
    let [_, n_heads, chunk_len, head_dim] = q.dims();
    let [_, n_kv_heads, keys, key_dim] = k.dims();
    assert_eq!(head_dim, key_dim, "attend: query and key head dims differ");
    assert_eq!(
        v.dims()[2],
        keys,
        "attend: keys and values differ in length"
    );
    assert!(
        n_kv_heads > 0 && n_heads % n_kv_heads == 0,
        "attend: {n_heads} heads, {n_kv_heads} KV heads"
    );
    assert!(
        keys >= chunk_len,
        "attend: {keys} keys for {chunk_len} queries"
    );
    assert!(query_block > 0, "attend: query_block must be positive");
    if let Some(mask) = &hidden {
        let [_, mh, mc, mt] = mask.dims();
        assert!(mh == 1 || mh == n_kv_heads, "attend: mask has {mh} heads");
        assert_eq!([mc, mt], [chunk_len, keys], "attend: mask shape");
    }
    let n_rep = n_heads / n_kv_heads;

    if needs.is_empty() && kernel != AttentionKernel::Blocked {
        let k = repeat_kv(k, n_rep);
        let v = repeat_kv(v, n_rep);
        let device = q.device();
        let options = |is_causal| AttentionModuleOptions {
            scale: None,
            softcap: None,
            is_causal,
        };
        // Burn's `is_causal` is unambiguous only for as many keys as queries: its unfused
        // fallback aligns the causal boundary at the bottom right (memory keys visible to every
        // query), but the flash kernels its CUDA autotuner may pick for long chunks (cubek 0.2)
        // align it at the top left, hiding memory keys from the first queries. With memory,
        // the mask is spelled out.
        let out = match hidden {
            None if keys == chunk_len => attention(q, k, v, None, None, options(true)),
            hidden => {
                let mask = block_mask_kv(hidden, 0, chunk_len, keys, chunk_len, &device);
                attention(
                    q,
                    k,
                    v,
                    Some(expand_heads(mask, n_heads)),
                    None,
                    options(false),
                )
            }
        };
        return (out, AttentionStats::none());
    }
    attend_blocked(q, k, v, hidden, needs, query_block)
}

/// Attention block by block of queries, with the statistics. Queries are viewed as
/// `[1, n_kv_heads, n_rep, rows, dim]` against keys and values `[1, n_kv_heads, 1, keys, dim]`
/// (a broadcast, not a copy), so keys and values are never repeated and the statistics come
/// out summed per KV head.
fn attend_blocked<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    hidden: Option<Tensor<B, 4, Bool>>,
    needs: AttentionNeeds,
    query_block: usize,
) -> (Tensor<B, 4>, AttentionStats<B>) {
    let device = q.device();
    let dtype = q.dtype();
    let [_, n_heads, chunk_len, head_dim] = q.dims();
    let [_, n_kv_heads, keys, _] = k.dims();
    let value_dim = v.dims()[3];
    let n_rep = n_heads / n_kv_heads;
    let scale = 1.0 / (head_dim as f64).sqrt();
    let k_t = k.swap_dims(2, 3).unsqueeze_dim::<5>(2);
    let v = v.unsqueeze_dim::<5>(2);
    let column_sums = needs.column_sums || needs.second_moments;

    let mut outputs = Vec::with_capacity(chunk_len.div_ceil(query_block));
    let mut sums: Option<Tensor<B, 5>> = None;
    let mut squares: Option<Tensor<B, 5>> = None;
    let mut visible: Option<Tensor<B, 4>> = None;
    let mut last: Option<Tensor<B, 5>> = None;
    for start in (0..chunk_len).step_by(query_block) {
        let rows = query_block.min(chunk_len - start);
        let hidden_rows = hidden.clone().map(|m| m.narrow(2, start, rows));
        // Visibility per KV head (or shared), the same for each query head of a group.
        let mask = block_mask_kv(hidden_rows, start, rows, keys, chunk_len, &device);
        let shape = [1, n_kv_heads, n_rep, rows, keys];
        let scores = q
            .clone()
            .narrow(2, start, rows)
            .reshape([1, n_kv_heads, n_rep, rows, head_dim])
            .matmul(k_t.clone())
            .mul_scalar(scale);
        let scores = scores.cast(FloatDType::F32).mask_fill(
            mask.clone().unsqueeze_dim::<5>(2).expand(shape),
            f32::NEG_INFINITY,
        );
        let probs = softmax(scores, 4);
        outputs.push(
            probs
                .clone()
                .cast(float_dtype(dtype))
                .matmul(v.clone())
                .reshape([1, n_heads, rows, value_dim]),
        );
        // Sums over the block's queries and the group's heads: `[1, n_kv_heads, 1, 1, keys]`.
        let over_group = |t: Tensor<B, 5>| t.sum_dim(3).sum_dim(2);
        if column_sums {
            accumulate(&mut sums, over_group(probs.clone()));
            let seen = mask.bool_not().float().sum_dim(2);
            accumulate(&mut visible, seen);
        }
        if needs.second_moments {
            accumulate(&mut squares, over_group(probs.clone().powi_scalar(2)));
        }
        if needs.last_query && start + rows == chunk_len {
            last = Some(over_group(probs.narrow(3, rows - 1, 1)));
        }
    }
    let per_kv_head = |t: Tensor<B, 5>| t.reshape([n_kv_heads, keys]);
    let stats = AttentionStats {
        last_query: last.map(per_kv_head),
        column_sums: if needs.column_sums {
            sums.map(per_kv_head)
        } else {
            None
        },
        visible_queries: if column_sums {
            visible.map(|t| {
                let [_, h, _, t_len] = t.dims();
                t.reshape([h, t_len]).expand([n_kv_heads, keys])
            })
        } else {
            None
        },
        second_moments: squares.map(per_kv_head),
    };
    (crate::cat_blocks(outputs, 2), stats)
}

/// Repeats each KV head `n_rep` times so that query head `i` reads KV head `i / n_rep`.
///
/// # Shapes
/// - `x`: `[1, n_kv_heads, len, dim]`, returns `[1, n_kv_heads * n_rep, len, dim]`
pub fn repeat_kv<B: Backend>(x: Tensor<B, 4>, n_rep: usize) -> Tensor<B, 4> {
    if n_rep == 1 {
        return x;
    }
    let [b, h, t, d] = x.dims();
    x.unsqueeze_dim::<5>(2)
        .expand([b, h, n_rep, t, d])
        .reshape([b, h * n_rep, t, d])
}

/// Causal visibility of query rows `start..start + rows` (keys past `memory + row` hidden),
/// combined with `hidden`. Returns `[1, 1 or n_kv_heads, rows, keys]`.
fn block_mask_kv<B: Backend>(
    hidden: Option<Tensor<B, 4, Bool>>,
    start: usize,
    rows: usize,
    keys: usize,
    chunk_len: usize,
    device: &B::Device,
) -> Tensor<B, 4, Bool> {
    let memory = keys - chunk_len;
    let causal = Tensor::<B, 2, Bool>::tril_mask([rows, keys], (memory + start) as i64, device)
        .reshape([1, 1, rows, keys]);
    match hidden {
        None => causal,
        Some(hidden) => {
            let heads = hidden.dims()[1];
            causal.expand([1, heads, rows, keys]).bool_or(hidden)
        }
    }
}

/// Expands a per-KV-head (or shared) mask to every query head.
fn expand_heads<B: Backend>(mask: Tensor<B, 4, Bool>, n_heads: usize) -> Tensor<B, 4, Bool> {
    let [b, h, r, t] = mask.dims();
    if h == 1 {
        mask.expand([b, n_heads, r, t])
    } else {
        let n_rep = n_heads / h;
        mask.unsqueeze_dim::<5>(2)
            .expand([b, h, n_rep, r, t])
            .reshape([b, n_heads, r, t])
    }
}

fn accumulate<B: Backend, const D: usize>(acc: &mut Option<Tensor<B, D>>, x: Tensor<B, D>) {
    *acc = Some(match acc.take() {
        None => x,
        Some(a) => a.add(x),
    });
}

fn float_dtype(dtype: DType) -> FloatDType {
    match dtype {
        DType::F64 => FloatDType::F64,
        DType::F16 => FloatDType::F16,
        DType::BF16 => FloatDType::BF16,
        _ => FloatDType::F32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::sliding_window_mask;
    use crate::tests::TestBackend as B;
    use burn::tensor::{Distribution, Tolerance};

    const ALL: AttentionNeeds = AttentionNeeds {
        last_query: true,
        column_sums: true,
        second_moments: true,
    };

    fn random(shape: [usize; 4]) -> Tensor<B, 4> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), &Default::default())
    }

    /// Plain softmax attention over the whole chunk with an explicit mask, in f32.
    fn reference(
        q: Tensor<B, 4>,
        k: Tensor<B, 4>,
        v: Tensor<B, 4>,
        hidden: Option<Tensor<B, 4, Bool>>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let [_, h, c, d] = q.dims();
        let t = k.dims()[2];
        let n_rep = h / k.dims()[1];
        let (k, v) = (repeat_kv(k, n_rep), repeat_kv(v, n_rep));
        let causal = Tensor::<B, 2, Bool>::tril_mask([c, t], (t - c) as i64, &q.device())
            .reshape([1, 1, c, t])
            .expand([1, h, c, t]);
        let mask = match hidden {
            Some(m) => causal.bool_or(expand_heads(m, h)),
            None => causal,
        };
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((d as f32).sqrt());
        let probs = softmax(scores.mask_fill(mask, f32::NEG_INFINITY), 3);
        (probs.clone().matmul(v), probs)
    }

    /// 6 query heads over 2 KV heads, 5 memory entries + a 7-token chunk.
    fn memory_and_chunk() -> (Tensor<B, 4>, Tensor<B, 4>, Tensor<B, 4>) {
        (
            random([1, 6, 7, 8]),
            random([1, 2, 12, 8]),
            random([1, 2, 12, 8]),
        )
    }

    #[test]
    fn blocked_statistics_match_the_full_softmax() {
        // Blocks of 3.
        let (q, k, v) = memory_and_chunk();
        let (expected_out, probs) = reference(q.clone(), k.clone(), v.clone(), None);
        let (fused, none) = attend(
            q.clone(),
            k.clone(),
            v.clone(),
            None,
            AttentionNeeds::NONE,
            3,
        );
        assert!(none.column_sums.is_none() && none.last_query.is_none());
        let (out, stats) = attend(q, k, v, None, ALL, 3);
        let tol = Tolerance::<f32>::rel_abs(1e-5, 1e-6);
        out.into_data()
            .assert_approx_eq::<f32>(&expected_out.to_data(), tol);
        fused
            .into_data()
            .assert_approx_eq::<f32>(&expected_out.into_data(), tol);

        // Query heads 0..3 belong to KV head 0, heads 3..6 to KV head 1.
        let grouped = |p: Tensor<B, 4>| p.reshape([2, 3, 12]).sum_dim(1).reshape([2, 12]);
        let sums = grouped(probs.clone().sum_dim(2));
        stats
            .column_sums
            .unwrap()
            .into_data()
            .assert_approx_eq::<f32>(&sums.into_data(), tol);
        let squares = grouped(probs.clone().powi_scalar(2).sum_dim(2));
        stats
            .second_moments
            .unwrap()
            .into_data()
            .assert_approx_eq::<f32>(&squares.into_data(), tol);
        let last = grouped(probs.narrow(2, 6, 1));
        stats
            .last_query
            .unwrap()
            .into_data()
            .assert_approx_eq::<f32>(&last.into_data(), tol);

        // Memory keys are seen by all 7 queries; the chunk key at local index t by 7 - t.
        let seen: Vec<f32> = stats.visible_queries.unwrap().into_data().to_vec().unwrap();
        let expected: Vec<f32> = [7., 7., 7., 7., 7., 7., 6., 5., 4., 3., 2., 1.].repeat(2);
        assert_eq!(seen, expected);
    }

    #[test]
    fn the_blocked_kernel_without_statistics_matches_the_reference() {
        let (q, k, v) = memory_and_chunk();
        let (expected, _) = reference(q.clone(), k.clone(), v.clone(), None);
        let needs = AttentionNeeds::NONE;
        let (blocked, stats) = attend_with(AttentionKernel::Blocked, q, k, v, None, needs, 3);
        assert!(stats.column_sums.is_none() && stats.visible_queries.is_none());
        let tol = Tolerance::<f32>::rel_abs(1e-5, 1e-6);
        blocked
            .into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), tol);
    }

    #[test]
    fn sliding_window_is_applied_on_both_paths() {
        let device = Default::default();
        let (q, k, v) = (
            random([1, 4, 5, 8]),
            random([1, 2, 9, 8]),
            random([1, 2, 9, 8]),
        );
        let qpos = Tensor::<B, 1, Int>::arange(4..9, &device);
        let kpos = Tensor::<B, 1, Int>::arange(0..9, &device)
            .reshape([1, 9])
            .repeat_dim(0, 2);
        let hidden = sliding_window_mask(qpos, kpos, 3);
        let (expected, _) = reference(q.clone(), k.clone(), v.clone(), Some(hidden.clone()));
        let (fused, _) = attend(
            q.clone(),
            k.clone(),
            v.clone(),
            Some(hidden.clone()),
            AttentionNeeds::NONE,
            2,
        );
        let (blocked, stats) = attend(q, k, v, Some(hidden), ALL, 2);
        let tol = Tolerance::<f32>::rel_abs(1e-5, 1e-6);
        fused
            .into_data()
            .assert_approx_eq::<f32>(&expected.to_data(), tol);
        blocked
            .into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), tol);
        // Key 0 (position 0) is seen by no query (first query at position 4, window 3).
        let seen: Vec<f32> = stats.visible_queries.unwrap().into_data().to_vec().unwrap();
        assert_eq!(&seen[..9], &[0., 0., 1., 2., 3., 3., 3., 2., 1.]);
    }

    #[test]
    fn repeat_kv_maps_query_head_to_its_group() {
        let x = random([1, 2, 3, 4]);
        let r = repeat_kv(x.clone(), 3);
        assert_eq!(r.dims(), [1, 6, 3, 4]);
        let head4 = r.narrow(1, 4, 1).into_data();
        head4.assert_eq(&x.narrow(1, 1, 1).into_data(), true);
    }
}
