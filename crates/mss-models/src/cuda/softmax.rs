//! The causal softmax between attention's two products: one CubeCL kernel instead of Burn's
//! mask, max, subtract, exponential, sum and divide (six kernels, each a pass over the scores).

use burn::tensor::DType;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::cuda::CudaRuntime;
use cubecl::prelude::*;

/// This file's source, hashed: a compile-time argument of its kernels, so that a changed
/// kernel misses CubeCL's persistent cache (`mss_core::source_hash`).
const SOURCE: u64 = mss_core::source_hash(include_str!("softmax.rs"));

/// Threads per row of the looping kernel: eight warps, each striding over the row's keys.
const THREADS_PER_ROW: u32 = 256;

/// Most vectors one thread of the register kernel holds (a row of up to 1024 threads × 16
/// vectors of 4 scores, 65 536 keys); wider rows take the looping kernel.
const MAX_VECTORS_PER_THREAD: usize = 16;

/// Softmax of each row of `scores` over its first `first_visible + (row % rows)` entries, zero
/// past them: the causal rows of a block of `rows` queries per head, whose first query sees
/// `first_visible` keys. One cube per row; each thread loads its `per_thread` vectors of the
/// row into registers at once (no dependent load waits for the one before it), so the row is
/// read from memory once; the max and the sum are reduced within each plane, then across the
/// planes through shared memory. Every row has at least one visible key.
#[cube(launch)]
fn causal_softmax_rows_kernel<F: Float, P: Float, N: Size>(
    scores: &Tensor<Vector<F, N>>,
    probs: &mut Tensor<Vector<P, N>>,
    rows: u32,
    first_visible: u32,
    #[comptime] per_thread: usize,
    #[comptime] _source: u64,
    #[define(F, P)] _dtypes: [StorageType; 2],
) {
    let n = scores.vector_size();
    let width = scores.shape(1) / n;
    let visible = (first_visible + CUBE_POS_X % rows) as usize;
    let base = CUBE_POS_X as usize * width;
    let step = CUBE_DIM_X as usize;
    let planes = (CUBE_DIM_X / PLANE_DIM) as usize;
    let mut maxima = SharedMemory::<F>::new(32usize);
    let mut totals = SharedMemory::<F>::new(32usize);
    let mut values = Array::<Vector<F, N>>::new(per_thread);

    let mut local_max = F::min_value();
    #[unroll]
    for r in 0..per_thread {
        let v = UNIT_POS_X as usize + r * step;
        let mut x = Vector::<F, N>::new(F::min_value());
        if v < width {
            x = scores[base + v];
        }
        #[unroll]
        for e in 0..n {
            // Masked keys count as the lowest float: their exponential below is 0.
            if v * n + e >= visible {
                x[e] = F::min_value();
            }
            local_max = max(local_max, x[e]);
        }
        values[r] = x;
    }
    let plane_maximum = plane_max(local_max);
    if UNIT_POS_PLANE == 0 {
        maxima[PLANE_POS as usize] = plane_maximum;
    }
    sync_cube();
    let mut row_max = F::min_value();
    for p in 0..planes {
        row_max = max(row_max, maxima[p]);
    }

    let mut local_sum = F::from_int(0);
    #[unroll]
    for r in 0..per_thread {
        let x = (values[r] - Vector::<F, N>::new(row_max)).exp();
        #[unroll]
        for e in 0..n {
            local_sum += x[e];
        }
        values[r] = x;
    }
    let plane_total = plane_sum(local_sum);
    if UNIT_POS_PLANE == 0 {
        totals[PLANE_POS as usize] = plane_total;
    }
    sync_cube();
    let mut total = F::from_int(0);
    for p in 0..planes {
        total += totals[p];
    }
    let inverse = Vector::<F, N>::new(F::new(1.0) / total);

    #[unroll]
    for r in 0..per_thread {
        let v = UNIT_POS_X as usize + r * step;
        if v < width {
            probs[base + v] = Vector::<P, N>::cast_from(values[r] * inverse);
        }
    }
}

