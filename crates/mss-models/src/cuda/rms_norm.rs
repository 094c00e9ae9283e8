//! The residual add and the RMSNorm after it as one CubeCL kernel: everything between one
//! layer's last product and the next one's first.
//!
//! Burn runs them as an add, a fused reduction and a fused element-wise kernel, ~9 operations
//! each handed to its fusion thread (the host's cost of a prefill is the number of
//! operations, docs/results/gpu-prefill.md). A kernel for the norm alone cut Burn's fused
//! region in two and cost more than it saved; this one replaces the whole region between the
//! two products (custom operations both), so nothing around it loses a fusion.

use std::any::TypeId;

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
    FusionCuda, Inner, Primitive, float_tensor, fusion_primitive, register_custom,
};

use self::kernel::add_rms_norm_kernel;
use mss_core::cuda::vectors::{VECTOR, packed_vectors};

/// This file's source, hashed: a compile-time argument of its kernel, so that a changed
/// kernel misses CubeCL's persistent cache (`mss_core::source_hash`).
const SOURCE: u64 = mss_core::source_hash(include_str!("rms_norm.rs"));

/// Most vectors a unit holds in registers: rows of up to 256 units × 8 × 8 = 16 384 elements.
const MAX_VECTORS_PER_UNIT: usize = 8;

/// The kernel, apart from Burn's prelude (whose `Tensor` and `Float` are not CubeCL's).
mod kernel {
    use cubecl::prelude::*;

    /// One cube per token: `sum = x + delta` (rounded to `F`, as Burn's add; `x` itself when
    /// not `add`), then `normed = F(sum / sqrt(mean(sum²) + epsilon)) · weight` with the mean
    /// and the division in f32 and the product rounded to `F`, as `RmsNorm::forward`. Each unit
    /// loads its `per_unit` vectors of the row at once and keeps them in registers, so the row
    /// is read once; the squares are summed within each plane, then across the planes through
    /// shared memory. Every operand is contiguous, rows of `width` vectors; arrays, not
    /// tensors, so that nothing is uploaded before the launch (as the gating kernel).
    #[allow(clippy::too_many_arguments)]
    #[cube(launch_unchecked)]
    pub(super) fn add_rms_norm_kernel<F: Float, N: Size>(
        x: &Array<Vector<F, N>>,
        delta: &Array<Vector<F, N>>,
        weight: &Array<Vector<F, N>>,
        sum: &mut Array<Vector<F, N>>,
        normed: &mut Array<Vector<F, N>>,
        width: u32,
        epsilon: f32,
        #[comptime] per_unit: usize,
        #[comptime] add: bool,
        #[comptime] _source: u64,
        #[define(F)] _dtype: StorageType,
    ) {
        let n = x.vector_size();
        let width = width as usize;
        let base = CUBE_POS_X as usize * width;
        let step = CUBE_DIM_X as usize;
        let planes = (CUBE_DIM_X / PLANE_DIM) as usize;
        let mut totals = SharedMemory::<f32>::new(32usize);
        let mut values = Array::<Vector<f32, N>>::new(per_unit);

        let mut squares = 0.0f32;
        #[unroll]
        for r in 0..per_unit {
            let v = UNIT_POS_X as usize + r * step;
            let mut h32 = Vector::<f32, N>::new(0.0f32);
            if v < width {
                let mut h = x[base + v];
                if add {
                    h += delta[base + v];
                    sum[base + v] = h;
                }
                h32 = Vector::<f32, N>::cast_from(h);
            }
            #[unroll]
            for e in 0..n {
                squares += h32[e] * h32[e];
            }
            values[r] = h32;
        }
        let plane_total = plane_sum(squares);
        if UNIT_POS_PLANE == 0 {
            totals[PLANE_POS as usize] = plane_total;
        }
        sync_cube();
        let mut total = 0.0f32;
        for p in 0..planes {
            total += totals[p];
        }
        let rms = Vector::<f32, N>::new((total / f32::cast_from(width * n) + epsilon).sqrt());

        #[unroll]
        for r in 0..per_unit {
            let v = UNIT_POS_X as usize + r * step;
            if v < width {
                normed[base + v] = Vector::<F, N>::cast_from(values[r] / rms) * weight[v];
            }
        }
    }
}

