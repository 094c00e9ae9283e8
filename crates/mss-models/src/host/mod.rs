//! The host path: the chunked forward pass of an f32 model on Burn's Flex (CPU) backend,
//! computed by the project's own kernels over the tensors' host storage.
//!
//! Burn's generic path runs each operation as its own pass over memory, with an allocation
//! each, and materialises the attention probabilities; on two CPU cores that made a prefill
//! 7–13× slower than PyTorch (docs/results/cpu-speed.md). Here the weights are borrowed from
//! the Flex tensors (no copy), matrix products go straight to the `gemm` crate on row-major
//! activations, element-wise work (RMSNorm, RoPE, SwiGLU, residual adds) runs in fused
//! vectorised loops, and attention is one blocked pass over `[memory; chunk]` with native GQA
//! that also yields the pruners' statistics. Everything the hook sees — memory in, entries and
//! statistics out — is an ordinary Burn tensor, so pruners and probes are unchanged.
//!
//! The path is taken when every weight is an f32 Flex tensor and the model allows it
//! ([`Transformer::with_host_kernels`](crate::Transformer::with_host_kernels)); any other
//! backend or dtype runs the generic Burn path.

mod attention;
mod forward;
mod gemm;
mod head;
mod rope;
mod simd;
mod weights;

pub(crate) use forward::{forward_chunk, forward_chunk_nll};
pub(crate) use rope::RopeCache;
pub(crate) use weights::{HostWeights, fuse_projections};
