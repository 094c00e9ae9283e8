//! The pruners' statistics from the flash kernel's log-sum-exp: per KV head, the column sums of
//! the chunk's attention probabilities and the last query's row, each summed over the KV head's
//! query heads, without the probabilities ever reaching device memory.

use cubecl::ir::FastMath;
use cubecl::prelude::*;

use super::tiles::{copy_rows, query_fragments, score_tiles};
use super::{BLOCK, PLANES, VECTOR, shared_stride};

/// One cube per (64 queries, query head), as the attention kernel: per step of 64 keys, each
/// plane recomputes its 16 × 64 scores (`tiles::score_tiles`) and turns them into
/// probabilities with each row's log-sum-exp. A lane adds its two rows' probabilities; three
/// shuffles add the plane's eight quads; the planes' sums meet in shared memory and one
/// atomic add per key puts the cube's column sums into `stats`. The lanes holding query
/// `chunk - 1` add its probabilities to the last-query row, also atomically (the KV head's
/// query heads meet there).
///
/// `q`, `k` as the attention kernel's; `lse`: `[heads, chunk]` from it; `stats`: `[kv_heads,
/// 2, keys]` f32, zero before the launch.
#[allow(clippy::too_many_arguments)]
#[cube(
    launch_unchecked,
    fast_math = FastMath::ReducedPrecision | FastMath::NotNaN | FastMath::NotInf
)]
pub(super) fn flash_statistics_kernel<F: Float, N: Size>(
    q: &Tensor<Vector<F, N>>,
    k: &Tensor<Vector<F, N>>,
    lse: &Tensor<f32>,
    stats: &mut Tensor<Atomic<f32>>,
    scale: f32,
    memory: u32,
    n_rep: u32,
    #[comptime] d: usize,
    #[define(F)] _dtype: StorageType,
) {
    let block = comptime![BLOCK];
    let chunk = q.shape(2);
    let keys = k.shape(2);
    let head = CUBE_POS_Y as usize;
    let group = head / n_rep as usize;
    let q0 = CUBE_POS_X as usize * block;
    let plane = UNIT_POS_Y as usize;
    let unit = plane * 32usize + UNIT_POS_X as usize;
    let (quad, pair) = ((UNIT_POS_X / 4) as usize, (UNIT_POS_X % 4) as usize);

    let mut q_s = SharedMemory::<Vector<F, N>>::new(comptime![BLOCK * shared_stride(d)]);
    let mut k_s = SharedMemory::<Vector<F, N>>::new(comptime![BLOCK * shared_stride(d)]);
    // Each plane's column sums of the step.
    let mut sums = SharedMemory::<f32>::new(comptime![PLANES * BLOCK]);

    let n = comptime![VECTOR];
    copy_rows(
        q,
        head * q.stride(1) / n,
        q.stride(2) / n,
        q0,
        chunk,
        &mut q_s,
        d,
    );
    sync_cube();
    let q_frags = query_fragments(&q_s, d);

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
    let stats_base = group * 2usize * keys;

    let (k_base, k_row) = (group * k.stride(1) / n, k.stride(2) / n);
    let visible_keys = min(keys, memory as usize + min(q0 + block, chunk));
    let steps = visible_keys.div_ceil(block);
    for step in 0..steps {
        let k0 = step * block;
        sync_cube();
        copy_rows(k, k_base, k_row, k0, keys, &mut k_s, d);
        sync_cube();

        let masked = k0 + block > keys || k0 + block > plane_limit + 1usize;
        let s = score_tiles(&q_frags, &k_s, scale, k0, keys, limit_g, masked, d);
        #[unroll]
        for j in 0..comptime![BLOCK / 8] {
            let tile = s.index(j);
            let p_g = (tile[0] - Vector::new(lse_g)).exp();
            let p_h = (tile[1] - Vector::new(lse_h)).exp();
            #[unroll]
            for e in 0..2usize {
                let column = j * 8usize + pair * 2usize + e;
                let mut total = p_g[e] + p_h[e];
                total += plane_shuffle_xor(total, 4u32);
                total += plane_shuffle_xor(total, 8u32);
                total += plane_shuffle_xor(total, 16u32);
                if quad == 0 {
                    sums[plane * block + column] = total;
                }
                let key = k0 + column;
                if query_g + 1usize == chunk && key < keys {
                    stats[stats_base + keys + key].fetch_add(p_g[e]);
                }
                if query_h + 1usize == chunk && key < keys {
                    stats[stats_base + keys + key].fetch_add(p_h[e]);
                }
            }
        }
        sync_cube();
        if unit < block && k0 + unit < keys {
            let mut total = 0.0f32;
            #[unroll]
            for p in 0..comptime![PLANES] {
                total += sums[p * block + unit];
            }
            stats[stats_base + k0 + unit].fetch_add(total);
        }
    }
}
