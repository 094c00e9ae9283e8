//! Attention of a chunk over `[memory; chunk]` on host slices, with the pruners' statistics
//! from the same pass.
//!
//! Work is cut into tasks of one KV head × a block of query rows, spread over rayon's pool.
//! A task stacks the queries of the KV head's whole group (GQA without repeated keys or
//! values), computes their scores against the keys that the block can see (causal: keys past
//! the block's last query are skipped, which halves a one-chunk prefill), takes each row's
//! softmax exactly (the row is in cache, so no online rescaling is needed), adds the row to
//! the statistics, and multiplies by the values. Only one `[group rows, keys]` block per thread
//! is ever held, never the `[heads, chunk, keys]` probabilities.

use std::cell::RefCell;

use mss_core::AttentionNeeds;
use rayon::prelude::*;

use super::gemm::{MatRef, Threads, matmul};
use super::simd::{softmax_prefix, vectorized};

/// The sizes of one attention call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttentionShape {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// Queries: the chunk's tokens.
    pub chunk_len: usize,
    /// Keys: memory entries followed by the chunk's own.
    pub keys: usize,
}

/// Mistral's sliding window: key `j` of KV head `g` is hidden from query `i` when
/// `query_positions[i] - key_positions[g * keys + j] >= size` (RoPE positions).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window<'a> {
    pub query_positions: &'a [i64],
    pub key_positions: &'a [i64],
    pub size: usize,
}

/// Statistics per KV head, `[n_kv_heads, keys]` each, as [`mss_core::AttentionStats`].
#[derive(Debug, Default)]
pub(crate) struct HostStats {
    pub last_query: Option<Vec<f32>>,
    pub column_sums: Option<Vec<f32>>,
    pub visible_queries: Option<Vec<f32>>,
    pub second_moments: Option<Vec<f32>>,
}

/// Score blocks hold at most this many f32 (1 MiB: a block stays in a core's L2 cache).
const BLOCK_SCORES: usize = 1 << 18;

/// Query rows per task for `keys` keys and `n_rep` query heads per KV head.
fn block_rows(n_rep: usize, keys: usize) -> usize {
    (BLOCK_SCORES / (n_rep * keys).max(1)).clamp(8, 64)
}

/// What one task returns: its output rows and its share of the statistics.
struct Block {
    kv_head: usize,
    start: usize,
    rows: usize,
    /// `[n_rep, rows, head_dim]`
    out: Vec<f32>,
    /// Over the keys the block sees (a prefix of all keys).
    sums: Vec<f32>,
    squares: Vec<f32>,
    seen: Vec<f32>,
    last: Vec<f32>,
}

