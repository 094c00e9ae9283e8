//! The SwiGLU feed-forward block.

use burn::prelude::*;
use burn::tensor::activation::silu;

use crate::linear::{Linear, project};

/// `down(silu(gate(x)) * up(x))`, named as in Hugging Face checkpoints.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// Gate projection.
    pub gate_proj: Linear<B>,
    /// Up projection.
    pub up_proj: Linear<B>,
    /// Down projection.
    pub down_proj: Linear<B>,
}

impl<B: Backend> Mlp<B> {
    /// Applies the block.
    ///
    /// # Shapes
    /// - `x`: `[1, len, hidden]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [gate, up] = project(x, [&self.gate_proj, &self.up_proj]);
        self.down_proj.forward(silu(gate).mul(up))
    }
}
