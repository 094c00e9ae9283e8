//! Watching a prefill from outside: what a probe sees each time a layer's memory is rewritten.

use std::ops::Range;

use burn::prelude::*;

use crate::{AttentionNeeds, AttentionStats};

/// One layer's memory rewrite at one step, as a probe sees it. Positions are document positions
/// (exact under every schedule, decremental chunks included).
///
/// An empty memory is `None`, not a zero-length tensor: CUDA refuses to launch the kernels
/// of zero-size tensors.
///
/// # Shapes
/// - `before`: `[n_kv_heads, m_before]`, the memory the chunk attended to (sinks included)
/// - `after`: `[n_kv_heads, m_after]`, the memory kept for the next chunk (sinks included)
/// - statistics: `[n_kv_heads, m_before + chunk_len]`, over the keys `[before; chunk]`
#[derive(Debug)]
pub struct MemoryEvent<'a, B: Backend> {
    /// Chunk step.
    pub step: usize,
    /// Layer.
    pub layer: usize,
    /// The chunk's tokens in the prompt.
    pub chunk: Range<usize>,
    /// Number of sink entries (at the front of both memories).
    pub sinks: usize,
    /// Number of KV heads.
    pub n_kv_heads: usize,
    /// Positions of the memory before the step (`None`: empty).
    pub before: Option<Tensor<B, 2, Int>>,
    /// Positions of the memory after the step (`None`: empty).
    pub after: Option<Tensor<B, 2, Int>>,
    /// The chunk's attention statistics over `[before; chunk]` (what the observer and the
    /// pruner asked for).
    pub stats: &'a AttentionStats<B>,
}

impl<B: Backend> MemoryEvent<'_, B> {
    /// Entries per KV head in the memory before the step.
    pub fn before_len(&self) -> usize {
        self.before.as_ref().map_or(0, |t| t.dims()[1])
    }

    /// Entries per KV head in the memory after the step.
    pub fn after_len(&self) -> usize {
        self.after.as_ref().map_or(0, |t| t.dims()[1])
    }
}

/// Observes a prefill. Installed in the facade's `Prefiller`; models and pruners never see it,
/// and without an observer nothing is computed for it.
pub trait MemoryObserver<B: Backend> {
    /// The attention statistics the observer needs (computed in addition to the pruner's).
    fn needs(&self) -> AttentionNeeds {
        AttentionNeeds::NONE
    }

    /// A new prefill begins.
    fn start(&mut self, _prompt_len: usize, _n_layers: usize) {}

    /// A layer's memory was rewritten.
    fn on_memory(&mut self, event: &MemoryEvent<'_, B>);
}
