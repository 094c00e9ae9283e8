//! Linear layers' products as custom operations of Burn's fusion stream, run by cuBLAS.
#![allow(unsafe_code)]

use std::any::TypeId;

use burn::prelude::*;
use burn::tensor::DType;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_fusion::FusionRuntime;
use burn_fusion::stream::Operation;
use burn_ir::{CustomOpIr, HandleContainer};
use cubecl::Runtime;
use cubecl::cuda::CudaRuntime;
use cubecl::device::Device;
use cubecl::device_handle::DeviceHandle;
use cubecl::server::{Binding, ComputeServer};
use cubecl::stream_id::StreamId;
use cudarc::driver::sys::CUstream;
use mss_core::cuda::{
    FusionCuda, Inner, Primitive, float_tensor, fusion_primitive, register_custom,
};

use super::cublas_lane::run_ordered;
use super::gemm::{Gemm, Precision};
use super::operand::Operand;

/// `x W_i` for each weight through cuBLAS, as one operation of Burn's fusion stream (one
/// hand-over to cuBLAS for the whole group), when `B` is Burn's CUDA backend, cuBLAS is
/// available, all operands are bf16, f16 or f32 alike and no dimension is empty; `None`
/// otherwise (the caller then runs Burn's products).
///
/// # Shapes
/// - `x`: `[1, m, k]`, `weights[i]`: `[k, n_i]`, returns `[1, m, n_i]` for each
pub(crate) fn products<B: Backend>(
    x: &Tensor<B, 3>,
    weights: &[&Tensor<B, 2>],
) -> Option<Vec<Tensor<B, 3>>> {
    if TypeId::of::<B::FloatTensorPrimitive>() != TypeId::of::<Primitive>() || weights.is_empty() {
        return None;
    }
    let [batch, m, k] = x.dims();
    let dtype = x.dtype();
    let fits = |w: &&Tensor<B, 2>| {
        let [k_w, n] = w.dims();
        k_w == k && n > 0 && w.dtype() == dtype
    };
    if batch != 1 || m * k == 0 || !weights.iter().all(fits) {
        return None;
    }
    Precision::of(dtype)?;
    if !super::cublas_available() {
        return None;
    }
    let x = fusion_primitive(x)?;
    let weights = weights
        .iter()
        .map(|w| fusion_primitive(w))
        .collect::<Option<Vec<_>>>()?;
    let outputs: Vec<(Shape, DType)> = weights
        .iter()
        .map(|w| (Shape::new([1, m, w.shape[1]]), dtype))
        .collect();
    let inputs = std::iter::once(x).chain(weights).collect();
    let ys = register_custom("mss_cublas_linear", inputs, &outputs, |desc| CublasLinear {
        desc,
    });
    ys.into_iter().map(float_tensor).collect()
}

/// The registered operation: inputs `x` (`[1, m, k]`) and the weights `W_i` (`[k, n_i]`),
/// outputs `[1, m, n_i]`.
#[derive(Debug)]
struct CublasLinear {
    desc: CustomOpIr,
}

impl Operation<FusionCuda> for CublasLinear {
    fn execute(&self, handles: &mut HandleContainer<<FusionCuda as FusionRuntime>::FusionHandle>) {
        let (x, weights) = self
            .desc
            .inputs
            .split_first()
            .expect("registered with an input and weights");
        let x = handles.get_float_tensor::<Inner>(x);
        let weights = weights
            .iter()
            .map(|w| handles.get_float_tensor::<Inner>(w))
            .collect();
        for (out, y) in self.desc.outputs.iter().zip(cublas_linear(x, weights)) {
            handles.register_float_tensor::<Inner>(&out.id, y);
        }
    }
}

/// A row-major matrix operand of rank 2 (or a batch of one of rank 3), made contiguous when
/// cuBLAS cannot read its strides.
pub(super) fn operand(tensor: CubeTensor<CudaRuntime>) -> (CubeTensor<CudaRuntime>, Operand) {
    let describe = |t: &CubeTensor<CudaRuntime>| {
        let (shape, strides) = (t.meta.shape(), t.meta.strides());
        let r = shape.len();
        Operand::of(shape[r - 2], shape[r - 1], strides[r - 2], strides[r - 1])
    };
    match describe(&tensor) {
        Some(operand) => (tensor, operand),
        None => {
            let tensor = into_contiguous(tensor);
            let operand = describe(&tensor).expect("a contiguous matrix is a cuBLAS operand");
            (tensor, operand)
        }
    }
}

