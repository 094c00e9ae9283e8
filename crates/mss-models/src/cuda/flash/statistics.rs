//! The pruners' statistics from the flash kernel's log-sum-exp: per KV head, the column sums of
//! the chunk's attention probabilities and the last query's row, each summed over the KV head's
//! query heads, without the probabilities ever reaching device memory.
//!
//! Plain stores only: each cube writes its own column sums and the cube holding the last query
//! its row; a second small kernel adds them up per KV head. (The first version added into the
//! statistics with atomics after a zero fill and lost sums on small grids.)

use cubecl::ir::FastMath;
use cubecl::prelude::barrier::Barrier;
use cubecl::prelude::*;

use super::tiles::{copy_queries, copy_rows_async, score_tiles};
use super::{BLOCK, PLANES, UNITS, VECTOR, shared_stride};

/// One cube per (64 queries, query head), as the attention kernel: per step of 64 keys, each
/// plane recomputes its 16 × 64 scores (`tiles::score_tiles`) and turns them into
/// probabilities with each row's log-sum-exp. A lane adds its two rows' probabilities; three
/// exchanges of halves add the plane's eight quads (`exchange_halves`); the planes' sums meet
/// in shared memory and the cube
/// writes its column sums to `partial` (zeros past the keys it sees). The lanes holding query
/// `chunk - 1` write its probabilities to `last`.
///
/// `q`, `k` as the attention kernel's; `lse`: `[heads, chunk]` from it; `partial`: `[heads,
/// query blocks, keys]`, `last`: `[heads, keys]`, f32, every entry written.
#[allow(clippy::too_many_arguments)]
#[cube(
    launch_unchecked,
    fast_math = FastMath::ReducedPrecision | FastMath::NotNaN | FastMath::NotInf
)]
pub(super) fn flash_statistics_kernel<F: Float, N: Size>(
    q: &Tensor<Vector<F, N>>,
    k: &Tensor<Vector<F, N>>,
    lse: &Tensor<f32>,
    partial: &mut Tensor<f32>,
    last: &mut Tensor<f32>,
    scale: f32,
    memory: u32,
    #[comptime] d: usize,
    #[comptime] _source: u64,
    #[define(F)] _dtype: StorageType,
) {
    let block = comptime![BLOCK];
    let chunk = q.shape(2);
    let keys = k.shape(2);
    let head = CUBE_POS_Y as usize;
    let n_rep = q.shape(1) / k.shape(1);
    let group = head / n_rep;
    let q0 = CUBE_POS_X as usize * block;
    let plane = UNIT_POS_Y as usize;
    let unit = plane * 32usize + UNIT_POS_X as usize;
    let (quad, pair) = ((UNIT_POS_X / 4) as usize, (UNIT_POS_X % 4) as usize);

    let mut q_s = SharedMemory::<Vector<F, N>>::new(comptime![BLOCK * shared_stride(d)]);
    let mut k_s = SharedMemory::<Vector<F, N>>::new(comptime![BLOCK * shared_stride(d)]);
    let keys_loaded = Barrier::shared(CUBE_DIM, UNIT_POS == 0);
    // Each plane's column sums of the step.
    let mut sums = SharedMemory::<f32>::new(comptime![PLANES * BLOCK]);

    let n = comptime![VECTOR];
    copy_queries(q, &mut q_s, head, q0, comptime![BLOCK], d);

    let row_g = plane * 16usize + quad;
    let (query_g, query_h) = (q0 + row_g, q0 + row_g + 8usize);
    // Rows past the chunk get probabilities of 0.
    let mut lse_g = f32::new(1.0e30);
    let mut lse_h = f32::new(1.0e30);
    if query_g < chunk {
        lse_g = lse[head * chunk + query_g];
    }
    if query_h < chunk {
        lse_h = lse[head * chunk + query_h];
    }
    let limit_g = memory as usize + q0 + row_g;
    let plane_limit = memory as usize + q0 + plane * 16usize;
    let partial_base = (head * CUBE_COUNT_X as usize + CUBE_POS_X as usize) * keys;

    let (k_base, k_row) = (group * k.stride(1) / n, k.stride(2) / n);
    let visible_keys = min(keys, memory as usize + min(q0 + block, chunk));
    let steps = visible_keys.div_ceil(block);
    // As the attention kernel: the next step's keys are copied (`cp.async`) while this
    // step's sums are made.
    copy_rows_async(k, k_base, k_row, 0usize, keys, &mut k_s, d);
    keys_loaded.commit_copy_async();
    for step in 0..steps {
        let k0 = step * block;
        keys_loaded.arrive_and_wait();
        let masked = k0 + block > keys || k0 + block > plane_limit + 1usize;
        let s = score_tiles(&q_s, &k_s, k0, keys, limit_g, masked, 1usize, d);
        // Every unit's scores are in registers, and the previous step's sums were read.
        sync_cube();
        if step + 1usize < steps {
            copy_rows_async(k, k_base, k_row, k0 + block, keys, &mut k_s, d);
            keys_loaded.commit_copy_async();
        }
        // This lane's probabilities summed over its two rows: column `8 j + 2 pair + e` of the
        // step at `2 j + e`.
        let mut columns = Array::<f32>::new(comptime![BLOCK / 4]);
        #[unroll]
        for j in 0..comptime![BLOCK / 8] {
            let tile = s.index(j);
            let p_g = (tile[0] * Vector::new(scale) - Vector::new(lse_g)).exp();
            let p_h = (tile[1] * Vector::new(scale) - Vector::new(lse_h)).exp();
            #[unroll]
            for e in 0..2usize {
                columns[2usize * j + e] = p_g[e] + p_h[e];
                let key = k0 + j * 8usize + pair * 2usize + e;
                if query_g + 1usize == chunk && key < keys {
                    last[head * keys + key] = p_g[e];
                }
                if query_h + 1usize == chunk && key < keys {
                    last[head * keys + key] = p_h[e];
                }
            }
        }
        // The plane's eight quads hold the same columns: each exchange sends half of a lane's
        // columns to the lane 16, 8, then 4 apart and adds the other half, which leaves quad
        // `q` the plane's sums of tile `q` (14 shuffles a lane instead of 48).
        exchange_halves(&mut columns, 8usize, 16u32);
        exchange_halves(&mut columns, 4usize, 8u32);
        exchange_halves(&mut columns, 2usize, 4u32);
        #[unroll]
        for e in 0..2usize {
            sums[plane * block + quad * 8usize + pair * 2usize + e] = columns[e];
        }
        sync_cube();
        if unit < block && k0 + unit < keys {
            let mut total = 0.0f32;
            #[unroll]
            for p in 0..comptime![PLANES] {
                total += sums[p * block + unit];
            }
            partial[partial_base + k0 + unit] = total;
        }
    }
    // Keys past every query of the block: no probability.
    let mut key = steps * block + unit;
    while key < keys {
        partial[partial_base + key] = 0.0f32;
        key += comptime![UNITS];
    }
}

