//! Causal attention of a chunk over `[memory; chunk]` in one CubeCL kernel, FlashAttention
//! style: the scores of a block of queries against a block of keys live in shared memory only,
//! the softmax runs online (a running max and sum per query, the output rescaled as the max
//! grows), and the products run on the tensor cores (`cmma`, 16 × 16 × 16 tiles). Nothing of
//! size queries × keys ever reaches device memory, so there are no score blocks to size and
//! no launches per block. Key/value heads are read by their query heads directly (GQA without
//! repeated keys).
//!
//! Opt-in (`use_flash_attention`) until it beats the products-around-a-softmax path it
//! replaces and passes the same device checks.

use burn::prelude::Shape;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::cuda::CudaRuntime;
use cubecl::prelude::{CubeCount, CubeDim};

use self::kernel::flash_attention_kernel;

/// Queries of one cube, in planes of 16 (one `cmma` tile high); the kernel also steps through
/// the keys 64 at a time.
const BLOCK_QUERIES: usize = 64;
const PLANES: usize = BLOCK_QUERIES / 16;

/// Head sizes the kernel is compiled for (`cmma` tiles of 16; shared memory for 128 is about
/// 100 KiB per cube).
pub(super) fn supports(head_dim: usize, value_dim: usize) -> bool {
    head_dim == value_dim && matches!(head_dim, 64 | 128)
}

/// The kernel, apart from Burn's prelude (whose `Tensor`, `Int` and `Float` are not CubeCL's).
mod kernel {
    use cubecl::prelude::*;

