//! The plumbing by which `mss` crates add their own CUDA kernels to Burn's CUDA backend
//! (feature `cuda`): a kernel becomes a custom operation of Burn's fusion stream, queued in
//! order with Burn's own work, over the backend's device buffers.
//!
//! Burn's CUDA backend is `Fusion` over `CubeBackend<CudaRuntime>`: its tensor primitives
//! are [`Primitive`]s whose buffers only exist once the stream runs. A crate registers an
//! operation over them ([`register_custom`]); when the stream reaches it, the operation's
//! `execute` reads its inputs as [`Inner`] tensors and registers its outputs. Models
//! (`mss-models`: cuBLAS products, RoPE, attention) and pruners (`mss-pruners`: top-k) share
//! this module, so neither depends on the other. It also holds what both kinds of kernels read
//! with ([`vectors`], [`Strides`]) and the one kernel of the KV cache itself, pruning's gather
//! ([`gather_rows`], [`keep_rows`]).

mod gather;
mod strides;
pub mod vectors;

pub use gather::{
    gather_kernel_launches, gather_rows, keep_rows, kv_kernels_enabled, use_kv_kernels,
};
pub use strides::{Strides, StridesLaunch};

use std::any::{Any, TypeId};

use burn::prelude::*;
use burn::tensor::{DType, TensorPrimitive};
use burn_cubecl::CubeBackend;
use burn_cubecl::fusion::FusionCubeRuntime;
use burn_fusion::FusionTensor;
use burn_fusion::stream::{Operation, OperationStreams};
use burn_ir::{CustomOpIr, OperationIr, TensorIr};
use cubecl::cuda::CudaRuntime;

/// The backend under Burn's CUDA fusion: what a custom operation's `execute` reads and writes.
pub type Inner = CubeBackend<CudaRuntime, f32, i32, u8>;
/// The fusion runtime of Burn's CUDA backend.
pub type FusionCuda = FusionCubeRuntime<CudaRuntime>;
/// A tensor primitive (float, int or bool) of Burn's CUDA backend.
pub type Primitive = FusionTensor<FusionCuda>;

/// Whether `B` is Burn's CUDA backend (its float and int primitives are [`Primitive`]s).
pub fn is_cuda<B: Backend>() -> bool {
    TypeId::of::<B::FloatTensorPrimitive>() == TypeId::of::<Primitive>()
        && TypeId::of::<B::IntTensorPrimitive>() == TypeId::of::<Primitive>()
}

/// The fusion primitive of a float tensor of Burn's CUDA backend; `None` for any other
/// backend's.
pub fn fusion_primitive<B: Backend, const D: usize>(tensor: &Tensor<B, D>) -> Option<Primitive> {
    as_fusion(tensor.clone().into_primitive().tensor())
}

/// A primitive of Burn's CUDA backend (float or int) as the fusion primitive it is; `None` for
/// any other backend's.
pub fn as_fusion<T: 'static>(primitive: T) -> Option<Primitive> {
    let primitive: Box<dyn Any> = Box::new(primitive);
    primitive.downcast::<Primitive>().ok().map(|p| *p)
}

/// Registers a custom operation of Burn's fusion stream over `inputs`, with outputs of these
/// shapes and dtypes; `operation` builds it from its description. Returns the outputs (none
/// without inputs).
pub fn register_custom<O: Operation<FusionCuda> + 'static>(
    name: &'static str,
    inputs: Vec<Primitive>,
    outputs: &[(Shape, DType)],
    operation: impl FnOnce(CustomOpIr) -> O,
) -> Vec<Primitive> {
    let Some(client) = inputs.first().map(|t| t.client.clone()) else {
        return Vec::new();
    };
    let streams = OperationStreams::with_inputs(&inputs);
    let outputs: Vec<TensorIr> = outputs
        .iter()
        .map(|(shape, dtype)| TensorIr::uninit(client.create_empty_handle(), shape.clone(), *dtype))
        .collect();
    let inputs: Vec<TensorIr> = inputs.into_iter().map(|t| t.into_ir()).collect();
    let desc = CustomOpIr::new(name, &inputs, &outputs);
    client.register(streams, OperationIr::Custom(desc.clone()), operation(desc))
}

/// A float tensor of `B` from a custom operation's output; `None` unless `B` is Burn's CUDA
/// backend.
pub fn float_tensor<B: Backend, const D: usize>(output: Primitive) -> Option<Tensor<B, D>> {
    let output: Box<dyn Any> = Box::new(output);
    let output = *output.downcast::<B::FloatTensorPrimitive>().ok()?;
    Some(Tensor::from_primitive(TensorPrimitive::Float(output)))
}

/// An int tensor of `B` from a custom operation's output; `None` unless `B` is Burn's CUDA
/// backend.
pub fn int_tensor<B: Backend, const D: usize>(output: Primitive) -> Option<Tensor<B, D, Int>> {
    let output: Box<dyn Any> = Box::new(output);
    let output = *output.downcast::<B::IntTensorPrimitive>().ok()?;
    Some(Tensor::from_primitive(output))
}
