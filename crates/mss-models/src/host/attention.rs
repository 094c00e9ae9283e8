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

use std::cell::RefCell;

use mss_core::AttentionNeeds;
use rayon::prelude::*;

use super::gemm::{MatRef, Threads, matmul};
use super::simd::{exp2, sum_of, vectorized};

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

/// One task: query rows `start..start + rows` of every query head of `kv_head`.
#[allow(clippy::too_many_arguments)]
fn attend_block(
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

/// Rows handled side by side in one vector register.
const LANES: usize = 16;

/// One key block of the online softmax over transposed base-2 scores `[key, row]`: raises
/// 2 to every score against its row's running maximum (raised to the block's if larger), adds
/// them to the row's running sum, and leaves in `rescale` the factor by which each row's
/// earlier output must be multiplied (1 where the maximum did not move). Hidden scores are
/// `-inf` and become 0; a row that has seen no key yet keeps a maximum of `-inf`.
///
/// # Shapes
/// - `scores`: `[keys, lanes]`; `max`, `total`, `shift`, `rescale`: `[lanes]`
#[inline(always)]
fn online_softmax(
    scores: &mut [f32],
    max: &mut [f32],
    total: &mut [f32],
    shift: &mut [f32],
    rescale: &mut [f32],
) {
    let lanes = max.len();
    for first in (0..lanes).step_by(LANES) {
        let strip = first..first + LANES;
        // Two keys at a time into two sets of lanes: one chain would wait on each maximum's
        // and each sum's latency.
        let larger = |a: f32, b: f32| if b > a { b } else { a };
        let mut even: [f32; LANES] = max[strip.clone()].try_into().expect("strip");
        let mut odd = even;
        let pairs = scores.chunks_exact(2 * lanes);
        let last = pairs.remainder();
        for pair in pairs {
            let (first_key, second_key) = pair.split_at(lanes);
            for (m, &s) in even.iter_mut().zip(&first_key[strip.clone()]) {
                *m = larger(*m, s);
            }
            for (m, &s) in odd.iter_mut().zip(&second_key[strip.clone()]) {
                *m = larger(*m, s);
            }
        }
        if !last.is_empty() {
            for (m, &s) in even.iter_mut().zip(&last[strip.clone()]) {
                *m = larger(*m, s);
            }
        }
        for (e, &o) in even.iter_mut().zip(&odd) {
            *e = larger(*e, o);
        }
        let new_max = even;
        for (i, &m) in new_max.iter().enumerate() {
            // `-inf - -inf` would be NaN: rows that have seen nothing shift by 0 instead.
            let unseen = m == f32::NEG_INFINITY;
            shift[first + i] = if unseen { 0.0 } else { m };
            rescale[first + i] = if unseen {
                1.0
            } else {
                exp2(max[first + i] - m)
            };
        }
        let strip_shift: [f32; LANES] = shift[strip.clone()].try_into().expect("strip");
        let mut sums = [0.0f32; LANES];
        let mut odd_sums = [0.0f32; LANES];
        let mut pairs = scores.chunks_exact_mut(2 * lanes);
        for pair in &mut pairs {
            let (first_key, second_key) = pair.split_at_mut(lanes);
            for ((x, &s), sum) in first_key[strip.clone()]
                .iter_mut()
                .zip(&strip_shift)
                .zip(&mut sums)
            {
                *x = exp2(*x - s);
                *sum += *x;
            }
            for ((x, &s), sum) in second_key[strip.clone()]
                .iter_mut()
                .zip(&strip_shift)
                .zip(&mut odd_sums)
            {
                *x = exp2(*x - s);
                *sum += *x;
            }
        }
        let last = pairs.into_remainder();
        if !last.is_empty() {
            for ((x, &s), sum) in last[strip.clone()]
                .iter_mut()
                .zip(&strip_shift)
                .zip(&mut sums)
            {
                *x = exp2(*x - s);
                *sum += *x;
            }
        }
        for (sum, &odd) in sums.iter_mut().zip(&odd_sums) {
            *sum += odd;
        }
        for i in 0..LANES {
            total[first + i] = total[first + i] * rescale[first + i] + sums[i];
            max[first + i] = new_max[i];
        }
    }
}

/// Multiplies every key's scores by each row's factor (`[key, row]` layout).
#[inline(always)]
fn scale_rows(scores: &mut [f32], factors: &[f32]) {
    for key in scores.chunks_exact_mut(factors.len()) {
        key.iter_mut().zip(factors).for_each(|(x, &f)| *x *= f);
    }
}

/// `2^(s - shift)` of every score, with each row's shift (`[key, row]` layout).
#[inline(always)]
fn exp2_rows(scores: &mut [f32], shifts: &[f32]) {
    for key in scores.chunks_exact_mut(shifts.len()) {
        key.iter_mut()
            .zip(shifts)
            .for_each(|(x, &shift)| *x = exp2(*x - shift));
    }
}

/// Sets the scores of stacked row `row` for keys outside the window to `-inf` (they become
/// 0 in the softmax), in transposed scores `[key, lanes]`.
#[inline(always)]
fn hide_outside_window(
    scores: &mut [f32],
    lanes: usize,
    row: usize,
    window: Window<'_>,
    key_at: usize,
    query: usize,
    visible: usize,
) {
    let query_position = window.query_positions[query];
    let key_positions = &window.key_positions[key_at..key_at + visible];
    for (key, &position) in key_positions.iter().enumerate() {
        if query_position - position >= window.size as i64 {
            scores[key * lanes + row] = f32::NEG_INFINITY;
        }
    }
}

/// Adds 1 for every key that `query` sees: the causal prefix `..visible`, less the keys the
/// window hides (read from the positions, not the probabilities, which may underflow to 0).
#[inline(always)]
fn count_visible(
    seen: &mut [f32],
    visible: usize,
    window: Option<Window<'_>>,
    key_at: usize,
    query: usize,
) {
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

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: AttentionNeeds = AttentionNeeds {
        last_query: true,
        column_sums: true,
        second_moments: true,
    };

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// The definition, in f64: every query's softmax over the keys it sees, and the
    /// statistics summed over the group's heads and the chunk's queries.
    fn reference(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        s: AttentionShape,
        window: Option<Window<'_>>,
    ) -> (Vec<f32>, [Vec<f32>; 4]) {
        let (h, g, d, c, t) = (s.n_heads, s.n_kv_heads, s.head_dim, s.chunk_len, s.keys);
        let n_rep = h / g;
        let memory = t - c;
        let mut out = vec![0.0; c * h * d];
        let mut stats = [
            vec![0.0; g * t],
            vec![0.0; g * t],
            vec![0.0; g * t],
            vec![0.0; g * t],
        ];
        for head in 0..h {
            let kv = head / n_rep;
            for i in 0..c {
                let sees = |j: usize| {
                    j <= memory + i
                        && window.is_none_or(|w| {
                            w.query_positions[i] - w.key_positions[kv * t + j] < w.size as i64
                        })
                };
                let score = |j: usize| -> f64 {
                    (0..d)
                        .map(|e| {
                            q[i * h * d + head * d + e] as f64 * k[(kv * t + j) * d + e] as f64
                        })
                        .sum::<f64>()
                        / (d as f64).sqrt()
                };
                let max = (0..t)
                    .filter(|&j| sees(j))
                    .map(score)
                    .fold(f64::MIN, f64::max);
                let z: f64 = (0..t)
                    .filter(|&j| sees(j))
                    .map(|j| (score(j) - max).exp())
                    .sum();
                for j in (0..t).filter(|&j| sees(j)) {
                    let p = (score(j) - max).exp() / z;
                    for e in 0..d {
                        out[i * h * d + head * d + e] +=
                            (p * v[(kv * t + j) * d + e] as f64) as f32;
                    }
                    stats[1][kv * t + j] += p as f32;
                    stats[3][kv * t + j] += (p * p) as f32;
                    if i == c - 1 {
                        stats[0][kv * t + j] += p as f32;
                    }
                    if head % n_rep == 0 {
                        stats[2][kv * t + j] += 1.0;
                    }
                }
            }
        }
        (out, stats)
    }

    fn assert_close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 2e-5 + 2e-5 * w.abs(),
                "{what}[{i}]: {g} vs {w}"
            );
        }
    }

    fn check(shape: AttentionShape, windowed: bool, blocking: Blocking) {
        let (h, g, d, c, t) = (
            shape.n_heads,
            shape.n_kv_heads,
            shape.head_dim,
            shape.chunk_len,
            shape.keys,
        );
        let q = random(c * h * d, 1);
        let k = random(g * t * d, 2);
        let v = random(g * t * d, 3);
        // Key RoPE positions: memory entries spread over earlier positions, then the chunk's.
        let query_positions: Vec<i64> = (0..c).map(|i| (3 * (t - c) + i) as i64).collect();
        let key_positions: Vec<i64> = (0..g)
            .flat_map(|_| {
                (0..t).map(|j| {
                    if j < t - c {
                        3 * j as i64
                    } else {
                        (2 * (t - c) + j) as i64
                    }
                })
            })
            .collect();
        let window = windowed.then_some(Window {
            query_positions: &query_positions,
            key_positions: &key_positions,
            size: 7,
        });
        let (want, [last, sums, seen, squares]) = reference(&q, &k, &v, shape, window);
        let mut out = vec![f32::NAN; c * h * d];
        let stats = attend_with(&q, &k, &v, shape, window, ALL, &mut out, blocking);
        assert_close(&out, &want, "output");
        assert_close(&stats.last_query.unwrap(), &last, "last query");
        assert_close(&stats.column_sums.unwrap(), &sums, "column sums");
        assert_close(&stats.visible_queries.unwrap(), &seen, "visible queries");
        assert_close(&stats.second_moments.unwrap(), &squares, "second moments");

        // Without statistics: the same output, nothing else.
        let mut bare = vec![f32::NAN; c * h * d];
        let none = attend_with(
            &q,
            &k,
            &v,
            shape,
            window,
            AttentionNeeds::NONE,
            &mut bare,
            blocking,
        );
        assert_close(&bare, &want, "output without statistics");
        assert!(none.column_sums.is_none() && none.last_query.is_none());
    }

    const SHAPE: AttentionShape = AttentionShape {
        n_heads: 6,
        n_kv_heads: 2,
        head_dim: 8,
        chunk_len: 11,
        keys: 30,
    };

    #[test]
    fn one_key_block_matches_the_definition() {
        for windowed in [false, true] {
            check(SHAPE, windowed, Blocking::DEFAULT);
            // Several query blocks per head, one key block each.
            let blocking = Blocking {
                query_rows: 4,
                ..Blocking::DEFAULT
            };
            check(SHAPE, windowed, blocking);
        }
    }

    #[test]
    fn key_blocks_with_an_online_softmax_match_the_definition() {
        // Blocks of 5 keys: the running maximum moves, and the statistics take the second pass.
        let blocking = Blocking {
            query_rows: 3,
            one_block_scores: 0,
            key_block: 5,
        };
        for windowed in [false, true] {
            check(SHAPE, windowed, blocking);
        }
        // Multi-head attention without memory (one chunk), one query per block.
        let mha = AttentionShape {
            n_heads: 2,
            n_kv_heads: 2,
            head_dim: 4,
            chunk_len: 9,
            keys: 9,
        };
        let blocking = Blocking {
            query_rows: 1,
            one_block_scores: 0,
            key_block: 2,
        };
        check(mha, false, blocking);
    }
}
