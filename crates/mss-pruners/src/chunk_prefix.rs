//! Chunk prefix: keep the oldest entries (the beginning of the prompt), the same on every head.
//! The seed's `chunk_prefix`, which crashed in the original code; here it works.

use burn::prelude::*;
use mss_core::{AttentionNeeds, PruneInput, Pruner};

use crate::positional::{End, keep_end};

/// The chunk-prefix pruner: keeps the oldest candidates.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChunkPrefix;

impl<B: Backend> Pruner<B> for ChunkPrefix {
    fn name(&self) -> &str {
        "chunk_prefix"
    }

    fn needs(&self) -> AttentionNeeds {
        AttentionNeeds::NONE
    }

    fn prune(&mut self, input: PruneInput<'_, B>) -> Tensor<B, 2, Int> {
        keep_end(&input, End::Oldest)
    }

    fn positional(&self) -> bool {
        true
    }
}

/// The chunk-prefix pruner.
pub fn chunk_prefix() -> ChunkPrefix {
    ChunkPrefix
}
