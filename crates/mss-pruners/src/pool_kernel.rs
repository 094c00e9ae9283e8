//! SnapKV's scores on Burn's CUDA backend as one CubeCL kernel: the candidates' column sums,
//! average-pooled, divided by their visible-query counts.
//!
//! Through Burn's operations the same scores take the candidates' columns cut out of the
//! statistics (a copy each: Burn's CUDA slices copy unless both ends fall on 512 bytes), the
//! pooling kernel and the division, each an operation of the fusion stream with a
//! host-to-device copy of its tensors' shapes before it (docs/results/gpu-prefill.md). The
//! kernel reads the statistics of every entry where they are, from the candidates' first
//! column, and computes what [`avg_pool`](crate::snapkv::avg_pool) and the division compute, in
//! the same order: the same bits (`device_check`'s `kv` family checks it on the GPU).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use burn::prelude::*;
use burn::tensor::DType;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_fusion::FusionRuntime;
use burn_fusion::stream::Operation;
use burn_ir::{CustomOpIr, HandleContainer};
use cubecl::cuda::CudaRuntime;
use cubecl::prelude::{CubeCount, CubeDim};
use mss_core::cuda::{
    FusionCuda, Inner, StridesLaunch, float_tensor, fusion_primitive, is_cuda, register_custom,
};

use self::kernel::pooled_mean_kernel;

/// This file's source, hashed: a compile-time argument of its kernel, so that a changed kernel
/// misses CubeCL's persistent cache.
const SOURCE: u64 = mss_core::source_hash(include_str!("pool_kernel.rs"));

/// Units of a cube.
const UNITS: usize = 256;

static SCORE_KERNEL: AtomicBool = AtomicBool::new(true);
static LAUNCHES: AtomicUsize = AtomicUsize::new(0);

/// Whether SnapKV's scores run as the crate's kernel on Burn's CUDA backend (the default) or
/// as Burn's operations, for every pruner in the process. Both give the same bits; the switch
/// exists to compare the two.
pub fn use_score_kernel(enabled: bool) {
    SCORE_KERNEL.store(enabled, Ordering::Relaxed);
}

/// How many score computations this process has queued through the kernel: a check that
/// compares it with Burn's operations asks, so that it cannot pass with both sides on Burn's.
pub fn score_kernel_launches() -> usize {
    LAUNCHES.load(Ordering::Relaxed)
}

/// The kernel, apart from Burn's prelude (whose `Tensor`, `Int` and `Float` are not CubeCL's).
mod kernel {
    use cubecl::prelude::*;
    use mss_core::cuda::Strides;

    /// One unit per (head, candidate `j`): the sum of the column sums of candidates `j - width
    /// / 2 ..= j + width / 2` that exist (left to right, from 0, as Burn's pooling adds them),
    /// divided by `width` (the padding counted), then by the candidate's visible-query count,
    /// at least 1. Candidate `j` is entry `start + j` of `sums` and `visible`, read by their
    /// strides; `scores` is `[heads, len]`, contiguous.
    #[allow(clippy::too_many_arguments)]
    #[cube(launch_unchecked)]
    pub(super) fn pooled_mean_kernel(
        sums: &Array<f32>,
        visible: &Array<f32>,
        scores: &mut Array<f32>,
        start: u32,
        len: u32,
        heads: u32,
        width: u32,
        sum_strides: Strides,
        visible_strides: Strides,
        #[comptime] _source: u64,
    ) {
        let i = ABSOLUTE_POS;
        let (len, start) = (len as usize, start as usize);
        if i < heads as usize * len {
            let (head, j) = (i / len, i % len);
            let half = (width / 2) as usize;
            let mut total = 0.0f32;
            for t in 0..width as usize {
                // Candidate `j + t - half`, where it exists.
                let at = j + t;
                if at >= half && at - half < len {
                    total += sums[sum_strides.at(head, start + at - half)];
                }
            }
            let seen = max(visible[visible_strides.at(head, start + j)], 1.0f32);
            scores[i] = total / f32::cast_from(width) / seen;
        }
    }
}

