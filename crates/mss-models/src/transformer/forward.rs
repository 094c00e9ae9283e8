//! The chunked forward pass through Burn's operations (every backend and dtype).

use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::module::embedding;
use mss_core::{ChunkHook, ChunkPositions, ChunkedModel, Logits, per_head_range};

use super::Transformer;
use crate::attention::StepContext;
use crate::layer::Residual;
use crate::rope::{RopeTable, inv_freq};

impl<B: Backend> Transformer<B> {
    /// RoPE tables of a chunk of `c` tokens starting at RoPE position `rope_start`.
    fn step_context(
        &self,
        rope_start: usize,
        c: usize,
        document_positions: Tensor<B, 2, Int>,
    ) -> StepContext<B> {
        let config = &self.config;
        let last_position = rope_start + c - 1;
        let inv_freq = inv_freq(
            config.rope_theta,
            config.head_dim,
            config.rope_scaling,
            last_position,
        );
        let device = self.device();
        let rope_positions =
            Tensor::<B, 1, Int>::arange(rope_start as i64..(rope_start + c) as i64, &device);
        let table = RopeTable::new(last_position + 1, &inv_freq, self.dtype(), &device);
        StepContext {
            table,
            rope_positions,
            document_positions,
            rope_start,
            last_position,
            visible_queries: Default::default(),
        }
    }
}

impl<B: Backend> Transformer<B> {
    /// The forward pass through Burn's operations (every backend and dtype).
    pub(super) fn burn_forward_chunk(
        &self,
        tokens: Tensor<B, 2, Int>,
        positions: ChunkPositions,
        hook: &mut dyn ChunkHook<B>,
        logits: Logits,
    ) -> mss_core::Result<Tensor<B, 3>> {
        let c = tokens.dims()[1];
        let document = positions.document_start;
        let document_positions = per_head_range(
            document..document + c,
            self.config.num_key_value_heads,
            &self.device(),
        );
        // Layers may hold memories of different lengths and so start the chunk at different
        // RoPE positions; each distinct start gets its tables once.
        let mut steps: Vec<StepContext<B>> = Vec::new();
        let mut residual = Residual::new(embedding(self.embed_tokens.val(), tokens));
        for (i, layer) in self.layers.iter().enumerate() {
            let memory = hook.memory(i);
            let rope_start = memory
                .as_ref()
                .map_or(positions.rope_start, |m| m.chunk_rope_start);
            let index = match steps.iter().position(|s| s.rope_start == rope_start) {
                Some(index) => index,
                None => {
                    steps.push(self.step_context(rope_start, c, document_positions.clone()));
                    steps.len() - 1
                }
            };
            let keys = memory.as_ref().map_or(0, |m| m.kv.len()) + c;
            let query_block = hook.query_block(i, keys);
            let (next, entries, stats) =
                layer.forward(residual, &steps[index], memory, hook.needs(i), query_block)?;
            hook.record(i, entries, stats);
            residual = next;
        }
        let residual = match logits {
            Logits::All => residual,
            Logits::Last => residual.narrow(c - 1, 1),
        };
        let (_, normed) = residual.add_and_norm(&self.norm);
        Ok(self.lm_head.forward(normed).cast(FloatDType::F32))
    }
}
