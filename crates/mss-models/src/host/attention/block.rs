//! One task of the host attention: a KV head's query heads over a block of query rows, keys
//! walked in blocks with an online softmax, and the task's share of the statistics.

use std::cell::RefCell;

use mss_core::AttentionNeeds;

use super::online_softmax::{LANES, exp2_rows, online_softmax, scale_rows};
use super::window::{count_visible, hide_outside_window};
use super::{AttentionShape, Blocking, Window};
use crate::host::gemm::{MatRef, Threads, matmul};
use crate::host::simd::{sum_of, vectorized};

/// What one task returns: its output rows and its share of the statistics.
pub(super) struct Block {
    pub kv_head: usize,
    pub start: usize,
    pub rows: usize,
    /// `[n_rep, rows, head_dim]`
    pub out: Vec<f32>,
    /// Over the keys the block sees (a prefix of all keys).
    pub sums: Vec<f32>,
    pub squares: Vec<f32>,
    pub seen: Vec<f32>,
    pub last: Vec<f32>,
}

/// One thread's working buffers, reused across tasks and calls.
#[derive(Default)]
struct Scratch {
    /// The group's queries `[n_rep * rows, head_dim]`.
    queries: Vec<f32>,
    /// One key block's scores, then probabilities, transposed: `[key block, lanes]` with the
    /// group's `n_rep * rows` rows padded to whole vectors.
    scores: Vec<f32>,
    /// Each row's running maximum and sum of exponentials.
    max: Vec<f32>,
    total: Vec<f32>,
    /// Each row's shift of the exponentials and factor on its output. The statistics pass
    /// reuses both: `shift` then holds each row's base-2 log-sum-exp (the shift that turns a
    /// score into its probability), `rescale` the reciprocal of its sum (for probabilities
    /// kept from a single block).
    shift: Vec<f32>,
    rescale: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// One task: query rows `start..start + rows` of every query head of `kv_head`.
#[allow(clippy::too_many_arguments)]
pub(super) fn attend_block(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    shape: AttentionShape,
    window: Option<Window<'_>>,
    needs: AttentionNeeds,
    blocking: Blocking,
    kv_head: usize,
    start: usize,
    rows: usize,
) -> Block {
    let AttentionShape {
        n_heads,
        n_kv_heads,
        head_dim,
        chunk_len,
        keys,
    } = shape;
    let n_rep = n_heads / n_kv_heads;
    let memory = keys - chunk_len;
    // Keys past the block's last query are hidden from all its rows.
    let seen_keys = memory + start + rows;
    let stacked = n_rep * rows;
    let key_block = if stacked * seen_keys <= blocking.one_block_scores {
        seen_keys
    } else {
        blocking.key_block
    };
    let column_sums = needs.column_sums || needs.second_moments;
    let any_stats = column_sums || needs.last_query;
    let zeros = |on: bool| {
        if on {
            vec![0.0f32; seen_keys]
        } else {
            Vec::new()
        }
    };
    let mut block = Block {
        kv_head,
        start,
        rows,
        out: vec![0.0; stacked * head_dim],
        sums: zeros(column_sums),
        squares: zeros(needs.second_moments),
        seen: zeros(column_sums),
        last: zeros(needs.last_query && start + rows == chunk_len),
    };
    // Scores in base 2: `s log2(e)`, so that the softmax's exponentials are powers of 2
    // (cheaper than `exp`); the scaling is free inside the product.
    let scale = std::f32::consts::LOG2_E / (head_dim as f32).sqrt();
    // The query of stacked row `r` and how many of the keys from `from` on it sees.
    let query_of = |r: usize| start + r % rows;
    let visible_from = |r: usize, from: usize, len: usize| {
        (memory + query_of(r) + 1).saturating_sub(from).min(len)
    };
    let head_at = kv_head * keys;
    let keys_of = |data, from: usize, len| head_rows(data, head_at + from, len, head_dim);
    // Scores are held transposed, `[key, row]` with rows padded to whole vectors: the product
    // then reads the keys in place (queries on the other side are few and packed once), and
    // the softmax runs down the keys with one row per vector lane.
    let lanes = stacked.next_multiple_of(LANES);
    SCRATCH.with_borrow_mut(|scratch| {
        let Scratch {
            queries,
            scores,
            max,
            total,
            shift,
            rescale,
        } = scratch;
        queries.clear();
        for j in 0..n_rep {
            let head = kv_head * n_rep + j;
            for i in start..start + rows {
                let at = i * n_heads * head_dim + head * head_dim;
                queries.extend_from_slice(&q[at..at + head_dim]);
            }
        }
        let queries = MatRef::row_major(queries, stacked, head_dim);
        let block_scores = |scores: &mut Vec<f32>, from: usize, len: usize| {
            scores.resize(len * lanes, 0.0);
            matmul(
                scores,
                lanes,
                keys_of(k, from, len),
                queries.t(),
                scale,
                false,
                Threads::One,
            );
            for r in 0..stacked {
                let visible = visible_from(r, from, len);
                for key in visible..len {
                    scores[key * lanes + r] = f32::NEG_INFINITY;
                }
                if let Some(w) = window {
                    hide_outside_window(scores, lanes, r, w, head_at + from, query_of(r), visible);
                }
            }
            // The padding lanes (left from earlier blocks) take no part.
            for key in scores.chunks_exact_mut(lanes) {
                key[stacked..].fill(f32::NEG_INFINITY);
            }
        };

        for buffer in [&mut *max, &mut *total, &mut *shift, &mut *rescale] {
            buffer.clear();
            buffer.resize(lanes, 0.0);
        }
        max.fill(f32::NEG_INFINITY);
        for from in (0..seen_keys).step_by(key_block) {
            let len = key_block.min(seen_keys - from);
            block_scores(scores, from, len);
            vectorized(
                #[inline(always)]
                || {
                    online_softmax(&mut scores[..len * lanes], max, total, shift, rescale);
                    for (out, &factor) in block.out.chunks_exact_mut(head_dim).zip(&*rescale) {
                        if factor != 1.0 {
                            out.iter_mut().for_each(|o| *o *= factor);
                        }
                    }
                },
            );
            // A product over at most `PRODUCT_ROWS` rows at a time reads the values in place
            // (`gemm` packs its left side, here the values, for wider products).
            for first in (0..stacked).step_by(PRODUCT_ROWS) {
                let count = PRODUCT_ROWS.min(stacked - first);
                // The probabilities `[rows, keys]` read out of the transposed scores.
                let probabilities = MatRef {
                    data: scores,
                    offset: first,
                    rows: count,
                    cols: len,
                    row_stride: 1,
                    col_stride: lanes,
                };
                matmul(
                    &mut block.out[first * head_dim..],
                    head_dim,
                    probabilities,
                    keys_of(v, from, len),
                    1.0,
                    true,
                    Threads::One,
                );
            }
        }
        vectorized(
            #[inline(always)]
            || {
                for (out, &sum) in block.out.chunks_exact_mut(head_dim).zip(total.iter()) {
                    if sum > 0.0 {
                        out.iter_mut().for_each(|o| *o /= sum);
                    }
                }
            },
        );
        if !any_stats {
            return;
        }
        // Probabilities for the statistics: the last block's exponentials over each row's sum
        // when one block held every key, else recomputed block by block from the log-sum-exp
        // (base 2).
        let one_block = key_block == seen_keys;
        for (shift, (&max, &total)) in shift.iter_mut().zip(max.iter().zip(total.iter())) {
            *shift = if one_block { 0.0 } else { max + total.log2() };
        }
        for (factor, &total) in rescale.iter_mut().zip(total.iter()) {
            *factor = if total > 0.0 { 1.0 / total } else { 0.0 };
        }
        for from in (0..seen_keys).step_by(key_block) {
            let len = key_block.min(seen_keys - from);
            if !one_block {
                block_scores(scores, from, len);
            }
            vectorized(
                #[inline(always)]
                || {
                    let scores = &mut scores[..len * lanes];
                    if one_block {
                        scale_rows(scores, rescale);
                    } else {
                        exp2_rows(scores, shift);
                    }
                    for (key, row) in scores.chunks_exact(lanes).enumerate() {
                        let row = &row[..stacked];
                        let at = from + key;
                        if column_sums {
                            block.sums[at] += sum_of(row, |p| p);
                        }
                        if needs.second_moments {
                            block.squares[at] += sum_of(row, |p| p * p);
                        }
                        if needs.last_query && start + rows == chunk_len {
                            // The chunk's last query is the last row of each head.
                            block.last[at] += (1..=n_rep).map(|j| row[j * rows - 1]).sum::<f32>();
                        }
                    }
                },
            );
            if column_sums {
                // Visibility is per KV head: counted once per group.
                for r in 0..rows {
                    let visible = visible_from(r, from, len);
                    let seen = &mut block.seen[from..from + len];
                    count_visible(seen, visible, window, head_at + from, query_of(r));
                }
            }
        }
    });
    block
}

/// Rows `first..first + len` of a `[.., head_dim]` row-major buffer.
fn head_rows(data: &[f32], first: usize, len: usize, head_dim: usize) -> MatRef<'_> {
    MatRef {
        data,
        offset: first * head_dim,
        rows: len,
        cols: head_dim,
        row_stride: head_dim,
        col_stride: 1,
    }
}

/// Rows per product of probabilities and values: `gemm` reads its left side in place up to
/// `8 × 6` columns of the (internally transposed) product and packs it beyond.
const PRODUCT_ROWS: usize = 48;