/// `(x + delta, RMSNorm(x + delta))` (or `(x, RMSNorm(x))` without `delta`) through one
/// kernel, when `B` is Burn's CUDA backend, the crate's kernels are on
/// ([`use_cublas`](super::use_cublas)), every operand is bf16 or f16 alike and the rows split
/// into 16-byte vectors; `None` otherwise (the caller then runs Burn's operations). The sum
/// is `x` itself without `delta`.
///
/// # Shapes
/// - `x`, `delta`: `[1, tokens, hidden]`, `weight`: `[hidden]`
/// - returns `[1, tokens, hidden]` twice
pub(crate) fn add_rms_norm<B: Backend>(
    x: &Tensor<B, 3>,
    delta: Option<&Tensor<B, 3>>,
    weight: &Tensor<B, 1>,
    epsilon: f64,
) -> Option<(Tensor<B, 3>, Tensor<B, 3>)> {
    if TypeId::of::<B::FloatTensorPrimitive>() != TypeId::of::<Primitive>() {
        return None;
    }
    let [batch, tokens, hidden] = x.dims();
    let dtype = x.dtype();
    let fits = batch == 1
        && tokens > 0
        && hidden > 0
        && u32::try_from(tokens).is_ok()
        && weight.dims() == [hidden]
        && weight.dtype() == dtype
        && delta.is_none_or(|d| d.dims() == x.dims() && d.dtype() == dtype)
        && matches!(dtype, DType::BF16 | DType::F16)
        && hidden.is_multiple_of(VECTOR)
        && launch_shape(hidden).is_some();
    if !fits || !super::crate_kernels_enabled() {
        return None;
    }
    let mut inputs = vec![fusion_primitive(x)?, fusion_primitive(weight)?];
    if let Some(delta) = delta {
        inputs.push(fusion_primitive(delta)?);
    }
    let shape = (Shape::new([1, tokens, hidden]), dtype);
    let add = delta.is_some();
    let outputs = if add {
        vec![shape.clone(), shape]
    } else {
        vec![shape]
    };
    let epsilon = epsilon as f32;
    let mut outputs = register_custom("mss_add_rms_norm", inputs, &outputs, |desc| AddRmsNorm {
        desc,
        epsilon,
    });
    let normed = float_tensor(outputs.pop()?)?;
    let sum = match outputs.pop() {
        Some(sum) => float_tensor(sum)?,
        None => x.clone(),
    };
    Some((sum, normed))
}

/// Units of a cube and vectors of a unit for rows of `hidden` elements: as many planes as
/// give each unit about two vectors, at most eight planes; `None` past
/// [`MAX_VECTORS_PER_UNIT`].
fn launch_shape(hidden: usize) -> Option<(usize, usize)> {
    let width = hidden / VECTOR;
    let units = width.div_ceil(2).next_multiple_of(32).clamp(32, 256);
    let per_unit = width.div_ceil(units);
    (per_unit <= MAX_VECTORS_PER_UNIT).then_some((units, per_unit))
}

/// The registered operation: inputs `x`, `weight` and, when there is one, `delta`; outputs the
/// sum (with `delta`) and the normalised rows.
#[derive(Debug)]
struct AddRmsNorm {
    desc: CustomOpIr,
    epsilon: f32,
}

impl Operation<FusionCuda> for AddRmsNorm {
    fn execute(&self, handles: &mut HandleContainer<<FusionCuda as FusionRuntime>::FusionHandle>) {
        let inputs = &self.desc.inputs;
        let mut tensor =
            |i: usize| packed_vectors(handles.get_float_tensor::<Inner>(&inputs[i]), VECTOR);
        let (x, weight) = (tensor(0), tensor(1));
        let delta = inputs.get(2).map(|_| tensor(2));
        let outputs = launch(x, delta, weight, self.epsilon);
        for (desc, out) in self.desc.outputs.iter().zip(outputs) {
            handles.register_float_tensor::<Inner>(&desc.id, out);
        }
    }
}

/// Allocates the outputs (the sum, when there is a `delta`, then the normalised rows) and
/// queues the kernel.
fn launch(
    x: CubeTensor<CudaRuntime>,
    delta: Option<CubeTensor<CudaRuntime>>,
    weight: CubeTensor<CudaRuntime>,
    epsilon: f32,
) -> Vec<CubeTensor<CudaRuntime>> {
    let shape = x.meta.shape().clone();
    let [_, tokens, hidden] = shape.dims::<3>();
    let empty = || {
        empty_device_contiguous_dtype(x.client.clone(), x.device.clone(), shape.clone(), x.dtype)
    };
    let normed = empty();
    let add = delta.is_some();
    // Without a delta the kernel neither reads it nor writes a sum: `x` stands in for both.
    let (delta, sum) = match delta {
        Some(delta) => (delta, empty()),
        None => (x.clone(), x.clone()),
    };
    let (units, per_unit) =
        launch_shape(hidden).expect("the row's shape was checked when registered");
    let count = |n: usize| u32::try_from(n).expect("fewer than 2^32 tokens");
    let dtype = x.dtype.into();
    // Unchecked: every read and write is of a row below `tokens` (one cube each) and a vector
    // below the row's width, of contiguous tensors of that shape.
    #[allow(unsafe_code)]
    unsafe {
        add_rms_norm_kernel::launch_unchecked::<CudaRuntime>(
            &x.client.clone(),
            CubeCount::Static(count(tokens), 1, 1),
            CubeDim::new_1d(count(units)),
            VECTOR,
            x.into_array_arg(),
            delta.into_array_arg(),
            weight.into_array_arg(),
            sum.clone().into_array_arg(),
            normed.clone().into_array_arg(),
            count(hidden / VECTOR),
            epsilon,
            per_unit,
            add,
            SOURCE,
            dtype,
        );
    }
    if add { vec![sum, normed] } else { vec![normed] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_split_into_about_two_vectors_a_unit() {
        // 7B's 4096: 512 vectors over 256 units; SmolLM2's 576: 72 over 64 (two planes).
        assert_eq!(launch_shape(4096), Some((256, 2)));
        assert_eq!(launch_shape(576), Some((64, 2)));
        assert_eq!(launch_shape(8), Some((32, 1)));
        assert_eq!(launch_shape(8192), Some((256, 4)));
        assert_eq!(launch_shape(16_384), Some((256, 8)));
        assert_eq!(launch_shape(16_392), None);
    }
}