    /// One cube per (block of 64 queries, query head), four planes of 16 queries each. Per block
    /// of 64 keys: the keys and values are copied to shared memory; each plane scores its 16
    /// queries (`cmma`, f32) into shared memory; its 32 units (two per query, 32 keys each)
    /// mask, update the running max and sum, write the probabilities (the input's float type)
    /// and rescale their rows of the f32 output; each plane then adds `P V` (`cmma`) to its
    /// output rows. At the end each unit divides its half row by the sum and writes it.
    ///
    /// `q`: `[1, heads, chunk, d]`, `k`, `v`: `[1, kv_heads, keys, d]` (any strides, unit
    /// stride along `d`); `out`: `[1, chunk, heads, d]`, contiguous. Query `t` sees keys
    /// `0..=memory + t`.
    #[allow(clippy::too_many_arguments)]
    #[cube(launch)]
    pub(super) fn flash_attention_kernel<F: Float>(
        q: &Tensor<F>,
        k: &Tensor<F>,
        v: &Tensor<F>,
        out: &mut Tensor<F>,
        scale: f32,
        memory: u32,
        n_rep: u32,
        #[comptime] d: usize,
        #[define(F)] _dtype: StorageType,
    ) {
        let bq = 64usize;
        let bk = 64usize;
        let rows = 16usize;
        let chunk = q.shape(2);
        let keys = k.shape(2);
        let heads = q.shape(1);
        let head = CUBE_POS_Y as usize;
        let group = head / n_rep as usize;
        let q0 = CUBE_POS_X as usize * bq;
        let lane = UNIT_POS_X as usize;
        let plane = UNIT_POS_Y as usize;
        let unit = plane * 32usize + lane;
        let units = 128usize;

        let mut q_s = SharedMemory::<F>::new(bq * d);
        let mut k_s = SharedMemory::<F>::new(bk * d);
        let mut v_s = SharedMemory::<F>::new(bk * d);
        let mut s_s = SharedMemory::<f32>::new(bq * bk);
        let mut p_s = SharedMemory::<F>::new(bq * bk);
        let mut o_s = SharedMemory::<f32>::new(bq * d);

        // The block's queries (zeros past the chunk) and a zero output.
        let mut idx = unit;
        while idx < bq * d {
            let r = idx / d;
            let c = idx % d;
            let mut x = F::from_int(0);
            if q0 + r < chunk {
                x = q[head * q.stride(1) + (q0 + r) * q.stride(2) + c];
            }
            q_s[idx] = x;
            o_s[idx] = 0.0f32;
            idx += units;
        }

        // This unit's query row (of the plane's 16) and half of the 64 keys of a step.
        let row = lane / 2usize;
        let half = lane % 2usize;
        let query = q0 + plane * rows + row;
        let mut running_max = f32::new(-3.0e38);
        let mut running_sum = 0.0f32;

        // Keys no query of the block sees are never visited.
        let last_query = min(q0 + bq, chunk);
        let visible_keys = min(keys, memory as usize + last_query);
        let steps = visible_keys.div_ceil(bk);
        for step in 0..steps {
            let k0 = step * bk;
            sync_cube();
            let mut idx = unit;
            while idx < bk * d {
                let r = idx / d;
                let c = idx % d;
                let mut kx = F::from_int(0);
                let mut vx = F::from_int(0);
                if k0 + r < keys {
                    kx = k[group * k.stride(1) + (k0 + r) * k.stride(2) + c];
                    vx = v[group * v.stride(1) + (k0 + r) * v.stride(2) + c];
                }
                k_s[idx] = kx;
                v_s[idx] = vx;
                idx += units;
            }
            sync_cube();

            // S = Q Kᵀ for the plane's 16 rows, 16 keys at a time.
            let q_base = plane * rows * d;
            let s_base = plane * rows * bk;
            #[unroll]
            for j in 0..4usize {
                let acc = cmma::Matrix::<f32>::from_value(
                    cmma::MatrixIdent::Accumulator,
                    16usize,
                    16usize,
                    16usize,
                    cmma::MatrixLayout::Undefined,
                    0.0f32,
                );
                #[unroll]
                for kk in 0..d / 16usize {
                    let a = cmma::Matrix::<F>::from_slice(
                        cmma::MatrixIdent::A,
                        16usize,
                        16usize,
                        16usize,
                        cmma::MatrixLayout::RowMajor,
                        &q_s.slice(q_base + kk * 16usize, q_base + rows * d),
                        d as u32,
                    );
                    // Kᵀ: element (e, key) at k_s[key d + e], column-major with stride d.
                    let b = cmma::Matrix::<F>::from_slice(
                        cmma::MatrixIdent::B,
                        16usize,
                        16usize,
                        16usize,
                        cmma::MatrixLayout::ColMajor,
                        &k_s.slice(j * 16usize * d + kk * 16usize, bk * d),
                        d as u32,
                    );
                    cmma::execute::<F, F, f32, f32>(&a, &b, &acc, &acc);
                }
                cmma::store(
                    &mut s_s.slice_mut(s_base + j * 16usize, s_base + rows * bk),
                    &acc,
                    bk as u32,
                    cmma::MatrixLayout::RowMajor,
                );
            }
            sync_cube();

            // Online softmax of the unit's 32 scores; the partner unit holds the other 32.
            let s_row = s_base + row * bk + half * 32usize;
            let mut block_max = f32::new(-3.0e38);
            for c in 0..32usize {
                let key = k0 + half * 32usize + c;
                if key < keys && key <= memory as usize + query {
                    block_max = max(block_max, s_s[s_row + c] * scale);
                }
            }
            block_max = max(block_max, plane_shuffle_xor(block_max, 1u32));
            let new_max = max(running_max, block_max);
            let rescale = (running_max - new_max).exp();
            let mut block_sum = 0.0f32;
            for c in 0..32usize {
                let key = k0 + half * 32usize + c;
                let mut p = 0.0f32;
                if key < keys && key <= memory as usize + query {
                    p = (s_s[s_row + c] * scale - new_max).exp();
                }
                let rounded = F::cast_from(p);
                block_sum += f32::cast_from(rounded);
                p_s[s_row + c] = rounded;
            }
            block_sum += plane_shuffle_xor(block_sum, 1u32);
            running_sum = running_sum * rescale + block_sum;
            running_max = new_max;
            let o_row = (plane * rows + row) * d + half * (d / 2usize);
            for c in 0..d / 2usize {
                o_s[o_row + c] = o_s[o_row + c] * rescale;
            }
            sync_cube();

            // O += P V for the plane's 16 rows, 16 output columns at a time.
            let o_base = plane * rows * d;
            #[unroll]
            for j in 0..d / 16usize {
                let acc = cmma::Matrix::<f32>::from_value(
                    cmma::MatrixIdent::Accumulator,
                    16usize,
                    16usize,
                    16usize,
                    cmma::MatrixLayout::Undefined,
                    0.0f32,
                );
                cmma::load_with_layout(
                    &acc,
                    &o_s.slice(o_base + j * 16usize, o_base + rows * d),
                    d as u32,
                    cmma::MatrixLayout::RowMajor,
                );
                #[unroll]
                for kk in 0..4usize {
                    let a = cmma::Matrix::<F>::from_slice(
                        cmma::MatrixIdent::A,
                        16usize,
                        16usize,
                        16usize,
                        cmma::MatrixLayout::RowMajor,
                        &p_s.slice(s_base + kk * 16usize, s_base + rows * bk),
                        bk as u32,
                    );
                    let b = cmma::Matrix::<F>::from_slice(
                        cmma::MatrixIdent::B,
                        16usize,
                        16usize,
                        16usize,
                        cmma::MatrixLayout::RowMajor,
                        &v_s.slice(kk * 16usize * d + j * 16usize, bk * d),
                        d as u32,
                    );
                    cmma::execute::<F, F, f32, f32>(&a, &b, &acc, &acc);
                }
                cmma::store(
                    &mut o_s.slice_mut(o_base + j * 16usize, o_base + rows * d),
                    &acc,
                    d as u32,
                    cmma::MatrixLayout::RowMajor,
                );
            }
        }
        sync_cube();

        if query < chunk {
            let o_row = (plane * rows + row) * d + half * (d / 2usize);
            let out_row = (query * heads + head) * d + half * (d / 2usize);
            let inverse = 1.0f32 / running_sum;
            for c in 0..d / 2usize {
                out[out_row + c] = F::cast_from(o_s[o_row + c] * inverse);
            }
        }
    }
}

/// The attention of `q` over `k`, `v` (one head of `k`, `v` per `n_rep` query heads), causal
/// after `keys - chunk` memory entries, as a new `[1, chunk, heads, d]` tensor; queued on the
/// device after the work already queued.
pub(super) fn flash_attention(
    q: CubeTensor<CudaRuntime>,
    k: CubeTensor<CudaRuntime>,
    v: CubeTensor<CudaRuntime>,
    scale: f32,
) -> CubeTensor<CudaRuntime> {
    let [_, heads, chunk, d] = q.meta.shape().dims::<4>();
    let [_, kv_heads, keys, _] = k.meta.shape().dims::<4>();
    let out = empty_device_contiguous_dtype(
        q.client.clone(),
        q.device.clone(),
        Shape::new([1, chunk, heads, d]),
        q.dtype,
    );
    let count = |n: usize| u32::try_from(n).expect("fewer than 2^32 queries, heads and keys");
    let dtype = q.dtype.into();
    flash_attention_kernel::launch::<CudaRuntime>(
        &q.client.clone(),
        CubeCount::Static(count(chunk.div_ceil(BLOCK_QUERIES)), count(heads), 1),
        CubeDim::new_2d(32, count(PLANES)),
        q.into_tensor_arg(),
        k.into_tensor_arg(),
        v.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        scale,
        count(keys - chunk),
        count(heads / kv_heads),
        d,
        dtype,
    );
    out
}
