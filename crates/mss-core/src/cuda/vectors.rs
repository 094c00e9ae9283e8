//! 16-byte reads: whether a kernel can read a tensor as vectors, and a copy for one it cannot.
//!
//! The crate's kernels read bf16 / f16 rows 16 bytes at a time (`Vector<F, N>` of eight). A
//! tensor reads as such vectors when its last axis is unit-strided and every other stride and
//! its offset are whole vectors; a contiguous view at an odd offset does not, and Burn's
//! `into_contiguous` leaves such a view as it is, so [`vector_readable`] copies it. Kernels
//! that index rows as if packed need more ([`packed_vectors`]): Burn allocates some outputs
//! with rows padded to an aligned pitch (SmolLM2's rows of 576 bf16, 1152 bytes, take 1280),
//! which read as vectors but are not packed.

use burn::tensor::DType;
use burn_cubecl::tensor::CubeTensor;
use cubecl::cuda::CudaRuntime;

/// Elements of one 16-byte load of bf16 / f16.
pub const VECTOR: usize = 8;

/// The most elements of `dtype`, at most 16 bytes and a power of two, that divide each of
/// `lengths`: the widest vector a kernel can read rows of those lengths by.
pub fn widest_vector(dtype: DType, lengths: &[usize]) -> usize {
    let widest = 16 / dtype.size();
    [8, 4, 2, 1]
        .into_iter()
        .find(|n| *n <= widest && lengths.iter().all(|len| len.is_multiple_of(*n)))
        .unwrap_or(1)
}

/// Whether `tensor` reads as vectors of `vector` elements along its last axis: unit-strided
/// there, its other strides (of axes longer than one) and its offset whole vectors.
pub fn vectors_aligned(tensor: &CubeTensor<CudaRuntime>, vector: usize) -> bool {
    let (shape, strides) = (tensor.meta.shape(), tensor.meta.strides());
    let Some((last, rest)) = strides.split_last() else {
        return false;
    };
    *last == 1
        && rest
            .iter()
            .zip(shape.iter())
            .all(|(stride, len)| *len == 1 || stride.is_multiple_of(vector))
        && offset_aligned(tensor, vector)
}

/// Whether `tensor` starts at an offset of whole vectors of `vector` elements.
pub fn offset_aligned(tensor: &CubeTensor<CudaRuntime>, vector: usize) -> bool {
    let offset = tensor.handle.offset_start.unwrap_or(0);
    offset.is_multiple_of((vector * tensor.dtype.size()) as u64)
}

/// `tensor`, or a contiguous copy of it when it does not read as vectors of `vector` elements
/// ([`vectors_aligned`]; a fresh allocation always does when its last axis is a whole number of
/// vectors): for kernels that read by strides.
pub fn vector_readable(tensor: CubeTensor<CudaRuntime>, vector: usize) -> CubeTensor<CudaRuntime> {
    if vectors_aligned(&tensor, vector) {
        return tensor;
    }
    contiguous_copy(tensor)
}

/// `tensor`, or a contiguous copy of it when its elements are not packed row after row at an
/// offset of whole vectors of `vector` elements: for kernels that index rows as packed.
pub fn packed_vectors(tensor: CubeTensor<CudaRuntime>, vector: usize) -> CubeTensor<CudaRuntime> {
    // Burn's test: row-major strides (Burn's own `into_contiguous` stops there, whatever the
    // offset).
    if tensor.is_contiguous() && offset_aligned(&tensor, vector) {
        return tensor;
    }
    contiguous_copy(tensor)
}

/// A fresh, packed copy of `tensor`.
fn contiguous_copy(tensor: CubeTensor<CudaRuntime>) -> CubeTensor<CudaRuntime> {
    let (client, device, dtype) = (tensor.client.clone(), tensor.device.clone(), tensor.dtype);
    // cubecl's copy always allocates, whatever the strides (Burn's returns a contiguous view at
    // any offset as it is).
    let output = cubecl::std::tensor::into_contiguous(&client, tensor.binding(), dtype.into());
    CubeTensor::new(client, output.handle, *output.metadata, device, dtype)
}
