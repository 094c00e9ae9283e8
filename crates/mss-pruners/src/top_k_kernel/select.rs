//! `select_kernel`: the top-k of rows of up to [`MAX_SELECT_LEN`] candidates in one cube per
//! row, by a radix search for the threshold over order-preserving integer keys (see the parent
//! module).

use burn::prelude::*;
use burn::tensor::DType;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::cuda::CudaRuntime;
use cubecl::prelude::{CubeCount, CubeDim};
use mss_core::cuda::StridesLaunch;

use self::kernel::select_kernel;

/// This file's source, hashed: a compile-time argument of its kernels, so that a changed
/// kernel misses CubeCL's persistent cache (`mss_core::source_hash`).
const SOURCE: u64 =
    mss_core::source_hash(concat!(include_str!("select.rs"), include_str!("mod.rs")));

/// Most threads of `select_kernel`'s cube, and the most candidates each holds.
const SELECT_THREADS: usize = 1024;
const SELECT_PER_THREAD: usize = 16;

/// Longest row `select_kernel` takes.
pub(super) const MAX_SELECT_LEN: usize = SELECT_THREADS * SELECT_PER_THREAD;

mod kernel {
    use cubecl::prelude::*;

    use mss_core::cuda::Strides;

    use super::super::scores::{lowest, score_at};

    /// An integer key of `x` that orders as the host ranks scores: the lowest (NaN, −∞) 0,
    /// then every other float in its order, −0.0 equal to +0.0.
    #[cube]
    fn order_key(x: f32) -> u32 {
        let mut key = 0u32;
        if !lowest(x) {
            let mut bits = u32::reinterpret(x);
            if x == 0.0 {
                bits = 0u32;
            }
            if bits >= 0x8000_0000u32 {
                // Negative: a larger magnitude is a smaller key.
                key = 0xFFFF_FFFFu32 - bits;
            } else {
                key = bits + 0x8000_0000u32;
            }
        }
        key
    }

    /// `value` summed over the cube, through `shared` (a slot per plane).
    #[cube]
    fn cube_sum(value: u32, shared: &mut SharedMemory<u32>) -> u32 {
        let total = plane_sum(value);
        if UNIT_POS_PLANE == 0 {
            shared[PLANE_POS as usize] = total;
        }
        sync_cube();
        let mut sum = 0u32;
        for p in 0..(CUBE_DIM_X / PLANE_DIM) as usize {
            sum += shared[p];
        }
        sync_cube();
        sum
    }

    /// `value` summed over the cube's units before this one.
    #[cube]
    fn cube_sum_before(value: u32, shared: &mut SharedMemory<u32>) -> u32 {
        let inclusive = plane_inclusive_sum(value);
        if UNIT_POS_PLANE == PLANE_DIM - 1 {
            shared[PLANE_POS as usize] = inclusive;
        }
        sync_cube();
        let mut before = inclusive - value;
        for p in 0..PLANE_POS as usize {
            before += shared[p];
        }
        sync_cube();
        before
    }

