//! Local window: no memory at all; every chunk attends to itself only (the seed's
//! `local_window`, a lower bound for every memory).

use burn::prelude::*;
use mss_core::{AttentionNeeds, PruneInput, Pruner};

/// Keeps nothing. The prefill loop also keeps no sinks for it ([`crate::MemoryPolicy::Nothing`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalWindow;

impl<B: Backend> Pruner<B> for LocalWindow {
    fn name(&self) -> &str {
        "local_window"
    }

    fn needs(&self) -> AttentionNeeds {
        AttentionNeeds::NONE
    }

    fn prune(&mut self, input: PruneInput<'_, B>) -> Tensor<B, 2, Int> {
        Tensor::zeros([input.n_kv_heads(), 0], &input.candidates.keys.device())
    }
}
