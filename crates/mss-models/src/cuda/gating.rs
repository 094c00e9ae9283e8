//! The MLP's gating, `SiLU(gate) · up`, as one CubeCL kernel: everything between the gate and
//! up products and the down product.
//!
//! Burn fuses its seven operations (casts, negation, exponential, add, division, product)
//! into one kernel already, but each of them is still handed to its fusion thread, and at the
//! shapes where the host sets a prefill's time each costs about as much as a small kernel
//! (docs/results/gpu-prefill.md). One custom operation replaces the whole region between two
//! products (custom operations both), so nothing around it loses a fusion.

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

use self::kernel::gating_kernel;
use mss_core::cuda::vectors::{VECTOR, packed_vectors};

/// This file's source, hashed: a compile-time argument of its kernel, so that a changed
/// kernel misses CubeCL's persistent cache (`mss_core::source_hash`).
const SOURCE: u64 = mss_core::source_hash(include_str!("gating.rs"));

/// Units of a cube.
const UNITS: usize = 256;

/// The kernel, apart from Burn's prelude (whose `Tensor` and `Float` are not CubeCL's).
mod kernel {
    use cubecl::prelude::*;

    /// `out = F(g / (1 + e^-g)) · up` with `g = f32(gate)`, as `mlp::gated`: one unit per
    /// vector of contiguous `gate`, `up` and `out` of `vectors` vectors. Arrays, not tensors:
    /// CubeCL uploads a tensor argument's shape and strides before each launch (a copy and a
    /// gap on the GPU, docs/results/gpu-prefill.md), an array's length goes with the launch.
    #[cube(launch_unchecked)]
    pub(super) fn gating_kernel<F: Float, N: Size>(
        gate: &Array<Vector<F, N>>,
        up: &Array<Vector<F, N>>,
        out: &mut Array<Vector<F, N>>,
        vectors: u32,
        #[comptime] _source: u64,
        #[define(F)] _dtype: StorageType,
    ) {
        let v = ABSOLUTE_POS;
        if v < vectors as usize {
            let g = Vector::<f32, N>::cast_from(gate[v]);
            // `0 - g`: CubeCL's CUDA code has no unary minus for vectors of eight.
            let (zero, one) = (Vector::<f32, N>::new(0.0f32), Vector::<f32, N>::new(1.0f32));
            let silu = g / (one + (zero - g).exp());
            out[v] = Vector::<F, N>::cast_from(silu) * up[v];
        }
    }
}

/// `SiLU(gate) · up` through one kernel, when `B` is Burn's CUDA backend, the crate's kernels
/// are on ([`use_cublas`](super::use_cublas)), both are bf16 or f16 alike, of one shape, and
/// their rows split into 16-byte vectors; `None` otherwise (the caller then runs Burn's
/// operations).
///
/// # Shapes
/// - `gate`, `up`: `[1, tokens, intermediate]`; returns `[1, tokens, intermediate]`
pub(crate) fn gated<B: Backend>(gate: &Tensor<B, 3>, up: &Tensor<B, 3>) -> Option<Tensor<B, 3>> {
    if TypeId::of::<B::FloatTensorPrimitive>() != TypeId::of::<Primitive>() {
        return None;
    }
    let dims = gate.dims();
    let dtype = gate.dtype();
    let fits = up.dims() == dims
        && up.dtype() == dtype
        && matches!(dtype, DType::BF16 | DType::F16)
        && dims[2].is_multiple_of(VECTOR)
        && dims.iter().product::<usize>() > 0
        && u32::try_from(dims.iter().product::<usize>()).is_ok();
    if !fits || !super::crate_kernels_enabled() {
        return None;
    }
    let inputs = vec![fusion_primitive(gate)?, fusion_primitive(up)?];
    let out = (Shape::new(dims), dtype);
    let out = register_custom("mss_gating", inputs, &[out], |desc| Gating { desc }).pop()?;
    float_tensor(out)
}

/// The registered operation: inputs `gate` and `up`, output the gated product.
#[derive(Debug)]
struct Gating {
    desc: CustomOpIr,
}

impl Operation<FusionCuda> for Gating {
    fn execute(&self, handles: &mut HandleContainer<<FusionCuda as FusionRuntime>::FusionHandle>) {
        let inputs = &self.desc.inputs;
        let mut tensor =
            |i: usize| packed_vectors(handles.get_float_tensor::<Inner>(&inputs[i]), VECTOR);
        let out = launch(tensor(0), tensor(1));
        handles.register_float_tensor::<Inner>(&self.desc.outputs[0].id, out);
    }
}

/// Allocates the output and queues the kernel.
fn launch(gate: CubeTensor<CudaRuntime>, up: CubeTensor<CudaRuntime>) -> CubeTensor<CudaRuntime> {
    let shape = gate.meta.shape().clone();
    let out = empty_device_contiguous_dtype(
        gate.client.clone(),
        gate.device.clone(),
        shape.clone(),
        gate.dtype,
    );
    let vectors = shape.num_elements() / VECTOR;
    let count = |n: usize| u32::try_from(n).expect("fewer than 2^32 vectors");
    let cubes = count(vectors.div_ceil(UNITS));
    let dtype = gate.dtype.into();
    // Unchecked: every unit reads and writes one vector below `vectors` of contiguous tensors
    // of that many vectors.
    #[allow(unsafe_code)]
    unsafe {
        gating_kernel::launch_unchecked::<CudaRuntime>(
            &gate.client.clone(),
            CubeCount::Static(cubes, 1, 1),
            CubeDim::new_1d(UNITS as u32),
            VECTOR,
            gate.into_array_arg(),
            up.into_array_arg(),
            out.clone().into_array_arg(),
            count(vectors),
            SOURCE,
            dtype,
        );
    }
    out
}