thread_local! {
    /// Each thread's score block and stacked queries, reused across tasks and calls.
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Softmax attention of the chunk's queries over the keys, plus the statistics in `needs`.
///
/// Every memory key is visible to every query, chunk keys are causal, and `window` (if given)
/// hides more. Keys and queries arrive rotated; scores are scaled by `1 / sqrt(head_dim)`.
///
/// # Shapes
/// - `q`: `[chunk_len, n_heads * head_dim]` (the query projection's rows)
/// - `k`, `v`: `[n_kv_heads, keys, head_dim]`
/// - `out`: `[chunk_len, n_heads * head_dim]`, overwritten
pub(crate) fn attend(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    shape: AttentionShape,
    window: Option<Window<'_>>,
    needs: AttentionNeeds,
    out: &mut [f32],
) -> HostStats {
    let AttentionShape {
        n_heads,
        n_kv_heads,
        head_dim,
        chunk_len,
        keys,
    } = shape;
    let n_rep = n_heads / n_kv_heads;
    let width = n_heads * head_dim;
    assert!(n_kv_heads > 0 && n_heads % n_kv_heads == 0, "attend: heads");
    assert!(keys >= chunk_len, "attend: {keys} keys for {chunk_len} queries");
    assert_eq!(q.len(), chunk_len * width, "attend: queries");
    assert_eq!(k.len(), n_kv_heads * keys * head_dim, "attend: keys");
    assert_eq!(v.len(), k.len(), "attend: values");
    assert_eq!(out.len(), q.len(), "attend: output");
    let rows_per_block = block_rows(n_rep, keys);
    let blocks = chunk_len.div_ceil(rows_per_block);
    let task = |index: usize| {
        let (kv_head, block) = (index / blocks, index % blocks);
        let start = block * rows_per_block;
        let rows = rows_per_block.min(chunk_len - start);
        attend_block(q, k, v, shape, window, needs, kv_head, start, rows)
    };
    let results: Vec<Block> = (0..n_kv_heads * blocks).into_par_iter().map(task).collect();

    let column_sums = needs.column_sums || needs.second_moments;
    let stat = |on: bool| on.then(|| vec![0.0f32; n_kv_heads * keys]);
    let mut stats = HostStats {
        last_query: stat(needs.last_query),
        column_sums: stat(column_sums),
        visible_queries: stat(column_sums),
        second_moments: stat(needs.second_moments),
    };
    for block in results {
        for j in 0..n_rep {
            let head = block.kv_head * n_rep + j;
            for i in 0..block.rows {
                let from = (j * block.rows + i) * head_dim;
                let to = (block.start + i) * width + head * head_dim;
                out[to..to + head_dim].copy_from_slice(&block.out[from..from + head_dim]);
            }
        }
        let at = block.kv_head * keys;
        for (stat, part) in [
            (&mut stats.column_sums, &block.sums),
            (&mut stats.second_moments, &block.squares),
            (&mut stats.visible_queries, &block.seen),
            (&mut stats.last_query, &block.last),
        ] {
            if let Some(stat) = stat.as_mut() {
                for (s, p) in stat[at..].iter_mut().zip(part) {
                    *s += p;
                }
            }
        }
    }
    if !needs.column_sums {
        stats.column_sums = None;
    }
    stats
}

/// One task: query rows `start..start + rows` of every query head of `kv_head`.
#[allow(clippy::too_many_arguments)]
fn attend_block(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    shape: AttentionShape,
    window: Option<Window<'_>>,
    needs: AttentionNeeds,
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
    let column_sums = needs.column_sums || needs.second_moments;
    let is_last = start + rows == chunk_len;
    let zeros = |on: bool| if on { vec![0.0f32; seen_keys] } else { Vec::new() };
    let mut block = Block {
        kv_head,
        start,
        rows,
        out: vec![0.0; stacked * head_dim],
        sums: zeros(column_sums),
        squares: zeros(needs.second_moments),
        seen: zeros(column_sums),
        last: zeros(needs.last_query && is_last),
    };
    SCRATCH.with_borrow_mut(|(scores, queries)| {
        // The group's queries stacked as `[n_rep * rows, head_dim]`.
        queries.clear();
        for j in 0..n_rep {
            let head = kv_head * n_rep + j;
            for i in start..start + rows {
                let at = i * n_heads * head_dim + head * head_dim;
                queries.extend_from_slice(&q[at..at + head_dim]);
            }
        }
        scores.resize(stacked * seen_keys, 0.0);
        let head_keys = MatRef {
            data: k,
            offset: kv_head * keys * head_dim,
            rows: seen_keys,
            cols: head_dim,
            row_stride: head_dim,
            col_stride: 1,
        };
        let scale = 1.0 / (head_dim as f32).sqrt();
        matmul(
            scores,
            seen_keys,
            MatRef::row_major(queries, stacked, head_dim),
            head_keys.t(),
            scale,
            false,
            Threads::One,
        );
        vectorized(
            #[inline(always)]
            || {
                for (r, row) in scores.chunks_exact_mut(seen_keys).enumerate() {
                    let (j, i) = (r / rows, r % rows);
                    let query = start + i;
                    let visible = memory + query + 1;
                    if let Some(w) = window {
                        hide_outside_window(row, w, kv_head * keys, query, visible);
                    }
                    softmax_prefix(row, visible);
                    if column_sums {
                        for (s, &p) in block.sums.iter_mut().zip(&*row) {
                            *s += p;
                        }
                        // Visibility is per KV head: counted once per group.
                        if j == 0 {
                            count_visible(&mut block.seen, visible, window, kv_head * keys, query);
                        }
                    }
                    if needs.second_moments {
                        for (s, &p) in block.squares.iter_mut().zip(&*row) {
                            *s += p * p;
                        }
                    }
                    if needs.last_query && query == chunk_len - 1 {
                        for (s, &p) in block.last.iter_mut().zip(&*row) {
                            *s += p;
                        }
                    }
                }
            },
        );
        let head_values = MatRef {
            data: v,
            offset: kv_head * keys * head_dim,
            rows: seen_keys,
            cols: head_dim,
            row_stride: head_dim,
            col_stride: 1,
        };
        matmul(
            &mut block.out,
            head_dim,
            MatRef::row_major(scores, stacked, seen_keys),
            head_values,
            1.0,
            false,
            Threads::One,
        );
    });
    block
}

/// Sets the scores of keys outside the window to `-inf` (they become 0 in the softmax).
#[inline(always)]
fn hide_outside_window(row: &mut [f32], window: Window<'_>, key_at: usize, query: usize, visible: usize) {
    let query_position = window.query_positions[query];
    let key_positions = &window.key_positions[key_at..key_at + visible];
    for (score, &position) in row.iter_mut().zip(key_positions) {
        if query_position - position >= window.size as i64 {
            *score = f32::NEG_INFINITY;
        }
    }
}

/// Adds 1 for every key that `query` sees: the causal prefix `..visible`, less the keys the
/// window hides (read from the positions, not the probabilities, which may underflow to 0).
#[inline(always)]
fn count_visible(seen: &mut [f32], visible: usize, window: Option<Window<'_>>, key_at: usize, query: usize) {
    match window {
        None => seen[..visible].iter_mut().for_each(|s| *s += 1.0),
        Some(w) => {
            let query_position = w.query_positions[query];
            let key_positions = &w.key_positions[key_at..key_at + visible];
            for (s, &position) in seen.iter_mut().zip(key_positions) {
                if query_position - position < w.size as i64 {
                    *s += 1.0;
                }
            }
        }
    }
}
