//! Causal attention of a chunk over `[memory; chunk]` in one CubeCL kernel, FlashAttention-2
//! style: the scores of a block of queries against a block of keys live in registers only, the
//! softmax runs online (a reference max and a sum per query, the output rescaled when the
//! max has grown by more than a bound, `tiles::STALE_MAX`), and both products run on the
//! tensor cores
//! (`mma.m16n8k16` with `ldmatrix`). Nothing of size queries × keys reaches device memory, so
//! there are no score blocks to size and no launches per block. Key/value heads are read by
//! their query heads directly (GQA without repeated keys).
//!
//! The pruners' statistics (column sums and the last query's row per KV head) need every
//! row's final normaliser before any probability is final: the attention kernel writes each
//! row's log-sum-exp, and a statistics kernel recomputes the scores (no values, no `P V`),
//! turns them into probabilities with it and adds each key's sum over the chunk's queries
//! (`statistics`, keys-major); a small kernel adds the query heads of a KV head.
//!
//! On by default (`use_flash_attention`): faster than the products around a softmax on the
//! 7B shape (1.31 → 1.05 s for a 32K `streaming_llm` prefill on an H200), equal to them within
//! bf16 rounding in every check, and the GPU eval's perplexities through both differ by at
//! most 0.15 % (docs/results/gpu-prefill.md, docs/results/eval.md).

mod attention;
mod statistics;
mod tiles;

use burn::prelude::Shape;
use burn::tensor::DType;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::cuda::CudaRuntime;
use cubecl::prelude::{CubeCount, CubeDim};

use self::attention::flash_attention_kernel;
use self::statistics::{flash_statistics_kernel, statistics_sum_kernel};
use mss_core::cuda::StridesLaunch;
use mss_core::cuda::vectors::{VECTOR, vectors_aligned};

/// Rows of a block: the keys of one step, and the queries of one cube per row tile a plane.
const BLOCK: usize = 64;
/// Cubes that fill an H100 or H200 about once (132 SMs): fewer query blocks than this at 32
/// queries a plane would leave SMs idle, so the kernel then takes 16.
const FILLING_CUBES: usize = 128;
/// Planes of a cube: one per row tile of 16 queries (the height of an `mma` tile) or two.
const PLANES: usize = BLOCK / 16;
/// Units of a cube.
const UNITS: usize = PLANES * 32;

/// The kernels' sources, hashed: a compile-time argument (see `mss_core::source_hash`).
const SOURCE: u64 = mss_core::source_hash(concat!(
    include_str!("attention.rs"),
    include_str!("statistics.rs"),
    include_str!("tiles.rs"),
));

/// Vectors per padded shared row of `d` elements: one more than the row holds, so that the
/// eight rows of an `ldmatrix` matrix fall in distinct banks.
const fn shared_stride(d: usize) -> usize {
    d / VECTOR + 1
}

/// Whether the kernel serves these operands: bf16 or f16 (the tensor cores' inputs; f32 has
/// no such `mma`), heads of 64 or 128 (tiles of 16; a plane's output rows, 16 or 32 × `d` f32,
/// live in registers), chunks of at most 4 194 240 queries, and each read 16 bytes at a time
/// (unit-strided rows whose head and row strides and offset are whole vectors).
pub(super) fn serves(
    q: &CubeTensor<CudaRuntime>,
    k: &CubeTensor<CudaRuntime>,
    v: &CubeTensor<CudaRuntime>,
) -> bool {
    let head_dim = q.meta.shape()[3];
    matches!(q.dtype, DType::BF16 | DType::F16)
        && k.dtype == q.dtype
        && v.dtype == q.dtype
        && k.meta.shape()[3] == head_dim
        && v.meta.shape()[3] == head_dim
        && matches!(head_dim, 64 | 128)
        // The attention kernel's query blocks run along the grid's y, at most 65 535 of them.
        && q.meta.shape()[2].div_ceil(BLOCK) <= 65_535
        && [q, k, v].into_iter().all(|t| vectors_aligned(t, VECTOR))
}

/// The row tiles a plane for a launch over `rows` rows of each of `heads` heads: the `asked`
/// ones (1 or 2), but 1 where two would leave too few cubes to fill the GPU (two halve them).
fn filling_tiles(asked: usize, heads: usize, rows: usize) -> usize {
    match asked {
        2 if heads * rows.div_ceil(BLOCK * 2) >= FILLING_CUBES => 2,
        _ => 1,
    }
}

/// The strides along heads and rows of a `[1, heads, rows, d]` operand, in vectors.
fn head_strides(x: &CubeTensor<CudaRuntime>) -> StridesLaunch<CudaRuntime> {
    StridesLaunch::of(x.meta.strides(), 1, VECTOR)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).expect("fewer than 2^32 queries, heads and keys")
}