/// Adds `columns[i + width]` (this lane's upper half, `i < width`) or `columns[i]` (its
/// lower) of the lane `lane_bit` apart to this lane's other half, into `columns[i]`: the lane
/// with `lane_bit` set keeps the upper half, its partner the lower.
#[cube]
fn exchange_halves(columns: &mut Array<f32>, #[comptime] width: usize, #[comptime] lane_bit: u32) {
    let upper = (UNIT_POS_X & lane_bit) != 0;
    #[unroll]
    for i in 0..width {
        let (low, high) = (columns[i], columns[i + width]);
        let sent = select(upper, low, high);
        columns[i] = select(upper, high, low) + plane_shuffle_xor(sent, lane_bit);
    }
}

/// One unit per (KV head, key): the column sums of the KV head's query heads over every query
/// block into `sums`, and their last-query rows into `rows` (each `[kv_heads, keys]`): two
/// tensors, not one, so that neither is cut out of the other (a copy on Burn's backend).
/// `partial` is `[heads, blocks, keys]` and `last` `[heads, keys]`, contiguous; arrays and
/// scalars rather than tensors, so that nothing is uploaded before the launch.
#[cube(launch_unchecked)]
pub(super) fn statistics_sum_kernel(
    partial: &Array<f32>,
    last: &Array<f32>,
    sums: &mut Array<f32>,
    rows: &mut Array<f32>,
    kv_heads: u32,
    keys: u32,
    blocks: u32,
    n_rep: u32,
    #[comptime] _source: u64,
) {
    let (keys, blocks, n_rep) = (keys as usize, blocks as usize, n_rep as usize);
    let i = ABSOLUTE_POS;
    if i < kv_heads as usize * keys {
        let (group, key) = (i / keys, i % keys);
        let mut columns = 0.0f32;
        let mut row = 0.0f32;
        for r in 0..n_rep {
            let head = group * n_rep + r;
            for b in 0..blocks {
                columns += partial[(head * blocks + b) * keys + key];
            }
            row += last[head * keys + key];
        }
        sums[i] = columns;
        rows[i] = row;
    }
}
