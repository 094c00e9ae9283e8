//! The CUDA path's linear layers through cuBLAS (feature `cuda`; only the pure operand
//! description is compiled without it).
//!
//! Burn 0.21's CubeCL matrix product reached about 184 TFLOP/s on a 4096³ bf16 product on an
//! H200, where cuBLAS reaches about 780 (docs/results/gpu-prefill.md): the linear layers of a
//! 7B-shaped chunk took ~72 ms instead of ~17 ms. On Burn's CUDA backend (`Fusion` over
//! `CubeBackend<CudaRuntime>`) a [`Linear`](crate::Linear) therefore hands its product to cuBLAS
//! as a fusion custom operation (`op::product`), when cuBLAS can be loaded and the operands are
//! bf16 or f32; any other backend, dtype or shape, or a missing `libcublas`, runs Burn's own
//! matrix product as before.
//!
//! CubeCL 0.10 keeps its CUDA stream private, so the product cannot be queued behind CubeCL's
//! kernels on that stream. It is queued as a task on CubeCL's CUDA server thread instead, which
//! runs tasks in order: by then every earlier kernel is launched; the task synchronises the
//! context, runs cuBLAS and waits for it before the thread launches anything later. The caller
//! never waits; the GPU idles only for the two hand-overs (`gemm::Gemm::run_synchronised`).

#[cfg(feature = "cuda")]
mod gemm;
#[cfg(feature = "cuda")]
mod op;
mod operand;

#[cfg(feature = "cuda")]
use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(feature = "cuda")]
pub(crate) use op::product;

#[cfg(feature = "cuda")]
static CUBLAS_ENABLED: AtomicBool = AtomicBool::new(true);

#[cfg(feature = "cuda")]
/// Whether linear layers on the CUDA backend use cuBLAS (the default) or Burn's own matrix
/// product, for every model in the process. Both compute the same function; the switch exists
/// to compare the two.
pub fn use_cublas(enabled: bool) {
    CUBLAS_ENABLED.store(enabled, Ordering::Relaxed);
}

#[cfg(feature = "cuda")]
/// Whether linear layers on the CUDA backend may use cuBLAS: switched on, and the library
/// found (looked for once per process).
pub fn cublas_available() -> bool {
    CUBLAS_ENABLED.load(Ordering::Relaxed) && gemm::library_present()
}
