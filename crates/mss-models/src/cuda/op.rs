//! A linear layer's product as a custom operation of Burn's fusion stream, run by cuBLAS.
#![allow(unsafe_code)]

use std::any::{Any, TypeId};

use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn_cubecl::CubeBackend;
use burn_cubecl::fusion::FusionCubeRuntime;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_fusion::stream::{Operation, OperationStreams};
use burn_fusion::{FusionRuntime, FusionTensor};
use burn_ir::{CustomOpIr, HandleContainer, OperationIr, OperationOutput, TensorIr};
use cubecl::Runtime;
use cubecl::cuda::CudaRuntime;
use cubecl::device::Device;
use cubecl::device_handle::DeviceHandle;
use cubecl::server::ComputeServer;
use cubecl::stream_id::StreamId;

use super::gemm::{Gemm, Precision};
use super::operand::Operand;

/// Burn's CUDA backend is fusion over this one; the custom operation unwraps to it.
type Inner = CubeBackend<CudaRuntime, f32, i32, u8>;
type FusionCuda = FusionCubeRuntime<CudaRuntime>;
type Primitive = FusionTensor<FusionCuda>;

/// `x W` through cuBLAS when `B` is Burn's CUDA backend, cuBLAS is available, both are bf16,
/// f16 or f32 alike and no dimension is empty; `None` otherwise (the caller then runs Burn's
/// product).
///
/// # Shapes
/// - `x`: `[1, m, k]`, `weight`: `[k, n]`, returns `[1, m, n]`
pub(crate) fn product<B: Backend>(x: &Tensor<B, 3>, weight: &Tensor<B, 2>) -> Option<Tensor<B, 3>> {
    if TypeId::of::<B::FloatTensorPrimitive>() != TypeId::of::<Primitive>() {
        return None;
    }
    let ([batch, m, k], [k_w, n]) = (x.dims(), weight.dims());
    let dtype = x.dtype();
    if batch != 1 || k != k_w || m * n * k == 0 || weight.dtype() != dtype {
        return None;
    }
    Precision::of(dtype)?;
    if !super::cublas_available() {
        return None;
    }
    let x = fusion_primitive(x)?;
    let weight = fusion_primitive(weight)?;
    let client = x.client.clone();
    let streams = OperationStreams::with_inputs([&x, &weight]);
    let out = TensorIr::uninit(client.create_empty_handle(), Shape::new([1, m, n]), dtype);
    let desc = CustomOpIr::new(
        "mss_cublas_linear",
        &[x.into_ir(), weight.into_ir()],
        &[out],
    );
    let y = client
        .register(
            streams,
            OperationIr::Custom(desc.clone()),
            CublasLinear { desc },
        )
        .output();
    let y: Box<dyn Any> = Box::new(y);
    let y = *y.downcast::<B::FloatTensorPrimitive>().ok()?;
    Some(Tensor::from_primitive(TensorPrimitive::Float(y)))
}

/// The fusion primitive of a tensor of Burn's CUDA backend.
fn fusion_primitive<B: Backend, const D: usize>(tensor: &Tensor<B, D>) -> Option<Primitive> {
    let primitive: Box<dyn Any> = Box::new(tensor.clone().into_primitive().tensor());
    primitive.downcast::<Primitive>().ok().map(|p| *p)
}

/// The registered operation: inputs `x` (`[1, m, k]`) and `W` (`[k, n]`), output `[1, m, n]`.
#[derive(Debug)]
struct CublasLinear {
    desc: CustomOpIr,
}

impl Operation<FusionCuda> for CublasLinear {
    fn execute(&self, handles: &mut HandleContainer<<FusionCuda as FusionRuntime>::FusionHandle>) {
        let ([x, weight], [out]) = self.desc.as_fixed::<2, 1>();
        let x = handles.get_float_tensor::<Inner>(x);
        let weight = handles.get_float_tensor::<Inner>(weight);
        handles.register_float_tensor::<Inner>(&out.id, cublas_linear(x, weight));
    }
}

/// A row-major matrix operand of rank 2 (or a batch of one of rank 3), made contiguous when
/// cuBLAS cannot read its strides.
fn operand(tensor: CubeTensor<CudaRuntime>) -> (CubeTensor<CudaRuntime>, Operand) {
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

/// Queues `x W` on CubeCL's CUDA server thread: allocates the output in CubeCL's pool, then,
/// in order after every launch already queued, resolves the three device pointers and runs
/// cuBLAS between two synchronisations. Nothing here waits: the caller goes on queueing work
/// while the server thread waits for the GPU.
fn cublas_linear(
    x: CubeTensor<CudaRuntime>,
    weight: CubeTensor<CudaRuntime>,
) -> CubeTensor<CudaRuntime> {
    let precision = Precision::of(x.dtype).expect("the dtype was checked when registered");
    let (m, k, n) = (x.meta.shape()[1], x.meta.shape()[2], weight.meta.shape()[1]);
    let (x, x_operand) = operand(x);
    let (weight, w_operand) = operand(weight);
    let out = empty_device_contiguous_dtype(
        x.client.clone(),
        x.device.clone(),
        Shape::new([1, m, n]),
        x.dtype,
    );
    // The bindings keep the three allocations alive until the task has run, whatever happens
    // to the tensors meanwhile.
    let bindings = [&x, &weight, &out].map(|t| t.handle.clone().binding());
    let stream = StreamId::current();
    // The handle of the server CubeCL's own client talks to (one per device and type).
    let server = DeviceHandle::<<CudaRuntime as Runtime>::Server>::new(x.device.to_id());
    server.submit(move |server| {
        let [x_memory, w_memory, out_memory] =
            bindings.map(|binding| server.get_resource(binding, stream));
        let result = match (x_memory, w_memory, out_memory) {
            (Ok(x_memory), Ok(w_memory), Ok(out_memory)) => {
                let gemm = Gemm {
                    m,
                    n,
                    k,
                    precision,
                    a: (x_memory.resource().ptr, x_operand),
                    b: (w_memory.resource().ptr, w_operand),
                    c: out_memory.resource().ptr,
                };
                // SAFETY: the resources hold the allocations that `Gemm` describes, on this
                // thread where the device's context is current, until after it returns.
                unsafe { gemm.run_synchronised() }
            }
            (x, w, out) => Err(format!(
                "CubeCL could not resolve a product's memory: {:?}",
                [x.err(), w.err(), out.err()]
            )),
        };
        // A task's panic would only be logged by CubeCL, and every later result would be
        // wrong without a word: a failed product stops the process instead.
        if let Err(error) = result {
            eprintln!("mss: a cuBLAS product failed on the GPU: {error}");
            std::process::abort();
        }
    });
    out
}
