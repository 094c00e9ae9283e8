//! Attention of a chunk over `[memory; chunk]` on host slices, with the pruners' statistics.
//!
//! Work is cut into tasks of one KV head × a block of query rows, spread over rayon's pool.
//! A task stacks the queries of the KV head's whole group (GQA without repeated keys or
//! values) and walks the keys the block can see (causal: keys past the block's last query are
//! skipped, which halves a one-chunk prefill) in blocks, with an online softmax: each key
//! block's scores come from one product, are exponentiated against the running row maximum,
//! and are multiplied into the output, rescaled when the maximum grows. When a row's keys fit
//! one block (every chunked prefill of the paper's settings) that is an exact softmax in one
//! pass and the statistics come from the same probabilities; otherwise a second pass
//! recomputes the scores and reads the probabilities from each row's log-sum-exp. Only one
//! `[group rows, key block]` score block per thread is ever held, never the
//! `[heads, chunk, keys]` probabilities.

mod block;
mod online_softmax;
mod window;

use mss_core::AttentionNeeds;
use rayon::prelude::*;

use self::block::{Block, attend_block};

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

/// How the work is cut.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Blocking {
    /// Queries of each head per task.
    pub query_rows: usize,
    /// A task's scores are held for all its keys at once up to this many f32.
    pub one_block_scores: usize,
    /// Keys per block beyond that.
    pub key_block: usize,
}

impl Blocking {
    /// 64 queries per head (the group's heads stack to a multiple of the 64-row tiles of gemm's
    /// AVX-512 kernel), one key block up to 2 MiB of scores (a core's L2), else 512 keys.
    pub const DEFAULT: Self = Self {
        query_rows: 64,
        one_block_scores: 1 << 19,
        key_block: 512,
    };
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
    attend_with(q, k, v, shape, window, needs, out, Blocking::DEFAULT)
}

/// [`attend`] with the given blocking (the result does not depend on it beyond rounding).
#[allow(clippy::too_many_arguments)]
fn attend_with(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    shape: AttentionShape,
    window: Option<Window<'_>>,
    needs: AttentionNeeds,
    out: &mut [f32],
    blocking: Blocking,
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
    assert!(
        keys >= chunk_len,
        "attend: {keys} keys for {chunk_len} queries"
    );
    assert_eq!(q.len(), chunk_len * width, "attend: queries");
    assert_eq!(k.len(), n_kv_heads * keys * head_dim, "attend: keys");
    assert_eq!(v.len(), k.len(), "attend: values");
    assert_eq!(out.len(), q.len(), "attend: output");
    assert!(
        blocking.query_rows > 0 && blocking.key_block > 0,
        "attend: blocking"
    );
    let rows_per_block = blocking.query_rows;
    let blocks = chunk_len.div_ceil(rows_per_block);
    let task = |index: usize| {
        let (kv_head, block) = (index / blocks, index % blocks);
        let start = block * rows_per_block;
        let rows = rows_per_block.min(chunk_len - start);
        attend_block(
            q, k, v, shape, window, needs, blocking, kv_head, start, rows,
        )
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

#[cfg(test)]
mod tests;
