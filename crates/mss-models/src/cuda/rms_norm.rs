//! RMSNorm on CUDA: one CubeCL kernel per call, one cube per token, where Burn's operations
//! run a fused reduction for the mean square and a fused element-wise kernel for the scaling
//! (two passes over the hidden states and two launches).

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

use self::kernel::rms_norm_kernel;

use mss_core::cuda::{
    FusionCuda, Inner, Primitive, float_tensor, fusion_primitive, register_custom,
};

/// Threads per token: eight warps striding over the hidden channels.
const THREADS_PER_ROW: u32 = 256;

/// The kernel, apart from Burn's prelude (whose `Tensor` and `Float` are not CubeCL's).
mod kernel {
    use cubecl::prelude::*;

    /// `out[t, i] = round(round(x[t, i] / sqrt(mean_i x[t, i]² + eps)) · weight[i])`, as
    /// Hugging Face's `LlamaRMSNorm` and the crate's `RmsNorm`: the mean square and the
    /// division in f32, the normalised value rounded to `F` before the gain. One cube per
    /// token; the sum of squares is reduced within each plane, then across planes through
    /// shared memory. `x` may have any strides; `out` is contiguous `[tokens, hidden]`.
    #[cube(launch)]
    pub(super) fn rms_norm_kernel<F: Float>(
        x: &Tensor<F>,
        weight: &Tensor<F>,
        out: &mut Tensor<F>,
        eps: f32,
        #[define(F)] _dtype: StorageType,
    ) {
        let hidden = out.shape(2);
        let t = CUBE_POS_X as usize;
        let row = t * x.stride(1);
        let step = CUBE_DIM_X as usize;
        let planes = (CUBE_DIM_X / PLANE_DIM) as usize;
        let mut partial = SharedMemory::<f32>::new(32usize);

        let mut local = 0.0f32;
        let mut i = UNIT_POS_X as usize;
        while i < hidden {
            let v = f32::cast_from(x[row + i * x.stride(2)]);
            local += v * v;
            i += step;
        }
        let plane_total = plane_sum(local);
        if UNIT_POS_PLANE == 0 {
            partial[PLANE_POS as usize] = plane_total;
        }
        sync_cube();
        let mut total = 0.0f32;
        for p in 0..planes {
            total += partial[p];
        }
        let rms = (total / f32::cast_from(hidden) + eps).sqrt();

        i = UNIT_POS_X as usize;
        while i < hidden {
            let v = f32::cast_from(x[row + i * x.stride(2)]);
            let normed = f32::cast_from(F::cast_from(v / rms));
            let gain = f32::cast_from(weight[i * weight.stride(0)]);
            out[t * hidden + i] = F::cast_from(normed * gain);
            i += step;
        }
    }
}

/// `x` normalised with gain `weight` through one kernel, when `B` is Burn's CUDA backend, `x`
/// and `weight` share a float dtype and the crate's kernels are on; `None` otherwise (the
/// caller then runs Burn's operations).
///
/// # Shapes
/// - `x`: `[1, len, hidden]`, `weight`: `[hidden]`; returns `[1, len, hidden]`
pub(crate) fn rms_norm<B: Backend>(
    x: &Tensor<B, 3>,
    weight: &Tensor<B, 1>,
    eps: f64,
) -> Option<Tensor<B, 3>> {
    if TypeId::of::<B::FloatTensorPrimitive>() != TypeId::of::<Primitive>() {
        return None;
    }
    let [batch, len, hidden] = x.dims();
    let dtype = x.dtype();
    let fits = batch == 1
        && len > 0
        && hidden > 0
        && weight.dims() == [hidden]
        && weight.dtype() == dtype
        && matches!(dtype, DType::BF16 | DType::F16 | DType::F32);
    if !fits || !super::own_kernels_enabled() {
        return None;
    }
    let inputs = vec![fusion_primitive(x)?, fusion_primitive(weight)?];
    let out = (Shape::new([1, len, hidden]), dtype);
    let eps = eps as f32;
    let out = register_custom("mss_rms_norm", inputs, &[out], |desc| RmsNormOp {
        desc,
        eps,
    })
    .pop()?;
    float_tensor(out)
}

/// The registered operation: inputs `x` and `weight`, output the normalised `x`, contiguous.
#[derive(Debug)]
struct RmsNormOp {
    desc: CustomOpIr,
    eps: f32,
}

impl Operation<FusionCuda> for RmsNormOp {
    fn execute(&self, handles: &mut HandleContainer<<FusionCuda as FusionRuntime>::FusionHandle>) {
        let inputs = &self.desc.inputs;
        let [x, weight] = [0, 1].map(|i| handles.get_float_tensor::<Inner>(&inputs[i]));
        let out = launch(x, weight, self.eps);
        handles.register_float_tensor::<Inner>(&self.desc.outputs[0].id, out);
    }
}

/// Allocates the output and queues the kernel.
fn launch(
    x: CubeTensor<CudaRuntime>,
    weight: CubeTensor<CudaRuntime>,
    eps: f32,
) -> CubeTensor<CudaRuntime> {
    let shape = x.meta.shape().clone();
    let out =
        empty_device_contiguous_dtype(x.client.clone(), x.device.clone(), shape.clone(), x.dtype);
    let tokens = u32::try_from(shape[1]).expect("fewer than 2^32 tokens");
    let dtype = x.dtype;
    rms_norm_kernel::launch::<CudaRuntime>(
        &x.client.clone(),
        CubeCount::Static(tokens, 1, 1),
        CubeDim::new_1d(THREADS_PER_ROW),
        x.into_tensor_arg(),
        weight.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        eps,
        dtype.into(),
    );
    out
}
