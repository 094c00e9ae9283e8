//! [`TopK`](crate::TopK) on Burn's CUDA backend as CubeCL kernels, where Burn's operations
//! build `O(len²)` comparison tensors (casts, compares, and/or, sums: about a fifth of a
//! `snapkv` prefill's kernel time on an H200, docs/results/gpu-prefill.md).
//!
//! Rows of up to [`MAX_SELECT_LEN`] candidates take one kernel, `select_kernel`: one cube per
//! row holds the row's candidates in registers as order-preserving integer keys, finds the
//! `budget`-th largest key eight bits at a time from the top (four histograms of 256 bins in
//! shared memory, where a bit at a time took 32 counts over the cube), keeps the keys
//! above it and, of the keys equal to it, those at the largest indices, and writes the kept
//! flags or the kept indices in ascending order (a prefix sum over the cube). Longer rows take
//! two:
//! 1. `rank_kernel`: one thread per candidate counts the candidates that beat it (a higher
//!    score, or an equal score and a larger index; NaN ranks lowest), reading the row through
//!    shared memory a tile at a time; it is kept when fewer than `budget` beat it.
//! 2. `compact_kernel`: each kept candidate writes its index to the slot numbered by the kept
//!    candidates before it, so the indices come out ascending.
//!
//! Every path chooses exactly what the host's [`top_k`](crate::top_k) chooses
//! (`prefill_timing` checks it on the GPU before timing anything).

use std::sync::atomic::{AtomicBool, Ordering};

use burn::prelude::*;
use burn::tensor::DType;
use burn_fusion::FusionRuntime;
use burn_fusion::stream::Operation;
use burn_ir::{CustomOpIr, HandleContainer};
use mss_core::cuda::{FusionCuda, Inner, fusion_primitive, int_tensor, is_cuda, register_custom};

mod rank;
mod select;

use self::rank::{launch_compact, launch_rank};
use self::select::{MAX_SELECT_LEN, launch_select};

static TOP_K_KERNEL: AtomicBool = AtomicBool::new(true);

/// Whether [`rank_top_k`](crate::rank_top_k) and [`top_k_mask`](crate::top_k_mask) run as the
/// crate's CubeCL kernels on Burn's CUDA backend (the default) or as Burn's operations, for
/// every pruner in the process. Both choose exactly what the host's [`top_k`](crate::top_k)
/// chooses; the switch exists to compare the two.
pub fn use_top_k_kernel(enabled: bool) {
    TOP_K_KERNEL.store(enabled, Ordering::Relaxed);
}

/// Whether the kernels are switched on ([`use_top_k_kernel`]).
pub(crate) fn top_k_kernel_enabled() -> bool {
    TOP_K_KERNEL.load(Ordering::Relaxed)
}

/// What both kernels read of a score, apart from Burn's prelude (whose `Tensor`, `Int` and
/// `Float` are not CubeCL's).
mod scores {
    use cubecl::prelude::*;
    use mss_core::cuda::Strides;

    /// Candidate `j`'s score of row `head` (`scores` read at `strides`, in elements: an array,
    /// not a tensor, so that nothing is uploaded before a launch).
    #[cube]
    pub(super) fn score_at<F: Float>(
        scores: &Array<F>,
        strides: &Strides,
        head: usize,
        j: usize,
    ) -> f32 {
        f32::cast_from(scores[strides.at(head, j)])
    }

    /// Whether `x` ranks lowest: NaN or −∞ (the host maps NaN to −∞; they tie). Tested, not
    /// compared with a constant: CubeCL writes an infinite constant as `inf`, which CUDA C++
    /// does not know.
    #[cube]
    pub(super) fn lowest(x: f32) -> bool {
        x.is_nan() || (x.is_inf() && x < 0.0)
    }
}

/// Whether each candidate of `scores` `[heads, len]` is among its row's `budget` best, as 1 or
/// 0, through `select_kernel` (or `rank_kernel` for rows past its reach), when `B` is Burn's
/// CUDA backend; `None` otherwise.
pub(crate) fn kept_flags<B: Backend>(
    scores: &Tensor<B, 2>,
    budget: usize,
) -> Option<Tensor<B, 2, Int>> {
    let [heads, len] = scores.dims();
    if !is_cuda::<B>() || heads * len == 0 {
        return None;
    }
    let budget = u32::try_from(budget).unwrap_or(u32::MAX);
    let out = (Shape::new([heads, len]), DType::I32);
    let out = register_custom(
        "mss_top_k_flags",
        vec![fusion_primitive(scores)?],
        &[out],
        |desc| TopKKernels {
            desc,
            budget,
            k: None,
        },
    )
    .pop()?;
    int_tensor(out)
}

/// The ascending indices of each row's `budget` best candidates of `scores` `[heads, len]`,
/// `[heads, min(budget, len)]`, through `select_kernel` (or the rank and compaction kernels
/// for rows past its reach), when `B` is Burn's CUDA backend and the result is not empty;
/// `None` otherwise.
pub(crate) fn top_k_indices<B: Backend>(
    scores: &Tensor<B, 2>,
    budget: usize,
) -> Option<Tensor<B, 2, Int>> {
    let [heads, len] = scores.dims();
    let k = budget.min(len);
    if !is_cuda::<B>() || heads * k == 0 {
        return None;
    }
    let budget = u32::try_from(k).ok()?;
    let out = (Shape::new([heads, k]), DType::I32);
    let out = register_custom(
        "mss_top_k",
        vec![fusion_primitive(scores)?],
        &[out],
        |desc| TopKKernels {
            desc,
            budget,
            k: Some(k),
        },
    )
    .pop()?;
    int_tensor(out)
}

/// The registered operation: input the scores; output the kept flags (`k: None`) or the `k`
/// kept indices.
#[derive(Debug)]
struct TopKKernels {
    desc: CustomOpIr,
    budget: u32,
    k: Option<usize>,
}

impl Operation<FusionCuda> for TopKKernels {
    fn execute(&self, handles: &mut HandleContainer<<FusionCuda as FusionRuntime>::FusionHandle>) {
        let scores = handles.get_float_tensor::<Inner>(&self.desc.inputs[0]);
        let out = if scores.meta.shape()[1] <= MAX_SELECT_LEN {
            launch_select(scores, self.budget, self.k)
        } else {
            let flags = launch_rank(scores, self.budget);
            match self.k {
                None => flags,
                Some(k) => launch_compact(flags, k),
            }
        };
        handles.register_int_tensor::<Inner>(&self.desc.outputs[0].id, out);
    }
}
