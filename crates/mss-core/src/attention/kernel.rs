//! Which attention computes a chunk whose pruner needs no statistics.

use std::sync::atomic::{AtomicU8, Ordering};

/// The attention that computes a chunk whose pruner needs no statistics. With statistics
/// [`attend`](super::attend) always runs the blocked matrix products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttentionKernel {
    /// The fastest fused attention of the backend (the default): on Burn's CUDA backend with
    /// cuBLAS, `mss-models`' own (two cuBLAS products around one softmax kernel, causal blocks
    /// of queries); elsewhere Burn's fused kernel. `mss_core::attention::attend` alone, which
    /// knows no backend, runs Burn's.
    #[default]
    Fused,
    /// Burn's fused attention kernel on every backend.
    Burn,
    /// Blocks of queries through two matrix products and a softmax, as with statistics. On
    /// Burn 0.21's CUDA backend the fused kernel's autotuner can settle on a kernel without
    /// tensor cores for long chunks (docs/results/gpu-prefill.md); this is the way around it.
    Blocked,
}

static KERNEL: AtomicU8 = AtomicU8::new(0);

/// Chooses the attention for chunks without statistics, for the whole process (to compare the
/// two; both compute the same function).
pub fn use_attention_kernel(kernel: AttentionKernel) {
    KERNEL.store(kernel as u8, Ordering::Relaxed);
}

/// The attention chosen by [`use_attention_kernel`].
pub fn attention_kernel() -> AttentionKernel {
    match KERNEL.load(Ordering::Relaxed) {
        1 => AttentionKernel::Burn,
        2 => AttentionKernel::Blocked,
        _ => AttentionKernel::Fused,
    }
}
