//! `rank_kernel` and `compact_kernel`: the top-k of rows of any length in two kernels, one
//! thread per candidate (see the parent module).

use burn::prelude::*;
use burn::tensor::DType;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::cuda::CudaRuntime;
use cubecl::prelude::{CubeCount, CubeDim};
use mss_core::cuda::StridesLaunch;

use self::kernel::{compact_kernel, rank_kernel};

/// This file's source, hashed: a compile-time argument of its kernels, so that a changed
/// kernel misses CubeCL's persistent cache (`mss_core::source_hash`).
const SOURCE: u64 = mss_core::source_hash(concat!(include_str!("rank.rs"), include_str!("mod.rs")));

/// Threads per cube, and the candidates of one shared-memory tile.
const TILE: u32 = 256;

mod kernel {
    use cubecl::prelude::*;

    use mss_core::cuda::Strides;

    use super::super::scores::{lowest, score_at};

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

    /// `kept[h, i]` = 1 when fewer than `budget` candidates of row `h` of `scores` (read at
    /// `strides`) beat candidate `i` (a higher score, or an equal one at a larger index), else
    /// 0. One thread per candidate; cubes of `TILE` threads along the row, one row of cubes
    /// per head.
    #[cube(launch)]
    pub(super) fn rank_kernel<F: Float, I: Int>(
        scores: &Array<F>,
        strides: Strides,
        kept: &mut Tensor<I>,
        budget: u32,
        #[comptime] tile: u32,
        #[comptime] _source: u64,
        #[define(F, I)] _dtypes: [StorageType; 2],
    ) {
        let len = kept.shape(1);
        let head = CUBE_POS_Y as usize;
        let i = (CUBE_POS_X * CUBE_DIM_X + UNIT_POS_X) as usize;
        let tile_len = tile as usize;
        let mut shared = SharedMemory::<f32>::new(tile_len);
        let mut mine = 0.0f32;
        if i < len {
            mine = score_at::<F>(scores, &strides, head, i);
        }
        let mut beaten_by = 0u32;
        let mut start = 0usize;
        // Every thread walks every tile (no early return: all must reach the barriers).
        while start < len {
            let j = start + UNIT_POS_X as usize;
            if j < len {
                shared[UNIT_POS_X as usize] = score_at::<F>(scores, &strides, head, j);
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
        #[comptime] _source: u64,
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

/// Cubes of [`TILE`] threads covering `len` candidates of each of `heads` rows.
fn cubes(heads: usize, len: usize) -> CubeCount {
    let count = |n: usize| u32::try_from(n).expect("fewer than 2^32 candidates and heads");
    CubeCount::Static(count(len.div_ceil(TILE as usize)), count(heads), 1)
}

/// Allocates the flags and queues `rank_kernel`.
pub(super) fn launch_rank(scores: CubeTensor<CudaRuntime>, budget: u32) -> CubeTensor<CudaRuntime> {
    let shape = scores.meta.shape().clone();
    let [heads, len] = shape.dims::<2>();
    let flags = empty_device_contiguous_dtype(
        scores.client.clone(),
        scores.device.clone(),
        shape,
        DType::I32,
    );
    let dtypes = [scores.dtype.into(), flags.dtype.into()];
    let strides = StridesLaunch::of(scores.meta.strides(), 0, 1);
    rank_kernel::launch::<CudaRuntime>(
        &scores.client.clone(),
        cubes(heads, len),
        CubeDim::new_1d(TILE),
        scores.into_array_arg(),
        strides,
        flags.clone().into_tensor_arg(),
        budget,
        TILE,
        SOURCE,
        dtypes,
    );
    flags
}

/// Allocates the `[heads, k]` indices and queues `compact_kernel` over the flags.
pub(super) fn launch_compact(flags: CubeTensor<CudaRuntime>, k: usize) -> CubeTensor<CudaRuntime> {
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
        SOURCE,
        int,
    );
    out
}
