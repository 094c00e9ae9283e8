//! The pruners' statistics from the flash kernel's log-sum-exp: per KV head, the column sums of
//! the chunk's attention probabilities and the last query's row, each summed over the KV head's
//! query heads, without the probabilities ever reaching device memory.
//!
//! Keys-major: a cube owns 64 keys and walks the query blocks that see them, so each key's sum
//! stays in its lanes' registers from the first block to the last and is stored once. (The
//! first version walked the keys for a block of queries, as the attention kernel does, and
//! had every step's column sums meet across the plane's quads by shuffles and across the
//! planes in shared memory, then stored per query block for a second kernel to add.) Plain
//! stores only; with several query heads per KV head a small kernel adds the heads' rows.

use cubecl::ir::FastMath;
use cubecl::prelude::barrier::Barrier;
use cubecl::prelude::*;

use super::tiles::{MASKED, copy_head_rows, copy_rows_async, score_tiles};
use mss_core::cuda::Strides;

use super::{BLOCK, shared_stride};

/// One cube per (query head, `64 tiles` keys); plane `w` owns keys `16 tiles w .. 16 tiles (w +
/// 1)` of the block, as `tiles` row tiles of 16 that share every `ldmatrix` of queries. The
/// keys are copied once to shared memory; per step of 64 queries (copied with `cp.async`, the
/// next step's while this one's probabilities are summed) each plane computes its `16 tiles` ×
/// 64 scores `K Qᵀ` (`tiles::score_tiles` with the keys in the queries' place, so a lane holds
/// keys `16 (tiles w + m) + l / 4` and `+ 8` of row tile `m`, queries `8 j + 2 (l % 4)` and
/// `+ 1`), turns them into probabilities with each query's log-sum-exp (`exp(s · scale −
/// lse)`, invisible pairs masked first) and adds them to its keys' sums. The steps start at
/// the first query block that sees one of the cube's keys (causal: query `t` sees keys `0 ..=
/// memory + t`) and end at the chunk's end, whose last query's probabilities are kept apart.
/// The quad's four lanes' sums are added at the end.
///
/// `q`, `k` (and their strides, `chunk` and `keys`) as the attention kernel's, `n_rep` query
/// heads a KV head; `lse`: `[heads, chunk]` from it; `sums`, `last`: `[heads, keys]` f32,
/// every entry written. Arrays and scalars, as the attention kernel's.
#[allow(clippy::too_many_arguments)]
#[cube(
    launch_unchecked,
    fast_math = FastMath::ReducedPrecision | FastMath::NotNaN | FastMath::NotInf
)]
pub(super) fn flash_statistics_kernel<F: Float, N: Size>(
    q: &Array<Vector<F, N>>,
    k: &Array<Vector<F, N>>,
    lse: &Array<f32>,
    sums: &mut Array<f32>,
    last: &mut Array<f32>,
    q_strides: Strides,
    k_strides: Strides,
    chunk: u32,
    keys: u32,
    scale: f32,
    n_rep: u32,
    #[comptime] tiles: usize,
    #[comptime] d: usize,
    #[comptime] _source: u64,
    #[define(F)] _dtype: StorageType,
) {
    let block = comptime![BLOCK];
    let key_block = comptime![BLOCK * tiles];
    let (chunk, keys) = (chunk as usize, keys as usize);
    let memory = keys - chunk;
    // Heads along x, key blocks along y: every head's first blocks (the memory's, which every
    // query sees) start first, so the short ones fill the last wave.
    let head = CUBE_POS_X as usize;
    let group = head / n_rep as usize;
    let kb0 = CUBE_POS_Y as usize * key_block;
    let plane = UNIT_POS_Y as usize;
    let (quad, pair) = ((UNIT_POS_X / 4) as usize, (UNIT_POS_X % 4) as usize);

    let mut k_s = SharedMemory::<Vector<F, N>>::new(comptime![BLOCK * tiles * shared_stride(d)]);
    let mut q_s = SharedMemory::<Vector<F, N>>::new(comptime![BLOCK * shared_stride(d)]);
    let queries_loaded = Barrier::shared(CUBE_DIM, UNIT_POS == 0);

    // The cube's keys (zero rows past `keys`): the `A` operand of every step.
    copy_head_rows(k, &k_strides, keys, &mut k_s, group, kb0, key_block, d);

    // Row tile m's keys: g at `key_g + 16 m`, h 8 further.
    let key_g = kb0 + plane * comptime![16 * tiles] + quad;
    // The first query that sees the cube's first key; the blocks before its block see none.
    let mut first_query = 0usize;
    if kb0 > memory {
        first_query = kb0 - memory;
    }
    let t_start = first_query / block * block;
    let steps = (chunk - t_start).div_ceil(block);
    let (q_base, q_row) = (q_strides.at(head, 0usize), q_strides.at(0usize, 1usize));
    let lse_base = head * chunk;

    // Per row of the plane (row tile m's rows g and h at 2 m and 2 m + 1): this lane's part of
    // its key's sum and of the last query's probability.
    let mut key_sums = Array::<f32>::new(comptime![2 * tiles]);
    let mut lasts = Array::<f32>::new(comptime![2 * tiles]);
    #[unroll]
    for r in 0..comptime![2 * tiles] {
        key_sums[r] = 0.0f32;
        lasts[r] = 0.0f32;
    }
    copy_rows_async(q, q_base, q_row, t_start, chunk, &mut q_s, d);
    queries_loaded.commit_copy_async();
    for step in 0..steps {
        let t0 = t_start + step * block;
        queries_loaded.arrive_and_wait();
        let s = score_tiles(&k_s, &q_s, 0usize, 0usize, 0usize, false, tiles, d);
        // Every unit's scores are in registers: the buffer takes the next step's queries.
        sync_cube();
        if step + 1usize < steps {
            copy_rows_async(q, q_base, q_row, t0 + block, chunk, &mut q_s, d);
            queries_loaded.commit_copy_async();
        }
        // Whether some query of the step misses some key of the cube (its last key past the
        // step's first query's view), or runs past the chunk.
        let masked = kb0 + key_block > memory + t0 + 1usize || t0 + block > chunk;
        #[unroll]
        for j in 0..comptime![BLOCK / 8] {
            #[unroll]
            for e in 0..2usize {
                let query = t0 + j * 8usize + pair * 2usize + e;
                // Queries past the chunk (zero rows of `q_s`) get probabilities of 0.
                let mut row_lse = f32::new(1.0e30);
                if query < chunk {
                    row_lse = lse[lse_base + query];
                }
                #[unroll]
                for m in 0..tiles {
                    let tile = s.index(m * comptime![BLOCK / 8] + j);
                    #[unroll]
                    for r in 0..2usize {
                        let mut x = tile[r][e];
                        if masked && key_g + m * 16usize + r * 8usize > memory + query {
                            x = f32::new(comptime![MASKED]);
                        }
                        let p = (x * scale - row_lse).exp();
                        let row = 2usize * m + r;
                        key_sums[row] += p;
                        if query + 1usize == chunk {
                            lasts[row] = p;
                        }
                    }
                }
            }
        }
    }
    // The quad's lanes hold the same keys' sums over distinct queries (one of them the last
    // query's probability, the others zeros).
    #[unroll]
    for row in 0..comptime![2 * tiles] {
        let mut sum = key_sums[row];
        let mut last_p = lasts[row];
        sum += plane_shuffle_xor(sum, 1u32);
        sum += plane_shuffle_xor(sum, 2u32);
        last_p += plane_shuffle_xor(last_p, 1u32);
        last_p += plane_shuffle_xor(last_p, 2u32);
        let key = key_g + (row / 2usize) * 16usize + (row % 2usize) * 8usize;
        if pair == 0 && key < keys {
            sums[head * keys + key] = sum;
            last[head * keys + key] = last_p;
        }
    }
}

/// One unit per (KV head, key): the column sums and last-query rows of the KV head's query
/// heads (`head_sums`, `head_last`: `[heads, keys]`, contiguous) added into `sums` and `rows`
/// (each `[kv_heads, keys]`): two tensors, not one, so that neither is cut out of the other (a
/// copy on Burn's backend). Arrays and scalars rather than tensors, so that nothing is
/// uploaded before the launch. Not launched when each KV head has one query head.
#[cube(launch_unchecked)]
pub(super) fn statistics_sum_kernel(
    head_sums: &Array<f32>,
    head_last: &Array<f32>,
    sums: &mut Array<f32>,
    rows: &mut Array<f32>,
    kv_heads: u32,
    keys: u32,
    n_rep: u32,
    #[comptime] _source: u64,
) {
    let (keys, n_rep) = (keys as usize, n_rep as usize);
    let i = ABSOLUTE_POS;
    if i < kv_heads as usize * keys {
        let (group, key) = (i / keys, i % keys);
        let mut columns = 0.0f32;
        let mut row = 0.0f32;
        for r in 0..n_rep {
            let at = (group * n_rep + r) * keys + key;
            columns += head_sums[at];
            row += head_last[at];
        }
        sums[i] = columns;
        rows[i] = row;
    }
}
