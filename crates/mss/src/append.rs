//! Feeding more tokens after a prefill, without pruning: a question after a long context.

use burn::prelude::*;
use mss_core::{ChunkedModel, Logits};

use crate::tokens::check_vocabulary;
use crate::{Prefill, Result};

impl<B: Backend> Prefill<B> {
    /// Feeds `tokens` after everything consumed so far, as one chunk that attends to the whole
    /// memory: their entries are appended and nothing is pruned. They take the next document
    /// positions (their RoPE positions follow the memory's position mode), and
    /// [`next_logits`](Prefill::next_logits) becomes the prediction after the last of them.
    /// Typically a question after a long compressed context, before [`generate`](crate::generate).
    /// Appending nothing changes nothing.
    ///
    /// # Errors
    /// A token id outside the model's vocabulary ([`crate::Error::TokenOutOfVocabulary`]), or the
    /// model's own error.
    pub fn append(&mut self, model: &impl ChunkedModel<B>, tokens: &[u32]) -> Result<()> {
        if tokens.is_empty() {
            return Ok(());
        }
        let vocab_size = model.shape().vocab_size;
        check_vocabulary(tokens, vocab_size)?;
        let ids: Vec<i32> = tokens.iter().map(|&id| id as i32).collect();
        let input = Tensor::<B, 2, Int>::from_data(
            TensorData::new(ids, [1, tokens.len()]),
            &model.device(),
        );
        let positions = self.memory.next_chunk();
        let logits = model.forward_chunk(input, positions, &mut self.memory, Logits::Last)?;
        self.memory.advance(tokens.len());
        self.next_logits = logits.reshape([vocab_size]);
        Ok(())
    }
}