/// As [`causal_softmax_rows_kernel`] for rows of any width: each thread strides over the row
/// twice (once for the max and the sum, online, once to write), one element at a time.
#[cube(launch)]
fn causal_softmax_kernel<F: Float, P: Float>(
    scores: &Tensor<F>,
    probs: &mut Tensor<P>,
    rows: u32,
    first_visible: u32,
    #[comptime] _source: u64,
    #[define(F, P)] _dtypes: [StorageType; 2],
) {
    let width = scores.shape(1);
    let visible = (first_visible + CUBE_POS_X % rows) as usize;
    let base = CUBE_POS_X as usize * width;
    let step = CUBE_DIM_X as usize;
    let planes = (CUBE_DIM_X / PLANE_DIM) as usize;
    let mut maxima = SharedMemory::<F>::new(32usize);
    let mut totals = SharedMemory::<F>::new(32usize);

    // One pass for the max and the sum (online: the sum is rescaled when the max grows), one
    // more to write the probabilities.
    let mut local_max = F::min_value();
    let mut local_sum = F::from_int(0);
    let mut j = UNIT_POS_X as usize;
    while j < visible {
        let x = scores[base + j];
        let grown = max(local_max, x);
        local_sum = local_sum * (local_max - grown).exp() + (x - grown).exp();
        local_max = grown;
        j += step;
    }
    // Each (max, sum) pair is brought to the row's max before it is added.
    let plane_maximum = plane_max(local_max);
    let plane_total = plane_sum(local_sum * (local_max - plane_maximum).exp());
    if UNIT_POS_PLANE == 0 {
        maxima[PLANE_POS as usize] = plane_maximum;
        totals[PLANE_POS as usize] = plane_total;
    }
    sync_cube();
    let mut row_max = F::min_value();
    for p in 0..planes {
        row_max = max(row_max, maxima[p]);
    }
    let mut total = F::from_int(0);
    for p in 0..planes {
        total += totals[p] * (maxima[p] - row_max).exp();
    }
    let inverse = F::new(1.0) / total;

    j = UNIT_POS_X as usize;
    while j < width {
        let mut p = F::from_int(0);
        if j < visible {
            p = (scores[base + j] - row_max).exp() * inverse;
        }
        probs[base + j] = P::cast_from(p);
        j += step;
    }
}

/// The causal softmax of f32 `scores` (`[heads × rows, width]`, contiguous) as a new tensor of
/// `dtype`, queued after the work already queued on the device.
pub(super) fn causal_softmax(
    scores: &CubeTensor<CudaRuntime>,
    rows: usize,
    first_visible: usize,
    dtype: DType,
) -> CubeTensor<CudaRuntime> {
    let shape = scores.meta.shape().clone();
    let probs = empty_device_contiguous_dtype(
        scores.client.clone(),
        scores.device.clone(),
        shape.clone(),
        dtype,
    );
    let client = scores.client.clone();
    let count = u32::try_from(shape[0]).expect("fewer than 2^32 rows of scores");
    let rows = u32::try_from(rows).expect("rows fit in u32");
    let first_visible = u32::try_from(first_visible).expect("keys fit in u32");
    let dtypes = [scores.dtype.into(), dtype.into()];
    let width = shape[1];
    let vector_size = [4, 2, 1]
        .into_iter()
        .find(|n| width.is_multiple_of(*n))
        .unwrap_or(1);
    let vectors = width / vector_size;
    let fitting = [256, 1024]
        .into_iter()
        .map(|threads| (threads, vectors.div_ceil(threads)))
        .find(|&(_, per_thread)| per_thread <= MAX_VECTORS_PER_THREAD);
    match fitting {
        Some((threads, per_thread)) => causal_softmax_rows_kernel::launch::<CudaRuntime>(
            &client,
            CubeCount::Static(count, 1, 1),
            CubeDim::new_1d(threads as u32),
            vector_size,
            scores.clone().into_tensor_arg(),
            probs.clone().into_tensor_arg(),
            rows,
            first_visible,
            per_thread.max(1),
            SOURCE,
            dtypes,
        ),
        None => causal_softmax_kernel::launch::<CudaRuntime>(
            &client,
            CubeCount::Static(count, 1, 1),
            CubeDim::new_1d(THREADS_PER_ROW),
            scores.clone().into_tensor_arg(),
            probs.clone().into_tensor_arg(),
            rows,
            first_visible,
            SOURCE,
            dtypes,
        ),
    }
    probs
}
