//! The flash attention kernel: a chunk's queries over `[memory; chunk]`, causal, the output and
//! each row's log-sum-exp.

use cubecl::ir::{FastMath, MatrixIdent};
use cubecl::prelude::barrier::Barrier;
use cubecl::prelude::*;

use super::tiles::{
    MASKED, Pairs, STALE_MAX, copy_head_rows, copy_rows_async, mma_definition, score_tiles,
    split_fragments, zero_pairs,
};
use mss_core::cuda::Strides;

use super::{BLOCK, shared_stride};

/// One cube per (`64 tiles` queries, query head); plane `w` owns queries `16 tiles w ..
/// 16 tiles (w + 1)` of the block, as `tiles` row tiles of 16 (see `tiles` for the layout),
/// which share every `ldmatrix` of keys and values. The queries are copied once to shared
/// memory, and their `A` fragments read from there at each step. Keys and values go to shared
/// memory with `cp.async` (one buffer and one barrier each), FlashAttention-2's way: a step's
/// values are copied while its scores are computed, and the next step's keys while its values
/// are used. Each plane computes its `16 tiles` × 64 scores in registers, updates each row's
/// reference max (two shuffles within the quad; moved only past [`STALE_MAX`]), turns the
/// scores into probabilities in place (`exp(s · scale − max · scale)`, one fused multiply-add
/// before each `exp`), rescales its output rows when a row's max moved and adds `P V`
/// (`ldmatrix` transposed for `V`). The output, `16
/// tiles` × `d` f32 per plane, stays in registers until it is divided by each row's sum and
/// written. At heads of 128: one row tile, 52 KB of shared memory and 167 registers a unit
/// (three cubes per SM); two, 70 KB and 254 registers (two cubes per SM), each `ldmatrix`
/// feeding twice the `mma`s — 155 → 133 µs at the 7B shape, so two is the default
/// (`set_flash_rows_per_plane`).
///
/// `q`: `[heads, chunk, d]` at `q_strides`, `k`, `v`: `[kv_heads, keys, d]` at theirs
/// (vectors of [`VECTOR`](super::VECTOR): unit stride along `d`, strides in whole vectors);
/// `out`: `[chunk, heads, d]` and `lse`: `[heads, chunk]` (each row's `ln Σ exp(q·k ·
/// scale)`), contiguous.
/// Arrays and scalars, not tensors, so that nothing is uploaded before the launch. Query `t`
/// sees keys `0..=keys - chunk + t`; every query sees key 0, so each row's max is finite from
/// the first step.
// `CUBE_COUNT_Y - 1 - CUBE_POS_Y`: rustc sees CubeCL's placeholder constants, not a launch.
#[allow(clippy::too_many_arguments, arithmetic_overflow)]
#[cube(
    launch_unchecked,
    fast_math = FastMath::ReducedPrecision | FastMath::NotNaN | FastMath::NotInf
)]
pub(super) fn flash_attention_kernel<F: Float, N: Size>(
    q: &Array<Vector<F, N>>,
    k: &Array<Vector<F, N>>,
    v: &Array<Vector<F, N>>,
    out: &mut Array<F>,
    lse: &mut Array<f32>,
    q_strides: Strides,
    k_strides: Strides,
    v_strides: Strides,
    chunk: u32,
    keys: u32,
    scale: f32,
    n_rep: u32,
    #[comptime] tiles: usize,
    #[comptime] d: usize,
    #[comptime] _source: u64,
    #[define(F)] _dtype: StorageType,
) {
    let stride = comptime![shared_stride(d)];
    let block = comptime![BLOCK];
    let queries = comptime![BLOCK * tiles];
    let key_tiles = comptime![BLOCK / 8];
    let out_tiles = comptime![d / 8];
    let (chunk, keys) = (chunk as usize, keys as usize);
    let memory = keys - chunk;
    // Heads along x (one cube each), query blocks along y from the last: the blocks that see
    // the most keys start first, so the short ones fill the last wave.
    let heads = CUBE_COUNT_X as usize;
    let head = CUBE_POS_X as usize;
    let group = head / n_rep as usize;
    let q0 = (CUBE_COUNT_Y - 1 - CUBE_POS_Y) as usize * queries;
    let plane = UNIT_POS_Y as usize;
    let (matrix, matrix_row) = ((UNIT_POS_X / 8) as usize, (UNIT_POS_X % 8) as usize);
    let (quad, pair) = ((UNIT_POS_X / 4) as usize, (UNIT_POS_X % 4) as usize);

    let mut q_s = SharedMemory::<Vector<F, N>>::new(comptime![BLOCK * tiles * shared_stride(d)]);
    let mut k_s = SharedMemory::<Vector<F, N>>::new(comptime![BLOCK * shared_stride(d)]);
    let mut v_s = SharedMemory::<Vector<F, N>>::new(comptime![BLOCK * shared_stride(d)]);
    let keys_loaded = Barrier::shared(CUBE_DIM, UNIT_POS == 0);
    let values_loaded = Barrier::shared(CUBE_DIM, UNIT_POS == 0);

    copy_head_rows(q, &q_strides, chunk, &mut q_s, head, q0, queries, d);

    let mma = mma_definition::<F>();
    let mut o = Sequence::<Pairs<f32>>::new();
    #[unroll]
    for _ in 0..comptime![tiles * (d / 8)] {
        o.push(zero_pairs());
    }
    // Per row of the plane (row tile m's rows g and h at 2 m and 2 m + 1): its reference max (of
    // the unscaled scores) and this lane's part of its sum (the quad's parts are added at the
    // end).
    let mut row_max = Array::<f32>::new(comptime![2 * tiles]);
    let mut row_sum = Array::<f32>::new(comptime![2 * tiles]);
    let mut rescale = Array::<f32>::new(comptime![2 * tiles]);
    #[unroll]
    for r in 0..comptime![2 * tiles] {
        row_max[r] = f32::new(comptime![MASKED]);
        row_sum[r] = 0.0f32;
    }
    let first_row = plane * comptime![16 * tiles];
    let limit_g = memory + q0 + first_row + quad;
    // The plane's first query sees the fewest keys: a step within its view needs no mask.
    let plane_limit = memory + q0 + first_row;

    let (k_base, k_row) = (k_strides.at(group, 0usize), k_strides.at(0usize, 1usize));
    let (v_base, v_row) = (v_strides.at(group, 0usize), v_strides.at(0usize, 1usize));
    // Keys no query of the block sees are never visited.
    let visible_keys = min(keys, memory + min(q0 + queries, chunk));
    let steps = visible_keys.div_ceil(block);
    // Every query sees key 0: there is always a first step.
    copy_rows_async(k, k_base, k_row, 0usize, keys, &mut k_s, d);
    keys_loaded.commit_copy_async();
    for step in 0..steps {
        let k0 = step * block;
        // The values' buffer is free: every unit finished the previous step's `P V`.
        copy_rows_async(v, v_base, v_row, k0, keys, &mut v_s, d);
        values_loaded.commit_copy_async();
        keys_loaded.arrive_and_wait();

        let masked = k0 + block > keys || k0 + block > plane_limit + 1usize;
        let s = score_tiles(&q_s, &k_s, k0, keys, limit_g, masked, tiles, d);
        // Every unit's scores are in registers: the keys' buffer takes the next step's.
        sync_cube();
        if step + 1usize < steps {
            copy_rows_async(k, k_base, k_row, k0 + block, keys, &mut k_s, d);
            keys_loaded.commit_copy_async();
        }
        // A row's reference max moves only when its scores grew past it by more than
        // `STALE_MAX` (scaled): below that its probabilities, `exp` of at most `STALE_MAX`,
        // stay far from overflow in f16, bf16 and f32, and the output (`16 tiles · d / 16` products
        // a lane) is rescaled only when some row of the plane moved (FlashAttention-4's lazy
        // rescaling); the sums, two products, at every step.
        let mut moved = false;
        #[unroll]
        for m in 0..tiles {
            #[unroll]
            for r in 0..2usize {
                let row = 2usize * m + r;
                let mut new_max = row_max[row];
                #[unroll]
                for j in 0..key_tiles {
                    let tile = s.index(m * key_tiles + j);
                    new_max = max(new_max, max(tile[r][0], tile[r][1]));
                }
                new_max = max(new_max, plane_shuffle_xor(new_max, 1u32));
                new_max = max(new_max, plane_shuffle_xor(new_max, 2u32));
                let grows = (new_max - row_max[row]) * scale > f32::new(comptime![STALE_MAX]);
                let kept = select(grows, new_max, row_max[row]);
                rescale[row] = ((row_max[row] - kept) * scale).exp();
                row_max[row] = kept;
                // Before this step's probabilities join it: they are taken against `kept`.
                row_sum[row] *= rescale[row];
                moved = moved || grows;
            }
        }
        let moved = plane_any(moved);

        // P in A fragments of 16 keys: score tiles 2 kk and 2 kk + 1 of each row tile, rows g
        // and h; row tile m's at 4 m + kk.
        let mut p_frags = Sequence::<Pairs<F>>::new();
        #[unroll]
        for m in 0..tiles {
            let max_g = row_max[2usize * m] * scale;
            let max_h = row_max[2usize * m + 1usize] * scale;
            let scales = Vector::new(scale);
            #[unroll]
            for kk in 0..comptime![BLOCK / 16] {
                let left = s.index(m * key_tiles + 2usize * kk);
                let right = s.index(m * key_tiles + 2usize * kk + 1usize);
                let p_lg = (left[0] * scales - Vector::new(max_g)).exp();
                let p_lh = (left[1] * scales - Vector::new(max_h)).exp();
                let p_rg = (right[0] * scales - Vector::new(max_g)).exp();
                let p_rh = (right[1] * scales - Vector::new(max_h)).exp();
                row_sum[2usize * m] += p_lg[0] + p_lg[1] + p_rg[0] + p_rg[1];
                row_sum[2usize * m + 1usize] += p_lh[0] + p_lh[1] + p_rh[0] + p_rh[1];
                let mut frag = Pairs::<F>::new(4usize);
                frag[0] = Vector::cast_from(p_lg);
                frag[1] = Vector::cast_from(p_lh);
                frag[2] = Vector::cast_from(p_rg);
                frag[3] = Vector::cast_from(p_rh);
                p_frags.push(frag);
            }
        }

        // O = O · rescale + P V, 8 output columns per tile (row tile m's at `d / 8 · m + t`).
        // `ldmatrix` ×4 transposed gives the B fragments of two tiles, used by every row tile:
        // matrices (keys 0-7, dims 0-7), (keys 8-15, dims 0-7), (keys 0-7, dims 8-15), (keys
        // 8-15, dims 8-15).
        if moved {
            #[unroll]
            for m in 0..tiles {
                #[unroll]
                for t in 0..out_tiles {
                    let tile = o.index_mut(m * out_tiles + t);
                    tile[0] = tile[0] * Vector::new(rescale[2usize * m]);
                    tile[1] = tile[1] * Vector::new(rescale[2usize * m + 1usize]);
                }
            }
        }
        values_loaded.arrive_and_wait();
        #[unroll]
        for kk in 0..comptime![BLOCK / 16] {
            #[unroll]
            for np in 0..d / 16usize {
                let v_at = (kk * 16usize + (matrix % 2usize) * 8usize + matrix_row) * stride
                    + np * 2usize
                    + matrix / 2usize;
                let regs = mma.load_matrix::<Vector<F, N>, Const<2>>(
                    &v_s.slice(v_at, v_at + 1usize),
                    MatrixIdent::B,
                    4usize,
                    true,
                );
                let (b0, b1) = split_fragments(&regs);
                #[unroll]
                for m in 0..tiles {
                    let frag = p_frags.index(m * comptime![BLOCK / 16] + kk);
                    let tile = m * out_tiles + 2usize * np;
                    mma.execute_inplace(frag, &b0, o.index_mut(tile));
                    mma.execute_inplace(frag, &b1, o.index_mut(tile + 1usize));
                }
            }
        }
        // The values' buffer is free for the next step's copies.
        sync_cube();
    }

    #[unroll]
    for m in 0..tiles {
        let mut sum_g = row_sum[2usize * m];
        let mut sum_h = row_sum[2usize * m + 1usize];
        sum_g += plane_shuffle_xor(sum_g, 1u32);
        sum_g += plane_shuffle_xor(sum_g, 2u32);
        sum_h += plane_shuffle_xor(sum_h, 1u32);
        sum_h += plane_shuffle_xor(sum_h, 2u32);
        let query_g = q0 + first_row + m * 16usize + quad;
        let query_h = query_g + 8usize;
        let inverse_g = 1.0f32 / sum_g;
        let inverse_h = 1.0f32 / sum_h;
        #[unroll]
        for t in 0..out_tiles {
            let tile = o.index(m * out_tiles + t);
            let column = t * 8usize + pair * 2usize;
            if query_g < chunk {
                let at = (query_g * heads + head) * d + column;
                out[at] = F::cast_from(tile[0][0] * inverse_g);
                out[at + 1usize] = F::cast_from(tile[0][1] * inverse_g);
            }
            if query_h < chunk {
                let at = (query_h * heads + head) * d + column;
                out[at] = F::cast_from(tile[1][0] * inverse_h);
                out[at + 1usize] = F::cast_from(tile[1][1] * inverse_h);
            }
        }
        if pair == 0 {
            if query_g < chunk {
                lse[head * chunk + query_g] = row_max[2usize * m] * scale + sum_g.ln();
            }
            if query_h < chunk {
                lse[head * chunk + query_h] = row_max[2usize * m + 1usize] * scale + sum_h.ln();
            }
        }
    }
}
