//! [`TopK`](crate::TopK) on Burn's CUDA backend as two CubeCL kernels, where Burn's operations
//! build `O(len²)` comparison tensors (casts, compares, and/or, sums: about a fifth of a
//! `snapkv` prefill's kernel time on an H200, docs/results/gpu-prefill.md).
//!
//! 1. `rank_kernel`: one thread per candidate counts the candidates that beat it (a higher
//!    score, or an equal score and a larger index; NaN ranks lowest), reading the row through
//!    shared memory a tile at a time; it is kept when fewer than `budget` beat it.
//! 2. `compact_kernel`: each kept candidate writes its index to the slot numbered by the kept
//!    candidates before it, so the indices come out ascending.
//!
//! Both choose exactly what the host's [`top_k`](crate::top_k) chooses (`prefill_timing` checks
//! it on the GPU before timing anything).

use std::sync::atomic::{AtomicBool, Ordering};

use burn::prelude::*;
use burn::tensor::DType;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_fusion::FusionRuntime;
use burn_fusion::stream::Operation;
use burn_ir::{CustomOpIr, HandleContainer};
use cubecl::cuda::CudaRuntime;
use cubecl::prelude::{CubeCount, CubeDim};
use mss_core::cuda::{FusionCuda, Inner, fusion_primitive, int_tensor, is_cuda, register_custom};

use self::kernel::{compact_kernel, rank_kernel};

static TOP_K_KERNEL: AtomicBool = AtomicBool::new(true);

/// Whether [`rank_top_k`](crate::rank_top_k) and [`top_k_mask`](crate::top_k_mask) run as the
/// crate's two CubeCL kernels on Burn's CUDA backend (the default) or as Burn's operations, for
/// every pruner in the process. Both choose exactly what the host's [`top_k`](crate::top_k)
/// chooses; the switch exists to compare the two.
pub fn use_top_k_kernel(enabled: bool) {
    TOP_K_KERNEL.store(enabled, Ordering::Relaxed);
}

/// Whether the kernels are switched on ([`use_top_k_kernel`]).
pub(crate) fn top_k_kernel_enabled() -> bool {
    TOP_K_KERNEL.load(Ordering::Relaxed)
}

/// Threads per cube, and the candidates of one shared-memory tile.
const TILE: u32 = 256;

/// The kernels, apart from Burn's prelude (whose `Tensor`, `Int` and `Float` are not CubeCL's).
mod kernel {
    use cubecl::prelude::*;

    /// Candidate `j`'s score.
    #[cube]
    fn score_at<F: Float>(scores: &Tensor<F>, head: usize, j: usize) -> f32 {
        f32::cast_from(scores[head * scores.stride(0) + j * scores.stride(1)])
    }

    /// Whether `x` ranks lowest: NaN or −∞ (the host maps NaN to −∞; they tie). Tested, not
    /// compared with a constant: CubeCL writes an infinite constant as `inf`, which CUDA C++
    /// does not know.
    #[cube]
    fn lowest(x: f32) -> bool {
        x.is_nan() || (x.is_inf() && x < 0.0)
    }

    /// Whether candidate `j` (score `theirs`) beats candidate `i` (score `mine`): a higher
    /// score, or an equal one (the lowest tie with each other) at a larger index.
    #[cube]
    fn beats(theirs: f32, j: usize, mine: f32, i: usize) -> bool {
        let (low_theirs, low_mine) = (lowest(theirs), lowest(mine));
        let mut beats = false;
        if low_theirs && low_mine {
            beats = j > i;
        } else if low_mine {
            beats = true;
        } else if !low_theirs {
            beats = theirs > mine || (theirs == mine && j > i);
        }
        beats
    }

    /// `kept[h, i]` = 1 when fewer than `budget` candidates of row `h` of `scores` beat
    /// candidate `i` (a higher score, or an equal one at a larger index), else 0. One thread
    /// per candidate; cubes of `TILE` threads along the row, one row of cubes per head.
    #[cube(launch)]
    pub(super) fn rank_kernel<F: Float, I: Int>(
        scores: &Tensor<F>,
        kept: &mut Tensor<I>,
        budget: u32,
        #[comptime] tile: u32,
        #[define(F, I)] _dtypes: [StorageType; 2],
    ) {
        let len = kept.shape(1);
        let head = CUBE_POS_Y as usize;
        let i = (CUBE_POS_X * CUBE_DIM_X + UNIT_POS_X) as usize;
        let tile_len = tile as usize;
        let mut shared = SharedMemory::<f32>::new(tile_len);
        let mut mine = 0.0f32;
        if i < len {
            mine = score_at::<F>(scores, head, i);
        }
        let mut beaten_by = 0u32;
        let mut start = 0usize;
        // Every thread walks every tile (no early return: all must reach the barriers).
        while start < len {
            let j = start + UNIT_POS_X as usize;
            if j < len {
                shared[UNIT_POS_X as usize] = score_at::<F>(scores, head, j);
            }
            sync_cube();
            let count = min(tile_len, len - start);
            for t in 0..count {
                if beats(shared[t], start + t, mine, i) {
                    beaten_by += 1;
                }
            }
            sync_cube();
            start += tile_len;
        }
        if i < len {
            let mut flag = I::from_int(0);
            if beaten_by < budget {
                flag = I::from_int(1);
            }
            kept[head * len + i] = flag;
        }
    }

