//! No compression: full attention over the whole prompt (the "full attention" line of every
//! comparison).

use burn::prelude::*;
use mss_core::prune::keep_all;
use mss_core::{AttentionNeeds, PruneInput, Pruner};

/// Keeps every candidate whatever the budget ([`crate::MemoryPolicy::Everything`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCompress;

impl<B: Backend> Pruner<B> for NoCompress {
    fn name(&self) -> &str {
        "no_compress"
    }

    fn needs(&self) -> AttentionNeeds {
        AttentionNeeds::NONE
    }

    fn prune(&mut self, input: PruneInput<'_, B>) -> Tensor<B, 2, Int> {
        keep_all(&input)
    }
}
