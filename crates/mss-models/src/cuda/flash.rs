//! Causal attention of a chunk over `[memory; chunk]` in one CubeCL kernel, FlashAttention
//! style: the scores of a block of queries against a block of keys live in shared memory only,
//! the softmax runs online (a running max and sum per query, the output rescaled as the max
//! grows), and the products run on the tensor cores (`cmma`, 16 × 16 × 16 tiles). Nothing of
//! size queries × keys ever reaches device memory, so there are no score blocks to size and
//! no launches per block. Key/value heads are read by their query heads directly (GQA without
//! repeated keys).
//!
//! Opt-in (`use_flash_attention`) until it beats the products-around-a-softmax path it
//! replaces (docs/results/gpu-prefill.md, "Top-k in one kernel; a first flash-style attention
//! kernel").

use burn::prelude::Shape;
use burn::tensor::DType;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::cuda::CudaRuntime;
use cubecl::prelude::{CubeCount, CubeDim};

use self::kernel::flash_attention_kernel;

/// Queries of one cube, in planes of 16 (one `cmma` tile high); the kernel also steps through
/// the keys 64 at a time.
const BLOCK_QUERIES: usize = 64;
const PLANES: usize = BLOCK_QUERIES / 16;

/// Whether the kernel serves these operands: bf16 or f16 (the tensor cores' `cmma` inputs; f32
/// has no such tile) and heads of 64 or 128 (tiles of 16; shared memory for 128 is about
/// 110 KiB per cube).
pub(super) fn supports(dtype: DType, head_dim: usize, value_dim: usize) -> bool {
    matches!(dtype, DType::BF16 | DType::F16)
        && head_dim == value_dim
        && matches!(head_dim, 64 | 128)
}

/// The kernel, apart from Burn's prelude (whose `Tensor`, `Int` and `Float` are not CubeCL's).
mod kernel {
    use cubecl::prelude::*;

    /// One cube per (block of 64 queries, query head), four planes of 16 queries each. Per block
    /// of 64 keys: the keys and values are copied to shared memory; each plane scores its 16
    /// queries (`cmma`, f32) into shared memory; its 32 units then take its rows one at a time
    /// (two scores each: the row's max and sum by plane reductions), update the row's running
    /// max and sum (kept by every unit of the plane), write the probabilities (the input's
    /// float type) and rescale the row's f32 output; each plane then adds `P V` (`cmma`) to its
    /// output rows. At the end the units divide each row by its sum and write it.
    ///
    /// Shared rows are padded (bf16 by 8, f32 by 4 elements) so that consecutive rows start
    /// in different banks, and units of a plane read consecutive elements of a row: without
    /// both, every access of a plane met one bank (the first version, 8× slower).
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
        // Padded row strides of the shared tiles: inputs, scores, probabilities, output.
        let ds = d + 8usize;
        let ss = bk + 4usize;
        let ps = bk + 8usize;
        let os = d + 4usize;
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

        let mut q_s = SharedMemory::<F>::new(bq * (d + 8usize));
        let mut k_s = SharedMemory::<F>::new(bk * (d + 8usize));
        let mut v_s = SharedMemory::<F>::new(bk * (d + 8usize));
        let mut s_s = SharedMemory::<f32>::new(bq * (bk + 4usize));
        let mut p_s = SharedMemory::<F>::new(bq * (bk + 8usize));
        let mut o_s = SharedMemory::<f32>::new(bq * (d + 4usize));

        // The block's queries (zeros past the chunk) and a zero output: each of the 128 units
        // copies d / 2 of the 64 × d elements. The copy loops are unrolled so that a unit's
        // loads are all in flight at once: a loop that stores each value before loading the
        // next waits out the memory's latency once per element.
        #[unroll]
        for it in 0..d / 2usize {
            let idx = unit + it * units;
            let r = idx / d;
            let c = idx % d;
            let mut x = F::from_int(0);
            if q0 + r < chunk {
                x = q[head * q.stride(1) + (q0 + r) * q.stride(2) + c];
            }
            q_s[r * ds + c] = x;
            o_s[r * os + c] = 0.0f32;
        }

        // Every unit of a plane keeps the running max and sum of the plane's 16 rows.
        let mut running_max = Array::<f32>::new(16usize);
        let mut running_sum = Array::<f32>::new(16usize);
        #[unroll]
        for r in 0..16usize {
            running_max[r] = f32::new(-3.0e38);
            running_sum[r] = 0.0f32;
        }
        let first_row = plane * rows;