    /// `out[h, s]` = the index of the `s`-th kept candidate of row `h` of `kept` (1 or 0),
    /// ascending: each kept candidate counts the kept ones before it. Cubes as `rank_kernel`'s.
    #[cube(launch)]
    pub(super) fn compact_kernel<I: Int>(
        kept: &Tensor<I>,
        out: &mut Tensor<I>,
        #[comptime] tile: u32,
        #[define(I)] _int: StorageType,
    ) {
        let len = kept.shape(1);
        let k = out.shape(1);
        let head = CUBE_POS_Y as usize;
        let i = (CUBE_POS_X * CUBE_DIM_X + UNIT_POS_X) as usize;
        let tile_len = tile as usize;
        let mut shared = SharedMemory::<u32>::new(tile_len);
        // Only candidates before this cube's last one count.
        let end = min(len, (CUBE_POS_X * CUBE_DIM_X + CUBE_DIM_X) as usize);
        let mut before = 0u32;
        let mut start = 0usize;
        while start < end {
            let j = start + UNIT_POS_X as usize;
            if j < len {
                shared[UNIT_POS_X as usize] = u32::cast_from(kept[head * len + j]);
            }
            sync_cube();
            let count = min(tile_len, end - start);
            for t in 0..count {
                if start + t < i {
                    before += shared[t];
                }
            }
            sync_cube();
            start += tile_len;
        }
        if i < len && u32::cast_from(kept[head * len + i]) == 1u32 && (before as usize) < k {
            out[head * k + before as usize] = I::cast_from(i);
        }
    }
}

/// Whether each candidate of `scores` `[heads, len]` is among its row's `budget` best, as 1 or
/// 0, through `rank_kernel`, when `B` is Burn's CUDA backend; `None` otherwise.
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
/// `[heads, min(budget, len)]`, through both kernels, when `B` is Burn's CUDA backend and
/// the result is not empty; `None` otherwise.
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
        let flags = launch_rank(scores, self.budget);
        let out = match self.k {
            None => flags,
            Some(k) => launch_compact(flags, k),
        };
        handles.register_int_tensor::<Inner>(&self.desc.outputs[0].id, out);
    }
}

/// Cubes of [`TILE`] threads covering `len` candidates of each of `heads` rows.
fn cubes(heads: usize, len: usize) -> CubeCount {
    let count = |n: usize| u32::try_from(n).expect("fewer than 2^32 candidates and heads");
    CubeCount::Static(count(len.div_ceil(TILE as usize)), count(heads), 1)
}

/// Allocates the flags and queues `rank_kernel`.
fn launch_rank(scores: CubeTensor<CudaRuntime>, budget: u32) -> CubeTensor<CudaRuntime> {
    let shape = scores.meta.shape().clone();
    let [heads, len] = shape.dims::<2>();
    let flags = empty_device_contiguous_dtype(
        scores.client.clone(),
        scores.device.clone(),
        shape,
        DType::I32,
    );
    let dtypes = [scores.dtype.into(), flags.dtype.into()];
    rank_kernel::launch::<CudaRuntime>(
        &scores.client.clone(),
        cubes(heads, len),
        CubeDim::new_1d(TILE),
        scores.into_tensor_arg(),
        flags.clone().into_tensor_arg(),
        budget,
        TILE,
        dtypes,
    );
    flags
}

/// Allocates the `[heads, k]` indices and queues `compact_kernel` over the flags.
fn launch_compact(flags: CubeTensor<CudaRuntime>, k: usize) -> CubeTensor<CudaRuntime> {
    let [heads, len] = flags.meta.shape().dims::<2>();
    let out = empty_device_contiguous_dtype(
        flags.client.clone(),
        flags.device.clone(),
        Shape::new([heads, k]),
        flags.dtype,
    );
    let int = flags.dtype.into();
    compact_kernel::launch::<CudaRuntime>(
        &flags.client.clone(),
        cubes(heads, len),
        CubeDim::new_1d(TILE),
        flags.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        TILE,
        int,
    );
    out
}
