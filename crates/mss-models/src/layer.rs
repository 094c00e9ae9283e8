//! One pre-norm decoder layer.

use burn::prelude::*;
use mss_core::{AttentionNeeds, CoreError, LayerMemory};

use crate::attention::{Attention, LayerOutput, StepContext};
use crate::mlp::Mlp;
use crate::norm::RmsNorm;

/// `x + attn(norm(x))`, then `+ mlp(norm(·))`.
#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend> {
    /// Norm before attention.
    pub input_layernorm: RmsNorm<B>,
    /// Self-attention.
    pub self_attn: Attention<B>,
    /// Norm before the feed-forward block.
    pub post_attention_layernorm: RmsNorm<B>,
    /// Feed-forward block.
    pub mlp: Mlp<B>,
}

impl<B: Backend> DecoderLayer<B> {
    pub(crate) fn forward(
        &self,
        x: Tensor<B, 3>,
        step: &StepContext<B>,
        memory: Option<LayerMemory<B>>,
        needs: AttentionNeeds,
        query_block: usize,
    ) -> Result<LayerOutput<B>, CoreError> {
        let (attn, entries, stats) = self.self_attn.forward(
            self.input_layernorm.forward(x.clone()),
            step,
            memory,
            needs,
            query_block,
        )?;
        let x = x.add(attn);
        let x = x
            .clone()
            .add(self.mlp.forward(self.post_attention_layernorm.forward(x)));
        Ok((x, entries, stats))
    }
}