/// SnapKV's scores of the candidates `start..start + len` of `sums` and `visible` (`[heads,
/// entries]` f32: the column sums and visible-query counts of every entry) under a pool of odd
/// `width`, `[heads, len]`, through the kernel, when `B` is Burn's CUDA backend, the kernel is
/// on ([`use_score_kernel`]), both operands are f32 of one shape holding the candidates and
/// every index fits 32 bits; `None` otherwise (the caller then runs Burn's operations).
pub(crate) fn pooled_mean<B: Backend>(
    sums: &Tensor<B, 2>,
    visible: &Tensor<B, 2>,
    start: usize,
    len: usize,
    width: usize,
) -> Option<Tensor<B, 2>> {
    if !is_cuda::<B>() || !SCORE_KERNEL.load(Ordering::Relaxed) {
        return None;
    }
    let [heads, entries] = sums.dims();
    let fits = heads > 0
        && len > 0
        && width % 2 == 1
        && start + len <= entries
        && visible.dims() == [heads, entries]
        && sums.dtype() == DType::F32
        && visible.dtype() == DType::F32
        && u32::try_from(heads * entries).is_ok()
        && u32::try_from(len + width).is_ok();
    if !fits {
        return None;
    }
    let inputs = vec![fusion_primitive(sums)?, fusion_primitive(visible)?];
    let output = (Shape::new([heads, len]), DType::F32);
    let scores = register_custom("mss_pooled_mean", inputs, &[output], |desc| PooledMean {
        desc,
        start,
        width,
    })
    .pop()?;
    LAUNCHES.fetch_add(1, Ordering::Relaxed);
    float_tensor(scores)
}

/// The registered operation: inputs the column sums and visible-query counts of every entry;
/// output the candidates' scores.
#[derive(Debug)]
struct PooledMean {
    desc: CustomOpIr,
    start: usize,
    width: usize,
}

impl Operation<FusionCuda> for PooledMean {
    fn execute(&self, handles: &mut HandleContainer<<FusionCuda as FusionRuntime>::FusionHandle>) {
        let sums = handles.get_float_tensor::<Inner>(&self.desc.inputs[0]);
        let visible = handles.get_float_tensor::<Inner>(&self.desc.inputs[1]);
        let output = &self.desc.outputs[0];
        let scores = launch(sums, visible, self.start, output.shape[1], self.width);
        handles.register_float_tensor::<Inner>(&output.id, scores);
    }
}

/// Allocates the scores and queues the kernel.
fn launch(
    sums: CubeTensor<CudaRuntime>,
    visible: CubeTensor<CudaRuntime>,
    start: usize,
    len: usize,
    width: usize,
) -> CubeTensor<CudaRuntime> {
    let heads = sums.meta.shape()[0];
    let count = |n: usize| u32::try_from(n).expect("checked by pooled_mean");
    let scores = empty_device_contiguous_dtype(
        sums.client.clone(),
        sums.device.clone(),
        Shape::new([heads, len]),
        DType::F32,
    );
    let (sum_strides, visible_strides) =
        (sums.meta.strides().clone(), visible.meta.strides().clone());
    let client = sums.client.clone();
    // Unchecked: unit `i < heads · len` reads entries `start..start + len` of its head (below
    // the operands' `entries`, checked by `pooled_mean`) by their strides, and writes score `i`.
    #[allow(unsafe_code)]
    unsafe {
        pooled_mean_kernel::launch_unchecked::<CudaRuntime>(
            &client,
            CubeCount::Static(count((heads * len).div_ceil(UNITS)), 1, 1),
            CubeDim::new_1d(count(UNITS)),
            sums.into_array_arg(),
            visible.into_array_arg(),
            scores.clone().into_array_arg(),
            count(start),
            count(len),
            count(heads),
            count(width),
            StridesLaunch::of(&sum_strides, 0, 1),
            StridesLaunch::of(&visible_strides, 0, 1),
            SOURCE,
        );
    }
    scores
}
