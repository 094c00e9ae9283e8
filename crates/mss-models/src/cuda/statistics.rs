//! The pruners' statistics from attention's probabilities: per KV head, the column sums over the
//! chunk's queries and the last query's row, each summed over the KV head's query heads.
//!
//! A block's probabilities of KV head `g` are one contiguous `[n_rep × rows, width]` matrix
//! (query head `g n_rep + j`, then row), so both statistics are one product with a two-row
//! selector `S` (`[2, n_rep × rows]`: ones, and ones at each head's last row): `S P_g` is
//! `[column sums; last query]`, batched over the KV heads, accumulated in f32 across blocks by
//! cuBLAS. No probabilities are copied and no reduction kernel is needed.

use burn::tensor::{DType, Shape};
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::cuda::CudaRuntime;
use cubecl::prelude::{CubeCount, CubeDim};

use self::kernel::selectors_kernel;
use super::gemm::{Gemm, Precision};
use super::operand::Operand;

/// This file's source, hashed: a compile-time argument of its kernels, so that a changed
/// kernel misses CubeCL's persistent cache (`mss_core::source_hash`).
const SOURCE: u64 = mss_core::source_hash(include_str!("statistics.rs"));

/// Threads per cube of the selector kernel.
const THREADS: u32 = 256;

/// The kernel, apart from Burn's names.
mod kernel {
    use cubecl::prelude::*;

    /// Row 0 of `selectors` all ones; row 1 one at the last column of every run of `rows`
    /// (`rows - 1`, `2 rows - 1`, ...), zero elsewhere.
    #[cube(launch)]
    pub(super) fn selectors_kernel<P: Float>(
        selectors: &mut Tensor<P>,
        rows: u32,
        #[comptime] _source: u64,
        #[define(P)] _dtype: StorageType,
    ) {
        let width = selectors.shape(1);
        let i = ABSOLUTE_POS;
        if i < selectors.len() {
            let column = (i % width) as u32;
            let mut value = P::from_int(1);
            if i >= width && column % rows != rows - 1 {
                value = P::from_int(0);
            }
            selectors[i] = value;
        }
    }
}

/// The selectors of a block of `rows` queries per head, `n_rep` heads per KV head: `[2, n_rep ×
/// rows]` of `dtype` (see the module doc).
pub(super) fn selectors(
    like: &CubeTensor<CudaRuntime>,
    n_rep: usize,
    rows: usize,
    dtype: DType,
) -> CubeTensor<CudaRuntime> {
    let width = n_rep * rows;
    let selectors = empty_device_contiguous_dtype(
        like.client.clone(),
        like.device.clone(),
        Shape::new([2, width]),
        dtype,
    );
    let count = u32::try_from((2 * width).div_ceil(THREADS as usize)).expect("a small selector");
    selectors_kernel::launch::<CudaRuntime>(
        &like.client,
        CubeCount::Static(count, 1, 1),
        CubeDim::new_1d(THREADS),
        selectors.clone().into_tensor_arg(),
        u32::try_from(rows).expect("rows fit in u32"),
        SOURCE,
        dtype.into(),
    );
    selectors
}

/// Where one block's statistics products read and write.
#[derive(Debug, Clone, Copy)]
pub(super) struct BlockStatistics {
    /// Query heads per KV head.
    pub n_rep: usize,
    /// KV heads.
    pub n_kv_heads: usize,
    /// The block's queries per head.
    pub rows: usize,
    /// Keys the block's probabilities cover (its last query's).
    pub width: usize,
    /// Keys of the whole chunk (the statistics' row length).
    pub keys: usize,
    /// Whether this is the chunk's last block (it writes the last query's row) and the first
    /// one run (it overwrites rather than adds: it covers every key).
    pub last: bool,
}

/// The product `[column sums; last query] (+)= S P_g` for every KV head `g`, on the block's
/// probabilities at `probs`, its selectors at `selectors`, into the `[n_kv_heads, 2, keys]`
/// f32 statistics at `stats`. Blocks other than the last add their column sums only.
pub(super) fn statistics_product(
    block: BlockStatistics,
    precision: Precision,
    [probs, selectors, stats]: [u64; 3],
) -> Gemm {
    let BlockStatistics {
        n_rep,
        n_kv_heads,
        rows,
        width,
        keys,
        last,
    } = block;
    let depth = n_rep * rows;
    let m = if last { 2 } else { 1 };
    Gemm {
        m,
        n: width,
        k: depth,
        inputs: precision,
        output: Precision::F32,
        alpha: 1.0,
        beta: if last { 0.0 } else { 1.0 },
        a: (
            selectors,
            Operand::of(m, depth, depth, 1).expect("contiguous"),
        ),
        b: (
            probs,
            Operand::of(depth, width, width, 1).expect("contiguous"),
        ),
        c: (stats, keys),
        batch: n_kv_heads,
        batch_strides: [0, depth * width, 2 * keys],
    }
}
