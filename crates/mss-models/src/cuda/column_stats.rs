//! The pruners' statistics from a block of attention probabilities: one CubeCL kernel that sums
//! each key's column over the block's queries and the heads of its KV group.

use burn_cubecl::tensor::CubeTensor;
use cubecl::cuda::CudaRuntime;
use cubecl::prelude::*;

/// Threads per cube; one thread per (KV head, key).
const THREADS: u32 = 256;

/// For each KV head `g` and key `t < width`: adds the sum and the sum of squares of
/// `probs[(g n_rep + j) rows + r, t]` over the group's heads `j` and the block's queries `r` to
/// `sums[g, t]` and `squares[g, t]`; with `last_block`, writes the group's sum over its last
/// query to `last[g, t]`. Neighbouring threads read neighbouring keys. `probs` is contiguous.
#[cube(launch)]
fn column_stats_kernel<F: Float>(
    probs: &Tensor<F>,
    sums: &mut Tensor<F>,
    squares: &mut Tensor<F>,
    last: &mut Tensor<F>,
    n_rep: u32,
    rows: u32,
    #[comptime] last_block: bool,
    #[define(F)] _dtype: StorageType,
) {
    let width = probs.shape(1);
    let n_rep = n_rep as usize;
    let rows = rows as usize;
    if ABSOLUTE_POS >= sums.shape(0) * width {
        terminate!();
    }
    let g = ABSOLUTE_POS / width;
    let t = ABSOLUTE_POS % width;
    let mut sum = F::from_int(0);
    let mut square = F::from_int(0);
    let mut final_row = F::from_int(0);
    for j in 0..n_rep {
        let head = (g * n_rep + j) * rows;
        for r in 0..rows {
            let p = probs[(head + r) * width + t];
            sum += p;
            square += p * p;
        }
        final_row += probs[(head + rows - 1) * width + t];
    }
    // The statistics may be pitched (CubeCL pads the rows of some allocations).
    sums[g * sums.stride(0) + t] += sum;
    squares[g * squares.stride(0) + t] += square;
    if last_block {
        last[g * last.stride(0) + t] = final_row;
    }
}

/// Accumulates a block's column statistics (see the kernel) into `[sums, squares, last]`
/// (`[n_kv_heads, keys]` f32 each), queued after the work already queued on the device.
pub(super) fn accumulate_column_stats(
    probs: &CubeTensor<CudaRuntime>,
    stats: &[CubeTensor<CudaRuntime>; 3],
    n_rep: usize,
    rows: usize,
    last_block: bool,
) {
    let [n_kv_heads, _] = stats[0].meta.shape().dims::<2>();
    let width = probs.meta.shape()[1];
    let threads = n_kv_heads * width;
    let cubes = u32::try_from(threads.div_ceil(THREADS as usize)).expect("fewer than 2^32 cubes");
    let [sums, squares, last] = stats.clone();
    column_stats_kernel::launch::<CudaRuntime>(
        &probs.client,
        CubeCount::Static(cubes, 1, 1),
        CubeDim::new_1d(THREADS),
        probs.clone().into_tensor_arg(),
        sums.into_tensor_arg(),
        squares.into_tensor_arg(),
        last.into_tensor_arg(),
        u32::try_from(n_rep).expect("heads fit in u32"),
        u32::try_from(rows).expect("rows fit in u32"),
        last_block,
        probs.dtype.into(),
    );
}