/// Queues `x W_i` on CubeCL's CUDA server thread: allocates the outputs in CubeCL's pool,
/// then, in order after every launch already queued, resolves the device pointers and queues
/// the products behind CubeCL's kernels (`cublas_lane::run_ordered`). Nothing here waits.
fn cublas_linear(
    x: CubeTensor<CudaRuntime>,
    weights: Vec<CubeTensor<CudaRuntime>>,
) -> Vec<CubeTensor<CudaRuntime>> {
    let precision = Precision::of(x.dtype).expect("the dtype was checked when registered");
    let (m, k) = (x.meta.shape()[1], x.meta.shape()[2]);
    let (x, x_operand) = operand(x);
    let weights: Vec<_> = weights.into_iter().map(operand).collect();
    let outs: Vec<_> = weights
        .iter()
        .map(|(w, _)| {
            empty_device_contiguous_dtype(
                x.client.clone(),
                x.device.clone(),
                Shape::new([1, m, w.meta.shape()[1]]),
                x.dtype,
            )
        })
        .collect();
    let shapes: Vec<(usize, Operand)> = weights
        .iter()
        .map(|(w, o)| (w.meta.shape()[1], *o))
        .collect();
    // The bindings (x, the weights, the outputs) keep the allocations alive until the task has
    // run, whatever happens to the tensors meanwhile.
    let bindings: Vec<_> = std::iter::once(&x)
        .chain(weights.iter().map(|(w, _)| w))
        .chain(&outs)
        .map(|t| t.handle.clone().binding())
        .collect();
    submit_products(&x.device, bindings, move |ptrs| {
        let (x_ptr, rest) = ptrs.split_first().expect("x was resolved first");
        let (w_ptrs, out_ptrs) = rest.split_at(shapes.len());
        shapes
            .iter()
            .zip(w_ptrs.iter().zip(out_ptrs))
            .map(|(&(n, w_operand), (&w_ptr, &out_ptr))| {
                Gemm::single(
                    [m, n, k],
                    precision,
                    (*x_ptr, x_operand),
                    (w_ptr, w_operand),
                    out_ptr,
                )
            })
            .collect()
    });
    outs
}

/// Queues cuBLAS products on CubeCL's CUDA server thread, in order after every launch already
/// queued: builds the products from the device addresses of `bindings` (in their order) and
/// runs them ordered behind CubeCL's kernels (`cublas_lane::run_ordered`): on CubeCL's own stream
/// where it can be found (`cubecl_stream`), else fenced by events. Nothing here waits (but the
/// first product of a stream id, which finds CubeCL's stream).
pub(super) fn submit_products(
    device: &<CudaRuntime as Runtime>::Device,
    bindings: Vec<Binding>,
    products: impl FnOnce(&[u64]) -> Vec<Gemm> + Send + 'static,
) {
    submit_library_work(
        device,
        bindings,
        "a cuBLAS product",
        move |ptrs, cubecl_stream| {
            let gemms = products(ptrs);
            // SAFETY: the addresses are of the resources `submit_library_work` holds, which hold
            // the allocations that the products describe, on this thread where the device's
            // context is current; CubeCL may hand them out again only to work it queues after
            // this task, which the products' ordering puts after them.
            unsafe { run_ordered(&gemms, cubecl_stream) }.map(super::record_ordering)
        },
    );
}

/// Queues `work` of a CUDA library (cuBLAS, cuDNN) on CubeCL's CUDA server thread, in order
/// after every launch already queued: resolves the device addresses of `bindings` (in their
/// order; the resources are held until `work` has queued its launches) and, where the product
/// ordering asks for it, CubeCL's CUDA stream of the current stream id (`cubecl_stream`), and
/// runs `work` with both. Resolving the resources on that stream id made CubeCL order any other
/// stream's work on them before it. A failure of `work` (`what` names it) stops the process: a
/// task's panic would only be logged by CubeCL, and every later result would be wrong without a
/// word.
pub(super) fn submit_library_work(
    device: &<CudaRuntime as Runtime>::Device,
    bindings: Vec<Binding>,
    what: &'static str,
    work: impl FnOnce(&[u64], Option<CUstream>) -> Result<(), String> + Send + 'static,
) {
    let stream = StreamId::current();
    // The handle of the server CubeCL's own client talks to (one per device and type).
    let server = DeviceHandle::<<CudaRuntime as Runtime>::Server>::new(device.to_id());
    server.submit(move |server| {
        let resources = bindings
            .into_iter()
            .map(|binding| server.get_resource(binding, stream))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("CubeCL could not resolve the memory of {what}: {e:?}"));
        let result = resources.and_then(|resources| {
            let ptrs: Vec<u64> = resources.iter().map(|r| r.resource().ptr).collect();
            let cubecl_stream = (super::product_ordering() == super::ProductOrdering::CubeclStream)
                .then(|| super::cubecl_stream::cubecl_stream(server, stream))
                .flatten();
            work(&ptrs, cubecl_stream)
        });
        if let Err(error) = result {
            eprintln!("mss: {what} failed on the GPU: {error}");
            std::process::abort();
        }
    });
}