/// The attention of `q` over `k`, `v` (one head of `k`, `v` per `n_rep` query heads), causal
/// after `keys - chunk` memory entries: the output, a new `[1, chunk, heads, d]` tensor, and
/// each row's log-sum-exp of the scaled scores, `[heads, chunk]` f32; queued on the device
/// after the work already queued. The operands must be ones [`serves`] accepts.
pub(super) fn flash_attention(
    q: CubeTensor<CudaRuntime>,
    k: CubeTensor<CudaRuntime>,
    v: CubeTensor<CudaRuntime>,
    scale: f32,
) -> (CubeTensor<CudaRuntime>, CubeTensor<CudaRuntime>) {
    let [_, heads, chunk, d] = q.meta.shape().dims::<4>();
    let [_, kv_heads, keys, _] = k.meta.shape().dims::<4>();
    let tiles = filling_tiles(super::flash_row_tiles(), heads, chunk);
    let (client, device) = (q.client.clone(), q.device.clone());
    let out = empty_device_contiguous_dtype(
        client.clone(),
        device.clone(),
        Shape::new([1, chunk, heads, d]),
        q.dtype,
    );
    let lse = empty_device_contiguous_dtype(
        client.clone(),
        device,
        Shape::new([heads, chunk]),
        DType::F32,
    );
    let [q_strides, k_strides, v_strides] = [&q, &k, &v].map(head_strides);
    let dtype = q.dtype.into();
    // Unchecked: the kernel reads rows below `chunk` or `keys` and columns below `d` of
    // operands `serves` accepted, and writes the rows of queries below `chunk` only.
    #[allow(unsafe_code)]
    unsafe {
        flash_attention_kernel::launch_unchecked::<CudaRuntime>(
            &client,
            CubeCount::Static(count(heads), count(chunk.div_ceil(BLOCK * tiles)), 1),
            CubeDim::new_2d(32, count(PLANES)),
            VECTOR,
            q.into_array_arg(),
            k.into_array_arg(),
            v.into_array_arg(),
            out.clone().into_array_arg(),
            lse.clone().into_array_arg(),
            q_strides,
            k_strides,
            v_strides,
            count(chunk),
            count(keys),
            scale,
            count(heads / kv_heads),
            tiles,
            d,
            SOURCE,
            dtype,
        );
    }
    (out, lse)
}

/// Per KV head, the column sums over the chunk's queries and the last query's row of the
/// attention [`flash_attention`] computed (each summed over the KV head's query heads), from
/// its log-sum-exp: two `[kv_heads, keys]` f32 tensors.
pub(super) fn flash_statistics(
    q: CubeTensor<CudaRuntime>,
    k: CubeTensor<CudaRuntime>,
    lse: CubeTensor<CudaRuntime>,
    scale: f32,
) -> [CubeTensor<CudaRuntime>; 2] {
    let [_, heads, chunk, d] = q.meta.shape().dims::<4>();
    let [_, kv_heads, keys, _] = k.meta.shape().dims::<4>();
    let (client, device) = (q.client.clone(), q.device.clone());
    let f32_tensor = |shape: Shape| {
        empty_device_contiguous_dtype(client.clone(), device.clone(), shape, DType::F32)
    };
    let head_sums = f32_tensor(Shape::new([heads, keys]));
    let head_last = f32_tensor(Shape::new([heads, keys]));
    let tiles = filling_tiles(super::statistics_row_tiles(), heads, keys);
    let [q_strides, k_strides] = [&q, &k].map(head_strides);
    let dtype = q.dtype.into();
    // Unchecked: as `flash_attention`; every write is of a head and key below `head_sums`'s
    // and `head_last`'s shapes, and the sum's of a KV head and key below theirs.
    #[allow(unsafe_code)]
    unsafe {
        flash_statistics_kernel::launch_unchecked::<CudaRuntime>(
            &client,
            CubeCount::Static(count(heads), count(keys.div_ceil(BLOCK * tiles)), 1),
            CubeDim::new_2d(32, count(PLANES)),
            VECTOR,
            q.into_array_arg(),
            k.into_array_arg(),
            lse.into_array_arg(),
            head_sums.clone().into_array_arg(),
            head_last.clone().into_array_arg(),
            q_strides,
            k_strides,
            count(chunk),
            count(keys),
            scale,
            count(heads / kv_heads),
            tiles,
            d,
            SOURCE,
            dtype,
        );
    }
    if heads == kv_heads {
        return [head_sums, head_last];
    }
    let sums = f32_tensor(Shape::new([kv_heads, keys]));
    let rows = f32_tensor(Shape::new([kv_heads, keys]));
    let threads = 256;
    // Unchecked: every read is below `[heads, keys]` and every write below `[kv_heads, keys]`.
    #[allow(unsafe_code)]
    unsafe {
        statistics_sum_kernel::launch_unchecked::<CudaRuntime>(
            &client,
            CubeCount::Static(count((kv_heads * keys).div_ceil(threads)), 1, 1),
            CubeDim::new_1d(count(threads)),
            head_sums.into_array_arg(),
            head_last.into_array_arg(),
            sums.clone().into_array_arg(),
            rows.clone().into_array_arg(),
            count(kv_heads),
            count(keys),
            count(heads / kv_heads),
            SOURCE,
        );
    }
    [sums, rows]
}
