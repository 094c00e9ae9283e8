//! One pre-norm decoder layer.

use burn::prelude::*;
use mss_core::{AttentionNeeds, AttentionStats, CoreError, LayerKv, LayerMemory};

use crate::attention::{Attention, StepContext};
use crate::mlp::Mlp;
use crate::norm::RmsNorm;

/// `x + attn(norm(x))`, then `+ mlp(norm(·))`, each residual add left to the norm after it
/// (one kernel with the norm on CUDA: [`RmsNorm::forward_after_add`]).
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
        residual: Residual<B>,
        step: &StepContext<B>,
        memory: Option<LayerMemory<B>>,
        needs: AttentionNeeds,
        query_block: usize,
    ) -> Result<LayerOutput<B>, CoreError> {
        let (x, normed) = residual.add_and_norm(&self.input_layernorm);
        let (attn, entries, stats) =
            self.self_attn
                .forward(normed, step, memory, needs, query_block)?;
        let (x, normed) =
            Residual::with_pending(x, attn).add_and_norm(&self.post_attention_layernorm);
        Ok((
            Residual::with_pending(x, self.mlp.forward(normed)),
            entries,
            stats,
        ))
    }
}

/// What one layer returns: the residual stream after it, the entries `[memory; chunk]` its
/// attention saw (keys before RoPE) and the attention statistics over them.
pub(crate) type LayerOutput<B> = (Residual<B>, LayerKv<B>, AttentionStats<B>);

/// The residual stream between sublayers, `x + pending`: a sublayer's output is added by the
/// norm that reads the stream next, so that on CUDA the add and the norm are one kernel
/// ([`RmsNorm::forward_after_add`]).
///
/// # Shapes
/// - `x`, `pending`: `[1, len, hidden]`
#[derive(Debug)]
pub(crate) struct Residual<B: Backend> {
    x: Tensor<B, 3>,
    pending: Option<Tensor<B, 3>>,
}

impl<B: Backend> Residual<B> {
    /// The stream `x`, nothing pending.
    pub(crate) fn new(x: Tensor<B, 3>) -> Self {
        Self { x, pending: None }
    }

    /// The stream `x + pending`.
    pub(crate) fn with_pending(x: Tensor<B, 3>, pending: Tensor<B, 3>) -> Self {
        Self {
            x,
            pending: Some(pending),
        }
    }

    /// Positions `start..start + len` of the stream.
    pub(crate) fn narrow(self, start: usize, len: usize) -> Self {
        Self {
            x: self.x.narrow(1, start, len),
            pending: self.pending.map(|p| p.narrow(1, start, len)),
        }
    }

    /// The stream with its pending output added, and its norm.
    pub(crate) fn add_and_norm(self, norm: &RmsNorm<B>) -> (Tensor<B, 3>, Tensor<B, 3>) {
        norm.add_and_forward(self.x, self.pending)
    }
}