        // Keys no query of the block sees are never visited.
        let last_query = min(q0 + bq, chunk);
        let visible_keys = min(keys, memory as usize + last_query);
        let steps = visible_keys.div_ceil(bk);
        for step in 0..steps {
            let k0 = step * bk;
            sync_cube();
            #[unroll]
            for it in 0..d / 2usize {
                let idx = unit + it * units;
                let r = idx / d;
                let c = idx % d;
                let mut kx = F::from_int(0);
                let mut vx = F::from_int(0);
                if k0 + r < keys {
                    kx = k[group * k.stride(1) + (k0 + r) * k.stride(2) + c];
                    vx = v[group * v.stride(1) + (k0 + r) * v.stride(2) + c];
                }
                k_s[r * ds + c] = kx;
                v_s[r * ds + c] = vx;
            }
            sync_cube();

            // S = Q Kᵀ for the plane's 16 rows, 16 keys at a time.
            let q_base = first_row * ds;
            let s_base = first_row * ss;
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
                        &q_s.slice(q_base + kk * 16usize, q_base + rows * ds),
                        ds as u32,
                    );
                    // Kᵀ: element (e, key) at k_s[key ds + e], column-major with stride ds.
                    let b = cmma::Matrix::<F>::from_slice(
                        cmma::MatrixIdent::B,
                        16usize,
                        16usize,
                        16usize,
                        cmma::MatrixLayout::ColMajor,
                        &k_s.slice(j * 16usize * ds + kk * 16usize, bk * ds),
                        ds as u32,
                    );
                    cmma::execute::<F, F, f32, f32>(&a, &b, &acc, &acc);
                }
                cmma::store(
                    &mut s_s.slice_mut(s_base + j * 16usize, s_base + rows * ss),
                    &acc,
                    ss as u32,
                    cmma::MatrixLayout::RowMajor,
                );
            }
            sync_cube();

            // The online softmax, a row at a time: unit `lane` holds keys `lane` and `lane + 32`.
            #[unroll]
            for r in 0..16usize {
                let row = first_row + r;
                let limit = memory as usize + q0 + row;
                let (key_a, key_b) = (k0 + lane, k0 + lane + 32usize);
                let visible_a = key_a < keys && key_a <= limit;
                let visible_b = key_b < keys && key_b <= limit;
                let mut x_a = f32::new(-3.0e38);
                let mut x_b = f32::new(-3.0e38);
                if visible_a {
                    x_a = s_s[row * ss + lane] * scale;
                }
                if visible_b {
                    x_b = s_s[row * ss + lane + 32usize] * scale;
                }
                let new_max = max(running_max[r], plane_max(max(x_a, x_b)));
                let rescale = (running_max[r] - new_max).exp();
                let mut p_a = 0.0f32;
                let mut p_b = 0.0f32;
                if visible_a {
                    p_a = (x_a - new_max).exp();
                }
                if visible_b {
                    p_b = (x_b - new_max).exp();
                }
                let (rounded_a, rounded_b) = (F::cast_from(p_a), F::cast_from(p_b));
                p_s[row * ps + lane] = rounded_a;
                p_s[row * ps + lane + 32usize] = rounded_b;
                let block_sum = plane_sum(f32::cast_from(rounded_a) + f32::cast_from(rounded_b));
                running_sum[r] = running_sum[r] * rescale + block_sum;
                running_max[r] = new_max;
                #[unroll]
                for c in 0..d / 32usize {
                    let at = row * os + lane + c * 32usize;
                    o_s[at] = o_s[at] * rescale;
                }
            }
            sync_cube();

            // O += P V for the plane's 16 rows, 16 output columns at a time.
            let o_base = first_row * os;
            let p_base = first_row * ps;
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
                    &o_s.slice(o_base + j * 16usize, o_base + rows * os),
                    os as u32,
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
                        &p_s.slice(p_base + kk * 16usize, p_base + rows * ps),
                        ps as u32,
                    );
                    let b = cmma::Matrix::<F>::from_slice(
                        cmma::MatrixIdent::B,
                        16usize,
                        16usize,
                        16usize,
                        cmma::MatrixLayout::RowMajor,
                        &v_s.slice(kk * 16usize * ds + j * 16usize, bk * ds),
                        ds as u32,
                    );
                    cmma::execute::<F, F, f32, f32>(&a, &b, &acc, &acc);
                }
                cmma::store(
                    &mut o_s.slice_mut(o_base + j * 16usize, o_base + rows * os),
                    &acc,
                    os as u32,
                    cmma::MatrixLayout::RowMajor,
                );
            }
        }
        sync_cube();

        #[unroll]
        for r in 0..16usize {
            let row = first_row + r;
            let query = q0 + row;
            if query < chunk {
                let inverse = 1.0f32 / running_sum[r];
                #[unroll]
                for c in 0..d / 32usize {
                    let col = lane + c * 32usize;
                    out[(query * heads + head) * d + col] =
                        F::cast_from(o_s[row * os + col] * inverse);
                }
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
