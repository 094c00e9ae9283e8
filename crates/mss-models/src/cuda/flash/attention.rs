//! The flash attention kernel: a chunk's queries over `[memory; chunk]`, causal, the output and
//! each row's log-sum-exp.

use cubecl::ir::{FastMath, MatrixIdent};
use cubecl::prelude::barrier::Barrier;
use cubecl::prelude::*;

use super::tiles::{
    MASKED, Pairs, copy_queries, copy_rows_async, mma_definition, score_tiles, split_fragments,
    zero_pairs,
};
use super::{BLOCK, VECTOR, shared_stride};

/// One cube per (64 queries, query head); plane `w` owns queries `16 w .. 16 w + 16` of the
/// block (see `tiles` for the layout). The queries are copied once to shared memory, and their
/// `A` fragments read from there at each step. Keys and values go to shared memory with
/// `cp.async` (one buffer and one barrier each), FlashAttention-2's way: a step's values are
/// copied while its scores are computed, and the next step's keys while its values are used.
/// One buffer each (52 KB a cube at heads of 128, where two buffers took 87 KB) lets three
/// cubes share an SM, which its 165 registers a unit allow. Each plane
/// computes its 16 × 64 scores in registers, updates each row's running max (two shuffles
/// within the quad), turns the scores into probabilities in place, rescales its output rows
/// and adds `P V` (`ldmatrix` transposed for `V`). The output, 16 × `d` f32 per plane, stays
/// in registers until it is divided by each row's sum and written.
///
/// `q`: `[1, heads, chunk, d]`, `k`, `v`: `[1, kv_heads, keys, d]` (vectors of [`VECTOR`]:
/// unit stride along `d`, strides whole vectors); `out`: `[1, chunk, heads, d]` and `lse`:
/// `[heads, chunk]` (each row's `ln Σ exp(q·k · scale)`), contiguous. Query `t` sees keys
/// `0..=memory + t`; every query sees key 0, so each row's max is finite from the first step.
// `CUBE_COUNT_Y - 1 - CUBE_POS_Y`: rustc sees CubeCL's placeholder constants, not a launch.
#[allow(clippy::too_many_arguments, arithmetic_overflow)]
#[cube(
    launch_unchecked,
    fast_math = FastMath::ReducedPrecision | FastMath::NotNaN | FastMath::NotInf
)]
pub(super) fn flash_attention_kernel<F: Float, N: Size>(
    q: &Tensor<Vector<F, N>>,
    k: &Tensor<Vector<F, N>>,
    v: &Tensor<Vector<F, N>>,
    out: &mut Tensor<F>,
    lse: &mut Tensor<f32>,
    scale: f32,
    memory: u32,
    n_rep: u32,
    #[comptime] d: usize,
    #[comptime] _source: u64,
    #[define(F)] _dtype: StorageType,
) {
    let stride = comptime![shared_stride(d)];
    let block = comptime![BLOCK];
    let chunk = q.shape(2);
    let keys = k.shape(2);
    let heads = q.shape(1);
    // Heads along x, query blocks along y from the last: the blocks that see the most keys
    // start first, so the short ones fill the last wave.
    let head = CUBE_POS_X as usize;
    let group = head / n_rep as usize;
    let q0 = (CUBE_COUNT_Y - 1 - CUBE_POS_Y) as usize * block;
    let plane = UNIT_POS_Y as usize;
    let (matrix, matrix_row) = ((UNIT_POS_X / 8) as usize, (UNIT_POS_X % 8) as usize);
    let (quad, pair) = ((UNIT_POS_X / 4) as usize, (UNIT_POS_X % 4) as usize);

    let tile = comptime![BLOCK * shared_stride(d)];
    let mut q_s = SharedMemory::<Vector<F, N>>::new(tile);
    let mut k_s = SharedMemory::<Vector<F, N>>::new(tile);
    let mut v_s = SharedMemory::<Vector<F, N>>::new(tile);
    let keys_loaded = Barrier::shared(CUBE_DIM, UNIT_POS == 0);
    let values_loaded = Barrier::shared(CUBE_DIM, UNIT_POS == 0);

    let n = comptime![VECTOR];
    copy_queries(q, &mut q_s, head, q0, d);

    let mma = mma_definition::<F>();
    let mut o = Sequence::<Pairs<f32>>::new();
    #[unroll]
    for _ in 0..d / 8usize {
        o.push(zero_pairs());
    }
    // Each row's running max (of the scaled scores) and this lane's part of its sum (the
    // quad's parts are added at the end).
    let mut max_g = f32::new(comptime![MASKED]);
    let mut max_h = f32::new(comptime![MASKED]);
    let mut sum_g = 0.0f32;
    let mut sum_h = 0.0f32;
    let row_g = plane * 16usize + quad;
    let limit_g = memory as usize + q0 + row_g;
    // The plane's first query sees the fewest keys: a step within its view needs no mask.
    let plane_limit = memory as usize + q0 + plane * 16usize;

    let (k_base, k_row) = (group * k.stride(1) / n, k.stride(2) / n);
    let (v_base, v_row) = (group * v.stride(1) / n, v.stride(2) / n);
    // Keys no query of the block sees are never visited.
    let visible_keys = min(keys, memory as usize + min(q0 + block, chunk));
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
        let s = score_tiles(&q_s, &k_s, scale, k0, keys, limit_g, masked, d);
        // Every unit's scores are in registers: the keys' buffer takes the next step's.
        sync_cube();
        if step + 1usize < steps {
            copy_rows_async(k, k_base, k_row, k0 + block, keys, &mut k_s, d);
            keys_loaded.commit_copy_async();
        }
        let mut new_g = max_g;
        let mut new_h = max_h;
        #[unroll]
        for j in 0..comptime![BLOCK / 8] {
            let tile = s.index(j);
            new_g = max(new_g, max(tile[0][0], tile[0][1]));
            new_h = max(new_h, max(tile[1][0], tile[1][1]));
        }
        new_g = max(new_g, plane_shuffle_xor(new_g, 1u32));
        new_g = max(new_g, plane_shuffle_xor(new_g, 2u32));
        new_h = max(new_h, plane_shuffle_xor(new_h, 1u32));
        new_h = max(new_h, plane_shuffle_xor(new_h, 2u32));
        let rescale_g = (max_g - new_g).exp();
        let rescale_h = (max_h - new_h).exp();
        max_g = new_g;
        max_h = new_h;
        sum_g *= rescale_g;
        sum_h *= rescale_h;

        // P in A fragments of 16 keys: score tiles 2 kk and 2 kk + 1, rows g and h.
        let mut p_frags = Sequence::<Pairs<F>>::new();
        #[unroll]
        for kk in 0..comptime![BLOCK / 16] {
            let left = s.index(2usize * kk);
            let right = s.index(2usize * kk + 1usize);
            let p_lg = (left[0] - Vector::new(new_g)).exp();
            let p_lh = (left[1] - Vector::new(new_h)).exp();
            let p_rg = (right[0] - Vector::new(new_g)).exp();
            let p_rh = (right[1] - Vector::new(new_h)).exp();
            sum_g += p_lg[0] + p_lg[1] + p_rg[0] + p_rg[1];
            sum_h += p_lh[0] + p_lh[1] + p_rh[0] + p_rh[1];
            let mut frag = Pairs::<F>::new(4usize);
            frag[0] = Vector::cast_from(p_lg);
            frag[1] = Vector::cast_from(p_lh);
            frag[2] = Vector::cast_from(p_rg);
            frag[3] = Vector::cast_from(p_rh);
            p_frags.push(frag);
        }

        // O = O · rescale + P V, 8 output columns per tile. `ldmatrix` ×4 transposed gives the
        // B fragments of two tiles: matrices (keys 0-7, dims 0-7), (keys 8-15, dims 0-7),
        // (keys 0-7, dims 8-15), (keys 8-15, dims 8-15).
        #[unroll]
        for t in 0..d / 8usize {
            let tile = o.index_mut(t);
            tile[0] = tile[0] * Vector::new(rescale_g);
            tile[1] = tile[1] * Vector::new(rescale_h);
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
                mma.execute_inplace(p_frags.index(kk), &b0, o.index_mut(2usize * np));
                mma.execute_inplace(p_frags.index(kk), &b1, o.index_mut(2usize * np + 1usize));
            }
        }
        // The values' buffer is free for the next step's copies.
        sync_cube();
    }

    sum_g += plane_shuffle_xor(sum_g, 1u32);
    sum_g += plane_shuffle_xor(sum_g, 2u32);
    sum_h += plane_shuffle_xor(sum_h, 1u32);
    sum_h += plane_shuffle_xor(sum_h, 2u32);
    let query_g = q0 + row_g;
    let query_h = query_g + 8usize;
    let inverse_g = 1.0f32 / sum_g;
    let inverse_h = 1.0f32 / sum_h;
    #[unroll]
    for t in 0..d / 8usize {
        let tile = o.index(t);
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
            lse[head * chunk + query_g] = max_g + sum_g.ln();
        }
        if query_h < chunk {
            lse[head * chunk + query_h] = max_h + sum_h.ln();
        }
    }
}