    /// Row `h` of `scores` (`[heads, len]` at `strides`; one cube per row, `per_thread`
    /// consecutive candidates per unit): with `write_indices`, `out[h, s]` (`[heads, width]`,
    /// contiguous) = the index of the `s`-th of the row's `budget` best candidates, ascending;
    /// otherwise `out[h, i]` (`[heads, len]`) = 1 when candidate `i` is among them, else 0.
    /// The best: the `budget` largest order keys, ties going to the larger index, as
    /// `rank_kernel` decides.
    #[allow(clippy::too_many_arguments)]
    #[cube(launch)]
    pub(super) fn select_kernel<F: Float, I: Int>(
        scores: &Array<F>,
        strides: Strides,
        out: &mut Array<I>,
        len: u32,
        width: u32,
        budget: u32,
        #[comptime] per_thread: usize,
        #[comptime] write_indices: bool,
        #[comptime] _source: u64,
        #[define(F, I)] _dtypes: [StorageType; 2],
    ) {
        let len = len as usize;
        let head = CUBE_POS_X as usize;
        let first = UNIT_POS_X as usize * per_thread;
        let mut shared = SharedMemory::<u32>::new(32usize);
        let mut keys = Array::<u32>::new(per_thread);
        #[unroll]
        for r in 0..per_thread {
            let mut key = 0u32;
            if first + r < len {
                key = order_key(score_at::<F>(scores, &strides, head, first + r));
            }
            keys[r] = key;
        }
        let k = min(budget as usize, len) as u32;

        // The k-th largest key, eight bits at a time from the top: each round counts the keys
        // that share the digits found so far by their next digit (a histogram of 256 bins in
        // shared memory), and the next digit is the one at which the count from the top
        // reaches the keys still wanted. Four rounds, where a bit at a time took 32.
        let bins = SharedMemory::<Atomic<u32>>::new(256usize);
        let mut found = SharedMemory::<u32>::new(2usize);
        // With nothing to keep, a threshold no key reaches (the largest key is +∞'s).
        let mut threshold = 0xFFFF_FFFFu32;
        if k > 0 {
            threshold = 0u32;
            let mut wanted = k;
            #[unroll]
            for round in 0..4u32 {
                let shift = 24u32 - 8u32 * round;
                let found_digits = !(0xFFFF_FFFFu32 >> (8u32 * round));
                if UNIT_POS_X < 256 {
                    bins[UNIT_POS_X as usize].store(0u32);
                }
                sync_cube();
                #[unroll]
                for r in 0..per_thread {
                    if first + r < len && (keys[r] & found_digits) == threshold {
                        bins[((keys[r] >> shift) & 0xFFu32) as usize].fetch_add(1u32);
                    }
                }
                sync_cube();
                // Unit u holds bin 255 - u: the units before it hold the larger digits.
                let mut count = 0u32;
                if UNIT_POS_X < 256 {
                    count = bins[(255u32 - UNIT_POS_X) as usize].load();
                }
                let above = cube_sum_before(count, &mut shared);
                if UNIT_POS_X < 256 && above < wanted && wanted <= above + count {
                    found[0] = 255u32 - UNIT_POS_X;
                    found[1] = wanted - above;
                }
                sync_cube();
                threshold |= found[0] << shift;
                wanted = found[1];
            }
        }

        // Every key above the threshold is kept; of the keys equal to it, as many as are
        // still needed, from the largest index down.
        let mut greater = 0u32;
        let mut ties = 0u32;
        #[unroll]
        for r in 0..per_thread {
            if first + r < len {
                if keys[r] > threshold {
                    greater += 1;
                } else if keys[r] == threshold {
                    ties += 1;
                }
            }
        }
        let needed = k - cube_sum(greater, &mut shared);
        let ties_total = cube_sum(ties, &mut shared);
        let mut ties_after = ties_total - cube_sum_before(ties, &mut shared) - ties;
        let mut flags = Array::<u32>::new(per_thread);
        let mut kept_here = 0u32;
        #[unroll]
        for q in 0..per_thread {
            let r = per_thread - 1 - q;
            let mut keep = 0u32;
            if first + r < len {
                if keys[r] > threshold {
                    keep = 1u32;
                } else if keys[r] == threshold {
                    if ties_after < needed {
                        keep = 1u32;
                    }
                    ties_after += 1;
                }
            }
            flags[r] = keep;
            kept_here += keep;
        }

        if write_indices {
            let width = width as usize;
            let mut slot = cube_sum_before(kept_here, &mut shared) as usize;
            #[unroll]
            for r in 0..per_thread {
                if flags[r] == 1u32 {
                    if slot < width {
                        out[head * width + slot] = I::cast_from(first + r);
                    }
                    slot += 1;
                }
            }
        } else {
            #[unroll]
            for r in 0..per_thread {
                if first + r < len {
                    out[head * len + first + r] = I::cast_from(flags[r]);
                }
            }
        }
    }
}

/// Allocates the flags (`k: None`) or the `[heads, k]` indices and queues `select_kernel`:
/// one cube per row, up to [`SELECT_THREADS`] units of up to [`SELECT_PER_THREAD`]
/// candidates each.
pub(super) fn launch_select(
    scores: CubeTensor<CudaRuntime>,
    budget: u32,
    k: Option<usize>,
) -> CubeTensor<CudaRuntime> {
    let [heads, len] = scores.meta.shape().dims::<2>();
    let out = empty_device_contiguous_dtype(
        scores.client.clone(),
        scores.device.clone(),
        Shape::new([heads, k.unwrap_or(len)]),
        DType::I32,
    );
    // At least a unit per bin of the radix search's histogram.
    let threads = len.next_multiple_of(32).clamp(256, SELECT_THREADS);
    let per_thread = len.div_ceil(threads).max(1);
    let count = |n: usize| u32::try_from(n).expect("fewer than 2^32 heads and threads");
    let dtypes = [scores.dtype.into(), out.dtype.into()];
    let strides = StridesLaunch::of(scores.meta.strides(), 0, 1);
    select_kernel::launch::<CudaRuntime>(
        &scores.client.clone(),
        CubeCount::Static(count(heads), 1, 1),
        CubeDim::new_1d(count(threads)),
        scores.into_array_arg(),
        strides,
        out.clone().into_array_arg(),
        count(len),
        count(k.unwrap_or(len)),
        budget,
        per_thread,
        k.is_some(),
        SOURCE,
        dtypes,
    );
    out
}
