//! StreamingLLM: the attention sinks plus the most recent entries.
//!
//! Xiao et al., *Efficient Streaming Language Models with Attention Sinks*, ICLR 2024,
//! <https://arxiv.org/abs/2309.17453>. The sinks are kept by the prefill loop; among the other
//! candidates the latest `budget` survive, the same on every head. Needs no attention scores.

use burn::prelude::*;
use mss_core::{AttentionNeeds, PruneInput, Pruner};

use crate::positional::{End, keep_end};

/// The StreamingLLM pruner: keeps the newest candidates.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamingLlm;

impl<B: Backend> Pruner<B> for StreamingLlm {
    fn name(&self) -> &str {
        "streaming_llm"
    }

    fn needs(&self) -> AttentionNeeds {
        AttentionNeeds::NONE
    }

    fn prune(&mut self, input: PruneInput<'_, B>) -> Tensor<B, 2, Int> {
        keep_end(&input, End::Newest)
    }

    fn positional(&self) -> bool {
        true
    }
}

/// The StreamingLLM pruner.
pub fn streaming_llm() -> StreamingLlm {
    StreamingLlm
}
